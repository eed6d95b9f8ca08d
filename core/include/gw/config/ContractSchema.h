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
  const SchemaField* Find(const std::string& key) const;

  // Checks `value` against `field` (type, range, enum, items...): CFG-002 errors at `path`, with
  // the parser's wording ("must be a string", "must be between 1 and 3600 (got 0)"). Never quotes
  // the value of a string.
  static void CheckValue(const SchemaField& field, const rapidjson::Value& value, const std::string& path,
                         std::vector<Diagnostic>& out);

 private:
  std::map<std::string, std::shared_ptr<const SchemaField>> properties_;
  std::vector<std::string> required_;
  std::map<std::string, SchemaEnv> env_;
};

}  // namespace gw::config
