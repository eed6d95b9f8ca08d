// The schema dialect of script contracts (config/ContractSchema.h): what is accepted, what is
// refused as not the dialect (LUA-003), and how values are checked (types, ranges, enums, items).
#include "ConfigTestSupport.h"
#include "gw/config/ContractSchema.h"

using namespace gw::config;
using namespace gw::config::test;

namespace {

// Plain RapidJSON: a schema may arrive as an array (an empty Lua table) or another value.
gw::Result<ContractSchema> Schema(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  INFO(json);
  REQUIRE_FALSE(doc.HasParseError());
  return ContractSchema::FromJson(doc);
}

std::vector<Diagnostic> CheckOne(const std::string& fieldJson, const std::string& valueJson) {
  auto schema = Schema(R"({"properties": {"K": )" + fieldJson + "}}");
  INFO(fieldJson);
  REQUIRE(schema.Ok());
  const auto value = Json(R"({"v": )" + valueJson + "}");
  std::vector<Diagnostic> out;
  ContractSchema::CheckValue(*schema.Value().Find("K"), (*value)["v"], "S.K", out);
  return out;
}

}  // namespace

TEST_CASE("ContractSchema/the dialect: properties, required, secret, file and env", "[config][schema]") {
  auto parsed = Schema(R"({
      "type": "object", "description": "a provider",
      "properties": {
        "ApiKey": {"type": "string", "secret": true},
        "KeyFile": {"type": "string", "file": true, "file_refs": ["credential_source.file"], "env": "KEY_FILE"},
        "TokenFile": {"type": "string", "file": true, "appears_later": true},
        "Refresh": {"type": "integer", "minimum": 1, "maximum": 3600},
        "Mode": {"type": "string", "enum": ["a", "b"]},
        "Names": {"type": "array", "items": {"type": "string"}},
        "Extra": {"type": "object", "additionalProperties": {"type": "string"}},
        "Anything": {}
      },
      "required": ["ApiKey"],
      "env": {"SECRET_VAR": {"secret": true}, "FILE_VAR": {"file": true}, "PLAIN_VAR": {}}
    })");
  INFO((parsed.Ok() ? std::string() : parsed.GetError().ToString()));
  REQUIRE(parsed.Ok());
  const ContractSchema& s = parsed.Value();
  CHECK(s.Required() == std::vector<std::string>{"ApiKey"});
  REQUIRE(s.Find("ApiKey"));
  CHECK(s.Find("ApiKey")->secret);
  CHECK_FALSE(s.Find("ApiKey")->file);
  REQUIRE(s.Find("KeyFile"));
  CHECK(s.Find("KeyFile")->file);
  CHECK(s.Find("KeyFile")->env == "KEY_FILE");
  CHECK(s.Find("KeyFile")->fileRefs == std::vector<std::string>{"credential_source.file"});
  CHECK(s.Find("TokenFile")->appearsLater);
  CHECK(s.Find("Refresh")->minimum == 1.0);
  CHECK(s.Find("Refresh")->maximum == 3600.0);
  CHECK(s.Find("Anything")->type == SchemaField::Type::Any);
  CHECK(s.Find("Missing") == nullptr);
  REQUIRE(s.Env().size() == 3);
  CHECK(s.Env().at("SECRET_VAR").secret);
  CHECK(s.Env().at("FILE_VAR").file);
  CHECK_FALSE(s.Env().at("PLAIN_VAR").secret);
  // An empty Lua table may arrive as [] or {}: both mean "nothing declared".
  CHECK(Schema("[]").Ok());
  CHECK(Schema("{}").Ok());
  CHECK(Schema(R"({"properties": [], "required": {}, "env": []})").Ok());
}

