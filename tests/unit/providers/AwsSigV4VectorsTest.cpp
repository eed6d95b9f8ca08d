// sign() of lua/providers/aws_sigv4.lua, run for real in the script engine, against:
//  - vectors of the public AWS Signature Version 4 test suite (aws-sig-v4-test-suite, 2015-08-30,
//    AKIDEXAMPLE, us-east-1, service "service"): request inputs and the published signatures;
//  - DICOMweb-shaped requests signed by botocore (SigV4Auth, medical-imaging), recorded here as
//    facts: botocore is the reference signer the integration test also verifies against.
#include "AwsTestSupport.h"

using namespace gw::providers::test;

namespace {

const char* kSuiteKeyId = "AKIDEXAMPLE";
const char* kSuiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const char* kSuiteTime = "20150830T123600Z";
const std::string kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Signed {
  std::map<std::string, std::string> headers;
};

std::string Credential(const std::string& sessionToken = "") {
  std::string json = std::string("{\"AccessKeyId\":\"") + kSuiteKeyId + "\",\"SecretAccessKey\":\"" + kSuiteSecret + "\"";
  if (!sessionToken.empty()) json += ",\"SessionToken\":" + Quote(sessionToken);
  return json + "}";
}

// headersJson: a JSON object of the request's headers (without host, which comes from the URL).
gw::Result<rapidjson::Document> SignRaw(AwsRig& rig, const std::string& method, const std::string& url,
                                    const std::string& headersJson, const std::string& payloadSha256,
                                    const std::string& region = "us-east-1", const std::string& service = "service",
                                    const std::string& sessionToken = "", const std::string& time = kSuiteTime) {
  std::string arg = "{\"server\":\"aws\",\"config\":{\"Region\":" + Quote(region) + ",\"SigningService\":" +
                    Quote(service) + "},\"credential\":" + Quote(Credential(sessionToken)) +
                    ",\"request\":{\"method\":" + Quote(method) + ",\"url\":" + Quote(url) +
                    ",\"headers\":" + headersJson + ",\"payload_sha256\":" + Quote(payloadSha256) + "}";
  if (!time.empty()) arg += ",\"time\":" + Quote(time);
  return rig.Call("sign", arg + "}");
}

Signed Sign(AwsRig& rig, const std::string& method, const std::string& url, const std::string& headersJson,
            const std::string& payloadSha256, const std::string& region = "us-east-1",
            const std::string& service = "service", const std::string& sessionToken = "") {
  auto out = SignRaw(rig, method, url, headersJson, payloadSha256, region, service, sessionToken);
  INFO((out.Ok() ? ToJson(out.Value()) : out.GetError().ToString()));
  REQUIRE(out.Ok());
  REQUIRE(out.Value().IsObject());
  REQUIRE(out.Value().HasMember("headers"));
  Signed s;
  for (const auto& m : out.Value()["headers"].GetObject()) s.headers[m.name.GetString()] = m.value.GetString();
  rig.RequireBalanced();
  return s;
}

std::string SuiteAuthorization(const std::string& signedHeaders, const std::string& signature) {
  return std::string("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ") +
         "SignedHeaders=" + signedHeaders + ", Signature=" + signature;
}

}  // namespace

