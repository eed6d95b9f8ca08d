// acquire() of lua/providers/aws_sigv4.lua: the credential chain (configuration, environment, web
// identity through STS, container endpoint, IMDSv2), run in the real script engine against a
// recording fake HTTP client that answers like the AWS services (documented shapes).
#include "AwsTestSupport.h"

using namespace gw::providers::test;
using gw::http::HttpRequest;
using gw::http::HttpResponse;

namespace {

HttpResponse Answer(long status, std::string body, std::string type = "application/json") {
  return Response(status, std::move(body), {{"content-type", std::move(type)}});
}

// An ISO 8601 UTC time `seconds` from now, as AWS writes Expiration.
std::string IsoIn(int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(UnixNow() + seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The credentials inside the access_token the provider returns.
rapidjson::Document CredentialsOf(const rapidjson::Document& result) {
  REQUIRE(result.IsObject());
  REQUIRE(result.HasMember("access_token"));
  rapidjson::Document creds;
  creds.Parse(result["access_token"].GetString());
  REQUIRE_FALSE(creds.HasParseError());
  return creds;
}

std::string RoleCredentialsJson(const std::string& expiration) {
  return R"({"Code":"Success","LastUpdated":"2026-11-22T10:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAROLE",)"
         R"("SecretAccessKey":"role-secret","Token":"role-session","Expiration":")" + expiration + "\"}";
}

}  // namespace

TEST_CASE("AwsCredentials/configuration and environment", "[aws][credentials]") {
  SECTION("configuration keys come first, with a long lifetime") {
    AwsEnv env({{"AWS_ACCESS_KEY_ID", "AKIAENV"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"}});
    AwsRig rig;
    auto out = rig.Acquire(R"({"Region":"us-east-1","AccessKeyId":"AKIACONFIG","SecretAccessKey":"cfg-secret","SessionToken":"cfg-session"})");
    REQUIRE(out.Ok());
    auto creds = CredentialsOf(out.Value());
    CHECK(std::string(creds["AccessKeyId"].GetString()) == "AKIACONFIG");
    CHECK(std::string(creds["SecretAccessKey"].GetString()) == "cfg-secret");
    CHECK(std::string(creds["SessionToken"].GetString()) == "cfg-session");
    CHECK(std::string(creds["Source"].GetString()) == "config");
    CHECK(out.Value()["expires_in"].GetInt() == 12 * 3600);
    CHECK(rig.Http().Count() == 0);
    rig.RequireBalanced();
  }

  SECTION("half a key pair in the configuration is an error, not a fall-through") {
    AwsEnv env({{"AWS_ACCESS_KEY_ID", "AKIAENV"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"}});
    AwsRig rig;
    auto out = rig.Acquire(R"({"Region":"us-east-1","AccessKeyId":"AKIACONFIG"})");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "CFG-001");
  }

  SECTION("environment keys") {
    AwsEnv env({{"AWS_ACCESS_KEY_ID", "AKIAENV"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"},
                {"AWS_SESSION_TOKEN", "env-session"}});
    AwsRig rig;
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    REQUIRE(out.Ok());
    auto creds = CredentialsOf(out.Value());
    CHECK(std::string(creds["AccessKeyId"].GetString()) == "AKIAENV");
    CHECK(std::string(creds["SessionToken"].GetString()) == "env-session");
    CHECK(std::string(creds["Source"].GetString()) == "environment");
    CHECK(out.Value()["expires_in"].GetInt() == 3600);
    CHECK(rig.Http().Count() == 0);
  }
}

TEST_CASE("AwsCredentials/web identity (STS AssumeRoleWithWebIdentity)", "[aws][credentials]") {
  AwsEnv env;
  AwsRig rig;
  const std::string tokenFile = rig.Write("token", "eyJ.projected.jwt\n");
  ::setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile.c_str(), 1);
  ::setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/orthanc", 1);
  ::setenv("AWS_ROLE_SESSION_NAME", "orthanc-a", 1);
  ::setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9/sts/", 1);
  // IMDS and container variables set too: web identity comes before them.
  ::setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x", 1);

  SECTION("success: form POST, XML answer, expiry from Expiration") {
    const std::string expiration = IsoIn(900);
    rig.Http().respond = [&](const HttpRequest&) -> gw::Result<HttpResponse> {
      return Answer(200,
                    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                    "<AssumeRoleWithWebIdentityResult><Credentials><SessionToken>sts-session&amp;x</SessionToken>"
                    "<SecretAccessKey>sts-secret</SecretAccessKey><Expiration>" + expiration +
                    "</Expiration><AccessKeyId>ASIASTS</AccessKeyId></Credentials>"
                    "<Audience>sts.amazonaws.com</Audience></AssumeRoleWithWebIdentityResult>"
                    "</AssumeRoleWithWebIdentityResponse>",
                    "text/xml");
    };
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    INFO((out.Ok() ? ToJson(out.Value()) : out.GetError().ToString()));
    REQUIRE(out.Ok());
    REQUIRE(rig.Http().Count() == 1);
    const HttpRequest sent = rig.Http().Last();
    CHECK(sent.method == "POST");
    CHECK(sent.url == "http://127.0.0.1:9/sts/");
    CHECK(HeaderOf(sent, "Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0);
    const auto form = ParseForm(sent.body);
    CHECK(form.at("Action") == "AssumeRoleWithWebIdentity");
    CHECK(form.at("Version") == "2011-06-15");
    CHECK(form.at("RoleArn") == "arn:aws:iam::123456789012:role/orthanc");
    CHECK(form.at("RoleSessionName") == "orthanc-a");
    CHECK(form.at("WebIdentityToken") == "eyJ.projected.jwt");
    CHECK(HeaderCount(sent, "Authorization") == 0);  // the call is unsigned
    auto creds = CredentialsOf(out.Value());
    CHECK(std::string(creds["AccessKeyId"].GetString()) == "ASIASTS");
    CHECK(std::string(creds["SessionToken"].GetString()) == "sts-session&x");
    CHECK(std::string(creds["Source"].GetString()) == "web-identity");
    const double expiresOn = out.Value()["expires_on"].GetDouble();
    CHECK(std::abs(expiresOn - static_cast<double>(UnixNow() + 900)) <= 2);
  }

  SECTION("STS refuses the token: AUTH-001 with the STS error code") {
    rig.Http().respond = [](const HttpRequest&) -> gw::Result<HttpResponse> {
      return Answer(403, "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                         "<Message>bad</Message></Error></ErrorResponse>", "text/xml");
    };
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "AUTH-001");
    CHECK(out.GetError().message.find("InvalidIdentityToken") != std::string::npos);
  }

  SECTION("STS unavailable: AUTH-005 (retried by the token engine)") {
    rig.Http().Answer(503, "");
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "AUTH-005");
  }

  SECTION("without an STS endpoint override the regional endpoint is used") {
    ::unsetenv("AWS_ENDPOINT_URL_STS");
    rig.Http().Answer(503, "");
    (void)rig.Acquire(R"({"Region":"eu-central-1"})");
    CHECK(rig.Http().Last().url == "https://sts.eu-central-1.amazonaws.com/");
  }

  SECTION("StsEndpoint in the configuration wins over the environment") {
    rig.Http().Answer(503, "");
    (void)rig.Acquire(R"({"Region":"us-east-1","StsEndpoint":"http://127.0.0.1:10/"})");
    CHECK(rig.Http().Last().url == "http://127.0.0.1:10/");
  }

  SECTION("no role") {
    ::unsetenv("AWS_ROLE_ARN");
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "CFG-001");
    CHECK(rig.Http().Count() == 0);
  }
}

TEST_CASE("AwsCredentials/container endpoint", "[aws][credentials]") {
  SECTION("ECS relative URI, token from the token file") {
    AwsEnv env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"}});
    AwsRig rig;
    const std::string tokenFile = rig.Write("pod-token", "pod-identity-token\n");
    ::setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokenFile.c_str(), 1);
    ::setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored-when-file-set", 1);
    const std::string expiration = IsoIn(3600);
    rig.Http().respond = [&](const HttpRequest&) -> gw::Result<HttpResponse> {
      return Answer(200, R"({"AccessKeyId":"ASIAECS","SecretAccessKey":"ecs-secret","Token":"ecs-session","Expiration":")" +
                             expiration + "\"}");
    };
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    INFO((out.Ok() ? ToJson(out.Value()) : out.GetError().ToString()));
    REQUIRE(out.Ok());
    const HttpRequest sent = rig.Http().Last();
    CHECK(sent.method == "GET");
    CHECK(sent.url == "http://169.254.170.2/v2/credentials/abc");
    CHECK(HeaderOf(sent, "Authorization") == "pod-identity-token");
    auto creds = CredentialsOf(out.Value());
    CHECK(std::string(creds["AccessKeyId"].GetString()) == "ASIAECS");
    CHECK(std::string(creds["SessionToken"].GetString()) == "ecs-session");
    CHECK(std::string(creds["Source"].GetString()) == "container");
  }

  SECTION("full URI on loopback with a token from the environment; 401 is AUTH-001") {
    AwsEnv env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8080/creds"},
                {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token"}});
    AwsRig rig;
    rig.Http().Answer(401, "{}");
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "AUTH-001");
    CHECK(rig.Http().Last().url == "http://127.0.0.1:8080/creds");
    CHECK(HeaderOf(rig.Http().Last(), "Authorization") == "env-token");
  }

  SECTION("full URI over plain http to another host is refused without a request") {
    AwsEnv env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://metadata.example.com/creds"}});
    AwsRig rig;
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "CFG-002");
    CHECK(rig.Http().Count() == 0);
  }

  SECTION("an answer without Expiration is refused") {
    AwsEnv env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"}});
    AwsRig rig;
    rig.Http().Answer(200, R"({"AccessKeyId":"A","SecretAccessKey":"S","Token":"T"})");
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "TOK-004");
  }
}

TEST_CASE("AwsCredentials/IMDSv2", "[aws][credentials]") {
  AwsEnv env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338/"}});
  AwsRig rig;
  const std::string expiration = IsoIn(6 * 3600);
  rig.Http().respond = [&](const HttpRequest& r) -> gw::Result<HttpResponse> {
    if (r.method == "PUT" && r.url == "http://127.0.0.1:1338/latest/api/token") {
      if (HeaderOf(r, "X-aws-ec2-metadata-token-ttl-seconds").empty()) return Answer(400, "");
      return Answer(200, "imds-session-token", "text/plain");
    }
    if (HeaderOf(r, "X-aws-ec2-metadata-token") != "imds-session-token") return Answer(401, "", "text/plain");
    if (r.url == "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/") {
      return Answer(200, "orthanc-role", "text/plain");
    }
    if (r.url == "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/orthanc-role") {
      return Answer(200, RoleCredentialsJson(expiration), "text/plain");
    }
    return Answer(404, "", "text/plain");
  };

  SECTION("token first, then the role, then its credentials") {
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    INFO((out.Ok() ? ToJson(out.Value()) : out.GetError().ToString()));
    REQUIRE(out.Ok());
    const auto sent = rig.Http().Requests();
    REQUIRE(sent.size() == 3);
    CHECK(sent[0].method == "PUT");
    CHECK(HeaderOf(sent[0], "X-aws-ec2-metadata-token-ttl-seconds") == "21600");
    CHECK(sent[1].method == "GET");
    CHECK(sent[2].method == "GET");
    auto creds = CredentialsOf(out.Value());
    CHECK(std::string(creds["AccessKeyId"].GetString()) == "ASIAROLE");
    CHECK(std::string(creds["SessionToken"].GetString()) == "role-session");
    CHECK(std::string(creds["Source"].GetString()) == "imds");
    CHECK(std::abs(out.Value()["expires_on"].GetDouble() - static_cast<double>(UnixNow() + 6 * 3600)) <= 2);
  }

  SECTION("already expired credentials are refused") {
    rig.Http().respond = [&, inner = rig.Http().respond](const HttpRequest& r) -> gw::Result<HttpResponse> {
      if (r.url.find("orthanc-role") != std::string::npos) return Answer(200, RoleCredentialsJson(IsoIn(-60)));
      return inner(r);
    };
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "TOK-004");
  }

  SECTION("IMDSv1-only (no token route): AUTH-001, never an unauthenticated read") {
    rig.Http().Answer(403, "");
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "AUTH-001");
    CHECK(rig.Http().Count() == 1);
  }

  SECTION("AWS_EC2_METADATA_DISABLED stops the chain") {
    ::setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    auto out = rig.Acquire(R"({"Region":"us-east-1"})");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "AUTH-001");
    CHECK(rig.Http().Count() == 0);
  }
  rig.RequireBalanced();
}