TEST_CASE("ContractSchema/not the dialect is LUA-003 naming the attribute", "[config][schema]") {
  struct Row {
    std::string schema;
    std::string where;
  };
  const std::vector<Row> rows = {
      {R"({"properties": {"K": {"type": "string", "secrte": true}}})", "schema.properties.K.secrte"},
      {R"({"properties": {"K": {"type": "text"}}})", "schema.properties.K.type"},
      {R"({"properties": {"K": {"type": "string", "secret": "yes"}}})", "schema.properties.K.secret"},
      {R"({"properties": {"K": {"type": "integer", "minimum": "1"}}})", "schema.properties.K.minimum"},
      {R"({"properties": {"K": {"type": "string", "minimum": 1}}})", "schema.properties.K"},
      {R"({"properties": {"K": {"type": "integer", "secret": true}}})", "schema.properties.K"},
      {R"({"properties": {"K": {"type": "string", "appears_later": true}}})", "schema.properties.K"},
      {R"({"properties": {"K": {"type": "integer", "enum": ["a"]}}})", "schema.properties.K"},
      {R"({"properties": {"K": {"type": "array", "items": {"type": "strnig"}}}})", "schema.properties.K.items.type"},
      {R"({"properties": {"K": 3}})", "schema.properties.K"},
      {R"({"required": ["A", 2]})", "schema.required"},
      {R"({"env": {"X": {"secret": 1}}})", "schema.env.X.secret"},
      {R"({"env": ["X"]})", "schema.env"},
      {R"({"type": "array"})", "schema.type"},
      {R"({"optional": ["A"]})", "schema.optional"},
      {R"("object")", "schema"},
  };
  for (const Row& row : rows) {
    INFO(row.schema);
    const auto parsed = Schema(row.schema);
    REQUIRE_FALSE(parsed.Ok());
    CHECK(parsed.GetError().code == "LUA-003");
    CHECK(parsed.GetError().message.rfind(row.where + ":", 0) == 0);
  }
}

TEST_CASE("ContractSchema/values: types, ranges, enums, items and objects", "[config][schema]") {
  CHECK(CheckOne(R"({"type": "string"})", R"("x")").empty());
  CHECK(CheckOne(R"({"type": "string"})", "1").at(0).message == "must be a string");
  CHECK(CheckOne(R"({"type": "boolean"})", "true").empty());
  CHECK(CheckOne(R"({"type": "boolean"})", R"("true")").at(0).message == "must be true or false");
  CHECK(CheckOne(R"({"type": "integer"})", "3").empty());
  CHECK(CheckOne(R"({"type": "integer"})", "3.0").empty());  // JSON Schema: an integral number is an integer
  CHECK(CheckOne(R"({"type": "integer"})", "3.5").at(0).message == "must be an integer");
  CHECK(CheckOne(R"({"type": "number"})", "3.5").empty());
  CHECK(CheckOne(R"({"type": "number"})", "[]").at(0).message == "must be a number");
  const auto low = CheckOne(R"({"type": "integer", "minimum": 1, "maximum": 3600})", "0");
  REQUIRE(low.size() == 1);
  CHECK(low[0].code == "CFG-002");
  CHECK(low[0].path == "S.K");
  CHECK(low[0].message == "must be between 1 and 3600 (got 0)");
  CHECK(CheckOne(R"({"type": "integer", "minimum": 1, "maximum": 3600})", "3600").empty());
  CHECK(CheckOne(R"({"type": "integer", "minimum": 1, "maximum": 3600})", "3601").size() == 1);
  CHECK(CheckOne(R"({"type": "number", "minimum": 0.5})", "0.25").at(0).message == "must be at least 0.5 (got 0.25)");
  CHECK(CheckOne(R"({"type": "number", "maximum": 2})", "3").at(0).message == "must be at most 2 (got 3)");
  CHECK(CheckOne(R"({"type": "string", "enum": ["a", "b"]})", R"("b")").empty());
  const auto other = CheckOne(R"({"type": "string", "enum": ["a", "b"]})", R"("secret-looking-value")");
  REQUIRE(other.size() == 1);
  CHECK(other[0].message == "must be one of: a, b");  // never the value given
  const auto items = CheckOne(R"({"type": "array", "items": {"type": "string"}})", R"(["a", 2, "c", false])");
  REQUIRE(items.size() == 2);
  CHECK(items[0].path == "S.K[1]");
  CHECK(items[1].path == "S.K[3]");
  CHECK(CheckOne(R"({"type": "array"})", "{}").at(0).message == "must be an array");
  const auto values = CheckOne(R"({"type": "object", "additionalProperties": {"type": "string"}})", R"({"a": "1", "b": 2})");
  REQUIRE(values.size() == 1);
  CHECK(values[0].path == "S.K.b");
  const auto named = CheckOne(R"({"type": "object", "properties": {"N": {"type": "integer"}}})", R"({"N": "1", "x": 1})");
  REQUIRE(named.size() == 1);
  CHECK(named[0].path == "S.K.N");
  CHECK(CheckOne(R"({"type": "object"})", R"("x")").at(0).message == "must be a JSON object");
  CHECK(CheckOne("{}", R"({"any": ["thing"]})").empty());
}