TEST_CASE("AwsSigV4/test suite vectors", "[aws][sigv4]") {
  AwsEnv env;
  AwsRig rig;
  struct Vector {
    const char* name;
    const char* method;
    std::string url;
    std::string headers;
    std::string payload;
    const char* signedHeaders;
    const char* signature;
  };
  const std::vector<Vector> vectors = {
      {"get-vanilla", "GET", "https://example.amazonaws.com/", "{}", kEmptySha256, "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-unreserved", "GET",
       "https://example.amazonaws.com/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "{}",
       kEmptySha256, "host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {"normalize-path/get-slashes", "GET", "https://example.amazonaws.com//example//", "{}", kEmptySha256,
       "host;x-amz-date", "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
      {"get-vanilla-query-order-key-case", "GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1",
       "{}", kEmptySha256, "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"get-vanilla-query-order-value", "GET", "https://example.amazonaws.com/?Param1=value2&Param1=value1", "{}",
       kEmptySha256, "host;x-amz-date", "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
      {"get-vanilla-utf8-query", "GET", "https://example.amazonaws.com/?\xe1\x88\xb4=bar", "{}", kEmptySha256,
       "host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {"get-header-value-trim", "GET", "https://example.amazonaws.com/",
       R"({"My-Header1":" value1","My-Header2":"\"a   b   c\""})", kEmptySha256,
       "host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      // Repeated header lines reach the signer joined with ',' in arrival order (see Gateway).
      {"get-header-value-order", "GET", "https://example.amazonaws.com/",
       R"({"My-Header1":"value4,value1,value3,value2"})", kEmptySha256, "host;my-header1;x-amz-date",
       "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
      {"get-header-key-duplicate", "GET", "https://example.amazonaws.com/",
       R"({"My-Header1":"value2,value2,value1"})", kEmptySha256, "host;my-header1;x-amz-date",
       "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      // Body "Param1=value1".
      {"post-x-www-form-urlencoded", "POST", "https://example.amazonaws.com/",
       R"({"Content-Type":"application/x-www-form-urlencoded"})",
       "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e", "content-type;host;x-amz-date",
       "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
  };
  for (const auto& v : vectors) {
    SECTION(v.name) {
      const Signed s = Sign(rig, v.method, v.url, v.headers, v.payload);
      CHECK(s.headers.at("Authorization") == SuiteAuthorization(v.signedHeaders, v.signature));
      CHECK(s.headers.at("X-Amz-Date") == kSuiteTime);
      CHECK(s.headers.count("X-Amz-Security-Token") == 0);
      CHECK(s.headers.count("X-Amz-Content-Sha256") == 0);  // not s3: botocore does not add it
      CHECK(s.headers.size() == 2);
    }
  }
}

TEST_CASE("AwsSigV4/DICOMweb requests match botocore", "[aws][sigv4]") {
  AwsEnv env;
  AwsRig rig;
  const std::string base = "https://dicom-medical-imaging.us-east-1.amazonaws.com/datastore/"
                           "0123456789abcdef0123456789abcdef/studies";

  SECTION("QIDO with a query the proxy encodes (',' kept, '^' and '*' escaped), parameters out of order") {
    const Signed s = Sign(rig, "GET", base + "?includefield=00100010,00100020&limit=10&PatientName=Doe%5EJ%2A",
                          R"({"Accept":"application/dicom+json"})", kEmptySha256, "us-east-1", "medical-imaging");
    CHECK(s.headers.at("Authorization") ==
          "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/medical-imaging/aws4_request, "
          "SignedHeaders=accept;host;x-amz-date, "
          "Signature=2ce5adc45040a848107cc1ab07158b6840602543e5bd896df95523e83c3a4f2e");
  }

  SECTION("STOW with a multipart body and a session token (post-sts-token shape)") {
    const std::string token = "FQoGZXIvYXdzEXAMPLESESSIONTOKEN+/=";
    // sha256 of "--xyz\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--xyz--\r\n"
    const Signed s = Sign(rig, "POST", base,
                          R"({"Accept":"application/dicom+json","Content-Type":"multipart/related; type=\"application/dicom\"; boundary=xyz"})",
                          "b8832497444db0d4f845b8698f699fd75e05afba37a6e66adc576effca40d9ce", "us-east-1",
                          "medical-imaging", token);
    CHECK(s.headers.at("Authorization") ==
          "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/medical-imaging/aws4_request, "
          "SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token, "
          "Signature=76167907847cae4643e4510d13c477d16a42d055f53ee550a4ec53811e5eeff8");
    CHECK(s.headers.at("X-Amz-Security-Token") == token);
    CHECK(s.headers.size() == 3);
  }

  SECTION("frames on a non-default port: the host carries the port, ',' in the path is encoded") {
    const Signed s =
        Sign(rig, "GET", "http://127.0.0.1:8443/datastore/ds1/studies/1.2.3/series/4.5/instances/6.7/frames/1,2,3",
             R"({"Accept":"multipart/related; type=\"application/octet-stream\""})", kEmptySha256, "eu-west-1",
             "medical-imaging");
    CHECK(s.headers.at("Authorization") ==
          "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/medical-imaging/aws4_request, "
          "SignedHeaders=accept;host;x-amz-date, "
          "Signature=742c057b1c61b462e5fd5b35272b1fac63335f9b0b49abde945e39b8407c2c3d");
  }

  SECTION("the default port is not part of the signed host") {
    const Signed a = Sign(rig, "GET", "https://example.amazonaws.com:443/", "{}", kEmptySha256);
    CHECK(a.headers.at("Authorization") ==
          SuiteAuthorization("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
  }

  SECTION("a different body hash, method, header or secret changes the signature") {
    const std::string vanilla = Sign(rig, "GET", "https://example.amazonaws.com/", "{}", kEmptySha256)
                                    .headers.at("Authorization");
    CHECK(Sign(rig, "DELETE", "https://example.amazonaws.com/", "{}", kEmptySha256).headers.at("Authorization") !=
          vanilla);
    CHECK(Sign(rig, "GET", "https://example.amazonaws.com/", "{}", std::string(64, 'a')).headers.at("Authorization") !=
          vanilla);
    CHECK(Sign(rig, "GET", "https://example.amazonaws.com/", R"({"Accept":"x"})", kEmptySha256)
              .headers.at("Authorization") != vanilla);
  }
}

TEST_CASE("AwsSigV4/time, s3 and refusals", "[aws][sigv4]") {
  AwsEnv env;
  AwsRig rig;

  SECTION("without a fixed time the current UTC time is used") {
    auto out = SignRaw(rig, "GET", "https://example.amazonaws.com/", "{}", kEmptySha256, "us-east-1", "service", "", "");
    REQUIRE(out.Ok());
    const std::string date = out.Value()["headers"]["X-Amz-Date"].GetString();
    REQUIRE(date.size() == 16);
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char expected[16];
    std::strftime(expected, sizeof expected, "%Y%m%dT%H", &tm);
    CHECK(date.substr(0, 11) == std::string(expected));  // same UTC day and hour (unless run on the hour)
    CHECK(date.back() == 'Z');
  }

  SECTION("s3 gets X-Amz-Content-Sha256, like botocore's S3 signer") {
    const Signed s = Sign(rig, "GET", "https://example.amazonaws.com/", "{}", kEmptySha256, "us-east-1", "s3");
    CHECK(s.headers.at("X-Amz-Content-Sha256") == kEmptySha256);
    CHECK(s.headers.at("Authorization").find("SignedHeaders=host;x-amz-content-sha256;x-amz-date,") !=
          std::string::npos);
  }

  SECTION("a body that was not hashed is not signed") {
    auto out = SignRaw(rig, "POST", "https://example.amazonaws.com/", "{}", "");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "SIG-001");
  }

  SECTION("headers the signer owns are refused in the request") {
    for (const char* h : {"Host", "X-Amz-Date", "x-amz-security-token"}) {
      auto out = SignRaw(rig, "GET", "https://example.amazonaws.com/", "{" + Quote(h) + ":\"x\"}", kEmptySha256);
      REQUIRE_FALSE(out.Ok());
      CHECK(out.GetError().code == "SIG-001");
    }
  }

  SECTION("no Region") {
    auto out = rig.Call("sign", "{\"server\":\"aws\",\"config\":{},\"credential\":" + Quote(Credential()) +
                                    ",\"request\":{\"method\":\"GET\",\"url\":\"https://x.amazonaws.com/\","
                                    "\"headers\":{},\"payload_sha256\":\"" + kEmptySha256 + "\"}}");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "CFG-001");
  }

  SECTION("no credential") {
    auto out = rig.Call("sign", "{\"server\":\"aws\",\"config\":{\"Region\":\"us-east-1\"},"
                                "\"request\":{\"method\":\"GET\",\"url\":\"https://x.amazonaws.com/\","
                                "\"headers\":{},\"payload_sha256\":\"" + kEmptySha256 + "\"}}");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "SIG-001");
  }

  SECTION("a malformed fixed time") {
    auto out = SignRaw(rig, "GET", "https://example.amazonaws.com/", "{}", kEmptySha256, "us-east-1", "service", "",
                       "2015-08-30T12:36:00Z");
    REQUIRE_FALSE(out.Ok());
    CHECK(out.GetError().code == "SIG-001");
  }
  rig.RequireBalanced();
}
