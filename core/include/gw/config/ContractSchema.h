#pragma once
// The `schema` field of a script's contract (docs/lua-api.md, "Schemas"): one declarative dialect
// for providers, policies and audit rules, after Kong's schema.lua and APISIX's `_M.schema` +
// `check_schema` (a script declares its configuration once, the host checks it before the script
// runs). A JSON-Schema subset plus what the gateway must know about a key to protect it:
//
//   schema = {
//     type = "object",                                   -- optional; only "object"
//     properties = {
//       TokenEndpoint = { type = "string" },
//       ClientSecret  = { type = "string", secret = true },            -- masked; env:/file:/keyvault:
//       TokenFile     = { type = "string", file = true, appears_later = true },
//       RefreshSeconds = { type = "integer", minimum = 1, maximum = 3600 },
//       Method        = { type = "string", enum = { "a", "b" } },
//       Names         = { type = "array", items = { type = "string" } },
//       Parameters    = { type = "object", additionalProperties = { type = "string" } },
//       FederatedTokenFile = { type = "string", file = true, env = "AZURE_FEDERATED_TOKEN_FILE" },
//       CredentialsFile = { type = "string", file = true, file_refs = { "credential_source.file" } },
//     },
//     required = { "TokenEndpoint" },
//     env = { AZURE_CLIENT_SECRET = { secret = true }, AWS_WEB_IDENTITY_TOKEN_FILE = { file = true } },
//     rules = {
//       { when = { Method = "b" }, required = { "KeyFile" }, allowed = { Algorithm = { "RS256", "ES256" } } },
//     },
//   }
//
// `secret`: the value is resolved from a secret reference and registered with SecretRegistry.
// `file`: a path, resolved against the configuration's folder, checked to be readable (unless
// `appears_later`) and added to the script's file allowlist. `env` on a key: when the key is
// absent the script reads that environment variable instead (it joins the env allowlist; with
// `file`, the file it names joins the file allowlist). `file_refs`: the file is JSON and the
// absolute paths at these dotted fields are files the script reads too. The top-level `env` lists
// the environment variables the script reads (`secret`: their values are masked; `file`: the file
// each names is readable). `description` is allowed anywhere and ignored.
//
// Conditional rules (after Kong's entity checks and JSON Schema's if/then), so a provider states
// which keys depend on which, and a custom provider gets the same checks as a shipped one:
// `ignore_case` (with `enum`): any case matches, and the script receives the enum's spelling.
// `default` (strings): the value when the key is absent; `default_from` = { { present = "K",
// value = "v" }, ... }: when absent, the value paired with the first listed key that is present
// (before `default`). The script receives the value decided. `reserved` (objects): names, in any
// case, the configuration may not set (the provider sets them from other keys). `rules`: each
// applies when every key of `when` has (after defaults) one of the values given; then its
// `required` keys must be present (CFG-001) and its `allowed` keys, when present, must have one of
// the values given (CFG-002).
//
// Unknown attributes are refused (a misspelt `secret` must not silently unmask a key).
// Immutable once built; safe to share between threads.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "gw/common/Error.h"
#include "gw/config/Diagnostic.h"

namespace gw::config {

struct SchemaField {
  enum class Type { Any, String, Integer, Number, Boolean, Array, Object };
  Type type = Type::Any;
  std::optional<double> minimum;
  std::optional<double> maximum;
  std::vector<std::string> enumValues;      // strings only
  bool secret = false;
  bool file = false;
  bool appearsLater = false;                // with file: may not exist at start (a projected token)
  std::string env;                          // variable read instead when the key is absent
  std::vector<std::string> fileRefs;        // dotted JSON fields naming further files
  std::shared_ptr<const SchemaField> items;                     // arrays
  std::shared_ptr<const SchemaField> additionalProperties;       // objects: every value
  std::map<std::string, std::shared_ptr<const SchemaField>> properties;  // objects: named values
  bool ignoreCase = false;                  // with enum: matched in any case
  std::optional<std::string> defaultValue;  // strings: when absent
  std::vector<std::pair<std::string, std::string>> defaultFrom;  // (key present, value), in order
  std::vector<std::string> reserved;        // objects: names (any case) refused
};

// One entry of `rules`: key -> the values that make the rule apply / that are allowed.
struct SchemaRule {
  std::vector<std::pair<std::string, std::vector<std::string>>> when;
  std::vector<std::string> required;
  std::vector<std::pair<std::string, std::vector<std::string>>> allowed;
};

const char* ToString(SchemaField::Type type);

struct SchemaEnv {
  bool secret = false;
  bool file = false;
};

class ContractSchema {
 public:
  // `schema` is the contract's table as JSON (a Lua table converted by the engine; an empty table
  // may arrive as [] or {}). LUA-003 naming the attribute when it is not the dialect.
  static Result<ContractSchema> FromJson(const rapidjson::Value& schema);

  const std::map<std::string, std::shared_ptr<const SchemaField>>& Properties() const { return properties_; }
  const std::vector<std::string>& Required() const { return required_; }
  const std::map<std::string, SchemaEnv>& Env() const { return env_; }
  const std::vector<SchemaRule>& Rules() const { return rules_; }
  const SchemaField* Find(const std::string& key) const;

  // The string value `key` of `object` has for the script and the rules: as configured (in the
  // enum's spelling with ignore_case), else its default (default_from, then default). Null when
  // it has none or is not a string.
  std::optional<std::string> Effective(const std::string& key, const rapidjson::Value& object) const;

  // The rules, on `object` (a server's keys) at `path`: CFG-001 and CFG-002 diagnostics.
  void CheckRules(const rapidjson::Value& object, const std::string& path, std::vector<Diagnostic>& out) const;

  // Writes what the script receives into `object`: enum spellings for ignore_case keys, and the
  // defaults of absent keys.
  void Complete(rapidjson::Value& object, rapidjson::Document::AllocatorType& allocator) const;

  // Checks `value` against `field` (type, range, enum, items...): CFG-002 errors at `path`, with
  // the parser's wording ("must be a string", "must be between 1 and 3600 (got 0)"). Never quotes
  // the value of a string.
  static void CheckValue(const SchemaField& field, const rapidjson::Value& value, const std::string& path,
                         std::vector<Diagnostic>& out);

 private:
  std::map<std::string, std::shared_ptr<const SchemaField>> properties_;
  std::vector<std::string> required_;
  std::map<std::string, SchemaEnv> env_;
  std::vector<SchemaRule> rules_;
};

}  // namespace gw::config