TEST_CASE("ContractSchema/conditional rules: defaults, when, required and allowed", "[config][schema][rules]") {
  auto parsed = Schema(R"({
      "properties": {
        "Method": {"type": "string", "enum": ["secret", "key", "mtls"], "ignore_case": true,
                   "default_from": [{"present": "Secret", "value": "secret"}, {"present": "KeyFile", "value": "key"}],
                   "default": "secret"},
        "Algorithm": {"type": "string", "enum": ["RS256", "HS256"], "ignore_case": true},
        "Secret": {"type": "string", "secret": true},
        "KeyFile": {"type": "string"},
        "Cert": {"type": "string"},
        "Params": {"type": "object", "reserved": ["grant_type"]}
      },
      "rules": [
        {"when": {"Method": "secret"}, "required": ["Secret"], "allowed": {"Algorithm": ["HS256"]}},
        {"when": {"Method": ["key", "mtls"]}, "required": ["KeyFile"], "description": "keys"},
        {"when": {"Method": "mtls"}, "required": ["Cert"]}
      ]
    })");
  INFO((parsed.Ok() ? std::string() : parsed.GetError().ToString()));
  REQUIRE(parsed.Ok());
  const ContractSchema& s = parsed.Value();
  REQUIRE(s.Rules().size() == 3);
  const auto rules = [&](const std::string& object) {
    std::vector<Diagnostic> out;
    s.CheckRules(*Json(object), "S", out);
    return out;
  };

  SECTION("the effective value: as configured in the enum's spelling, else default_from in order, else default") {
    CHECK(s.Effective("Method", *Json(R"({"Method": "MTLS"})")) == std::optional<std::string>("mtls"));
    CHECK(s.Effective("Method", *Json(R"({"KeyFile": "k", "Secret": "x"})")) == std::optional<std::string>("secret"));
    CHECK(s.Effective("Method", *Json(R"({"KeyFile": "k"})")) == std::optional<std::string>("key"));
    CHECK(s.Effective("Method", *Json(R"({})")) == std::optional<std::string>("secret"));
    CHECK_FALSE(s.Effective("Algorithm", *Json(R"({})")).has_value());
    CHECK_FALSE(s.Effective("Undeclared", *Json(R"({"Undeclared": "x"})")).has_value());
  }
  SECTION("a rule whose when holds requires its keys (CFG-001) and restricts values (CFG-002)") {
    auto out = rules(R"({"Method": "Mtls"})");
    CHECK(Has(out, "CFG-001", "S.KeyFile"));
    CHECK(Has(out, "CFG-001", "S.Cert"));
    CHECK_FALSE(Has(out, "CFG-001", "S.Secret"));
    CHECK(Find(out, "CFG-001", "S.Cert")->message == "required by Method mtls");
    out = rules(R"({"Secret": "x", "Algorithm": "rs256"})");
    REQUIRE(Has(out, "CFG-002", "S.Algorithm"));
    CHECK(Find(out, "CFG-002", "S.Algorithm")->message == "must be one of: HS256 with Method secret (decided by Secret)");
    CHECK(rules(R"({"Secret": "x", "Algorithm": "hs256"})").empty());
    out = rules(R"({})");
    REQUIRE(Has(out, "CFG-001", "S.Secret"));
    CHECK(Find(out, "CFG-001", "S.Secret")->message ==
          "required by Method secret (the default: none of Secret, KeyFile is set)");
    CHECK(rules(R"({"KeyFile": "k"})").empty());
  }
  SECTION("the script receives the enum's spelling and the value decided") {
    auto object = Json(R"({"Method": "KEY", "KeyFile": "k", "Algorithm": "rs256", "Other": "x"})");
    s.Complete(*object, object->GetAllocator());
    CHECK(std::string((*object)["Method"].GetString()) == "key");
    CHECK(std::string((*object)["Algorithm"].GetString()) == "RS256");
    CHECK(std::string((*object)["Other"].GetString()) == "x");
    auto inferred = Json(R"({"KeyFile": "k"})");
    s.Complete(*inferred, inferred->GetAllocator());
    CHECK(std::string((*inferred)["Method"].GetString()) == "key");
    auto invalid = Json(R"({"Method": "password"})");
    s.Complete(*invalid, invalid->GetAllocator());
    CHECK(std::string((*invalid)["Method"].GetString()) == "password");  // reported by CheckValue, left as written
  }
  SECTION("values: ignore_case enums and reserved names") {
    std::vector<Diagnostic> out;
    ContractSchema::CheckValue(*s.Find("Method"), (*Json(R"({"v": "Secret"})"))["v"], "S.Method", out);
    CHECK(out.empty());
    ContractSchema::CheckValue(*s.Find("Method"), (*Json(R"({"v": "password"})"))["v"], "S.Method", out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].message == "must be one of: secret, key, mtls (case-insensitive)");
    out.clear();
    ContractSchema::CheckValue(*s.Find("Params"), (*Json(R"({"v": {"Grant_Type": "password", "scope": "a"}})"))["v"],
                               "S.Params", out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].code == "CFG-002");
    CHECK(out[0].path == "S.Params.Grant_Type");
  }
}

