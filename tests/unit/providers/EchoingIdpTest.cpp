// An identity provider that answers an error with the request it received (form body and
// Authorization header) quoted back, run against the real client_credentials script: the error
// that reaches the token engine holds no spelling of the client secret, whichever part of the
// answer carries the echo, and whatever length the echo has. The expected spellings were made with
// Python's urllib.parse and base64 modules, not with the code under test.
#include "ProviderTestSupport.h"
#include "gw/common/SecretRegistry.h"

using namespace gw::providers::test;

namespace {

const std::string kEndpoint = "https://idp.example.test/oauth2/token";
// '+', '/', a space, '~', '"', '\', a non-ASCII letter and '*': every encoding differs from the value.
const std::string kSecret = "Echo+unit/ secret~\"9\\\xC3\xA9*-zz";
// quote_plus(kSecret, safe=''): the client_secret of a client_secret_post form body.
const std::string kFormSecret = "Echo%2Bunit%2F+secret~%229%5C%C3%A9%2A-zz";
// base64("gw:" + kFormSecret): the credential of client_secret_basic.
const std::string kBasic = "Z3c6RWNobyUyQnVuaXQlMkYrc2VjcmV0fiUyMjklNUMlQzMlQTklMkEteno=";

std::string Config(const std::string& method) {
  return "{\"TokenEndpoint\":" + Quote(kEndpoint) + ",\"ClientId\":\"gw\",\"ClientAuthMethod\":" + Quote(method) +
         ",\"ClientSecret\":" + Quote(kSecret) + "}";
}

// The request as a careless IdP quotes it: body and Authorization header, exactly as received.
std::string Echo(const gw::http::HttpRequest& request, size_t padding) {
  std::string authorization = "(none)";
  for (const auto& [name, value] : request.headers) {
    if (name == "Authorization") authorization = value;
  }
  return std::string(padding, '.') + "rejected body=" + request.body + " authorization=" + authorization;
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Registered as the plugin registers every configuration secret at start (config::CollectSecrets),
// unregistered at the end with the Basic credential the script registered.
struct RegisteredSecret {
  RegisteredSecret() { gw::SecretRegistry::Add(kSecret); }
  ~RegisteredSecret() {
    gw::SecretRegistry::Remove(kSecret);
    gw::SecretRegistry::Remove("gw:" + kFormSecret);
    gw::SecretRegistry::Remove(kFormSecret);
  }
};

}  // namespace

TEST_CASE("Hardening: an IdP that echoes the request does not leak the client secret", "[providers]") {
  const RegisteredSecret registered;
  ProviderRig rig;
  struct Mode {
    const char* name;
    long status;
    size_t padding;  // bytes before the echo: 190 puts the 200-byte cut inside the echoed secret
    bool json;
    bool inCode;
    std::string code;
  };
  const std::vector<Mode> modes = {
      {"in error_description", 401, 0, true, false, "AUTH-001"},
      {"in error_description, cut inside the secret", 401, 190, true, false, "AUTH-001"},
      {"in error_description, cut inside the Basic credential", 401, 180, true, false, "AUTH-001"},
      {"in the error code", 400, 0, true, true, "AUTH-002"},
      {"as a text body", 400, 0, false, false, "AUTH-002"},
  };
  for (const char* method : {"client_secret_post", "client_secret_basic"}) {
    for (const Mode& mode : modes) {
      INFO(method << ": echo " << mode.name);
      rig.Http().respond = [&mode](const gw::http::HttpRequest& request) -> gw::Result<gw::http::HttpResponse> {
        const std::string echo = Echo(request, mode.padding);
        if (!mode.json) return Response(mode.status, echo, {{"content-type", "text/plain"}});
        if (mode.inCode) return JsonResponse(mode.status, "{\"error\":" + Quote(echo) + "}");
        return JsonResponse(mode.status,
                            "{\"error\":\"invalid_client\",\"error_description\":" + Quote(echo) + "}");
      };
      auto r = rig.Acquire(Config(method));
      rig.RequireBalanced();
      // The echo really carried the credential in its encoded form.
      const gw::http::HttpRequest sent = rig.Http().Last();
      if (std::string(method) == "client_secret_post") {
        REQUIRE(Contains(sent.body, "client_secret=" + kFormSecret));
      } else {
        bool basic = false;
        for (const auto& [name, value] : sent.headers) basic = basic || value == "Basic " + kBasic;
        REQUIRE(basic);
      }
      REQUIRE_FALSE(r.Ok());
      const std::string& message = r.GetError().message;
      CHECK(r.GetError().code == mode.code);
      for (const std::string& form : {kSecret, kFormSecret, kBasic, std::string("gw:") + kFormSecret}) {
        CHECK_FALSE(Contains(message, form));
      }
      // No prefix of an encoded credential survives a cut either (12 bytes is far below any form).
      CHECK_FALSE(Contains(message, kFormSecret.substr(0, 12)));
      CHECK_FALSE(Contains(message, kBasic.substr(0, 12)));
      CHECK(message.size() < 400);
      if (mode.json && !mode.inCode) {
        CHECK(Contains(message, "error=invalid_client"));
        if (mode.padding == 0) CHECK(Contains(message, "***"));
      }
      if (mode.inCode) {
        CHECK(Contains(message, "error code not shown"));
        CHECK_FALSE(Contains(message, "rejected body"));
      }
      if (!mode.json) CHECK_FALSE(Contains(message, "rejected body"));
      for (unsigned char c : message) CHECK((c >= 0x20 && c < 0x7f));  // printable only
    }
  }
}

TEST_CASE("Hardening: an IdP error code outside the RFC 6749 grammar is not quoted", "[providers]") {
  ProviderRig rig;
  const std::string config = "{\"TokenEndpoint\":" + Quote(kEndpoint) +
                             ",\"ClientId\":\"gw\",\"ClientSecret\":\"grammar-secret-77\"}";
  struct Case {
    std::string error;
    bool shown;
  };
  const std::vector<Case> cases = {
      {"invalid_client", true},
      {"custom error with spaces", true},                 // NQSCHAR allows a space
      {"quote\"inside", false},                           // '"' is not NQSCHAR
      {"back\\slash", false},                             // nor '\'
      {"line\nbreak", false},                             // nor control characters
      {"caf\xC3\xA9", false},                             // nor non-ASCII
      {std::string(65, 'e'), false},                      // longer than any code
      {"", false},
  };
  for (const Case& c : cases) {
    INFO(c.error);
    rig.Http().Answer(400, "{\"error\":" + Quote(c.error) + ",\"error_description\":\"d\\u0001e\\u00e9f\"}");
    auto r = rig.Acquire(config);
    REQUIRE_FALSE(r.Ok());
    const std::string& message = r.GetError().message;
    CHECK(Contains(message, "error=" + c.error) == (c.shown && !c.error.empty()));
    if (!c.shown && !c.error.empty()) CHECK(Contains(message, "error code not shown"));
    CHECK(Contains(message, "(d?e??f)"));  // control and non-ASCII bytes of the description as '?'
  }
  rig.RequireBalanced();
}