TEST_CASE("ContractSchema/rules that are not the dialect are LUA-003 naming the attribute", "[config][schema][rules]") {
  const std::string props = R"("properties": {"M": {"type": "string", "enum": ["a", "b"]}, "K": {"type": "string"}})";
  const std::vector<std::pair<std::string, std::string>> rows = {
      {R"({"properties": {"K": {"type": "string", "ignore_case": true}}})", "schema.properties.K"},
      {R"({"properties": {"K": {"type": "integer", "default": "1"}}})", "schema.properties.K"},
      {R"({"properties": {"K": {"type": "string", "enum": ["a"], "default": "b"}}})", "schema.properties.K"},
      {R"({"properties": {"K": {"type": "string", "default_from": [{"present": "X"}]}}})", "schema.properties.K.default_from"},
      {R"({"properties": {"K": {"type": "string", "reserved": ["x"]}}})", "schema.properties.K"},
      {"{" + props + R"(, "rules": {"when": {"M": "a"}}})", "schema.rules"},
      {"{" + props + R"(, "rules": [{"required": ["K"]}]})", "schema.rules[1]"},
      {"{" + props + R"(, "rules": [{"when": {"M": "a"}}]})", "schema.rules[1]"},
      {"{" + props + R"(, "rules": [{"when": {"Mode": "a"}, "required": ["K"]}]})", "schema.rules[1].when.Mode"},
      {"{" + props + R"(, "rules": [{"when": {"M": []}, "required": ["K"]}]})", "schema.rules[1].when.M"},
      {"{" + props + R"(, "rules": [{"when": {"M": "a"}, "allowed": {"X": ["1"]}}]})", "schema.rules[1].allowed.X"},
      {"{" + props + R"(, "rules": [{"when": {"M": "a"}, "requires": ["K"]}]})", "schema.rules[1].requires"},
  };
  for (const auto& [schema, where] : rows) {
    INFO(schema);
    const auto parsed = Schema(schema);
    REQUIRE_FALSE(parsed.Ok());
    CHECK(parsed.GetError().code == "LUA-003");
    CHECK(parsed.GetError().message.rfind(where + ":", 0) == 0);
  }
}
