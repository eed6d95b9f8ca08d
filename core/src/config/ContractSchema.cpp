#include "gw/config/ContractSchema.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <set>

#include "gw/config/JsonPath.h"

namespace gw::config {
namespace {

using rapidjson::Value;
using Type = SchemaField::Type;

// A table converted from Lua: an empty table arrives as an empty array or object.
bool IsEmptyTable(const Value& v) { return (v.IsArray() && v.Empty()) || (v.IsObject() && v.MemberCount() == 0); }

std::string Name(const Value& v) { return std::string(v.GetString(), v.GetStringLength()); }

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The enum value `text` matches (itself, or its spelling in the enum with ignore_case); null if none.
const std::string* EnumMatch(const SchemaField& field, const std::string& text) {
  for (const auto& e : field.enumValues) {
    if (e == text || (field.ignoreCase && Lower(e) == Lower(text))) return &e;
  }
  return nullptr;
}

std::string ShortNumber(double value) {
  if (std::trunc(value) == value && std::fabs(value) < 9.0e15) return std::to_string(static_cast<int64_t>(value));
  std::string text = std::to_string(value);
  while (!text.empty() && text.back() == '0') text.pop_back();
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

// Builds one field; `where` names it in the LUA-003 message ("schema.properties.Token").
class FieldReader {
 public:
  Result<std::shared_ptr<const SchemaField>> Read(const Value& v, const std::string& where) {
    if (!v.IsObject()) {
      if (IsEmptyTable(v)) return std::make_shared<const SchemaField>();
      return Fail(where, "must be a table such as { type = \"string\" }");
    }
    auto field = std::make_shared<SchemaField>();
    for (const auto& m : v.GetObject()) {
      const std::string key = Name(m.name);
      const Value& x = m.value;
      const std::string at = where + "." + key;
      if (key == "type") {
        if (!x.IsString()) return Fail(at, "must be a string");
        const std::string t = Name(x);
        if (t == "string") field->type = Type::String;
        else if (t == "integer") field->type = Type::Integer;
        else if (t == "number") field->type = Type::Number;
        else if (t == "boolean") field->type = Type::Boolean;
        else if (t == "array") field->type = Type::Array;
        else if (t == "object") field->type = Type::Object;
        else return Fail(at, "must be one of: string, integer, number, boolean, array, object");
      } else if (key == "minimum" || key == "maximum") {
        if (!x.IsNumber()) return Fail(at, "must be a number");
        (key == "minimum" ? field->minimum : field->maximum) = x.GetDouble();
      } else if (key == "enum") {
        if (!StringList(x, field->enumValues) || field->enumValues.empty()) {
          return Fail(at, "must be a non-empty list of strings");
        }
      } else if (key == "secret" || key == "file" || key == "appears_later" || key == "ignore_case") {
        if (!x.IsBool()) return Fail(at, "must be true or false");
        (key == "secret" ? field->secret : key == "file" ? field->file
                                       : key == "appears_later" ? field->appearsLater : field->ignoreCase) = x.GetBool();
      } else if (key == "default") {
        if (!x.IsString()) return Fail(at, "must be a string");
        field->defaultValue = Name(x);
      } else if (key == "default_from") {
        if (!DefaultFrom(x, field->defaultFrom)) {
          return Fail(at, "must be a list of { present = \"Key\", value = \"value\" }");
        }
      } else if (key == "reserved") {
        if (!StringList(x, field->reserved)) return Fail(at, "must be a list of names");
      } else if (key == "env") {
        if (!x.IsString() || x.GetStringLength() == 0) return Fail(at, "must be an environment variable name");
        field->env = Name(x);
      } else if (key == "file_refs") {
        if (!StringList(x, field->fileRefs)) return Fail(at, "must be a list of dotted JSON field names");
      } else if (key == "items" || key == "additionalProperties") {
        auto inner = Read(x, at);
        if (!inner.Ok()) return inner.GetError();
        (key == "items" ? field->items : field->additionalProperties) = std::move(inner).Value();
      } else if (key == "properties") {
        if (!x.IsObject() && !IsEmptyTable(x)) return Fail(at, "must be a table of key = field");
        if (x.IsObject()) {
          for (const auto& p : x.GetObject()) {
            auto inner = Read(p.value, at + "." + Name(p.name));
            if (!inner.Ok()) return inner.GetError();
            field->properties[Name(p.name)] = std::move(inner).Value();
          }
        }
      } else if (key == "required") {
        std::vector<std::string> ignored;  // nested objects (policy configurations): informative
        if (!StringList(x, ignored)) return Fail(at, "must be a list of key names");
      } else if (key != "description") {
        return Fail(at, "unknown schema attribute (known: type, minimum, maximum, enum, ignore_case, default, "
                        "default_from, items, properties, additionalProperties, reserved, required, secret, file, "
                        "appears_later, env, file_refs, description)");
      }
    }
    const bool number = field->type == Type::Integer || field->type == Type::Number;
    if ((field->minimum || field->maximum) && !number) return Fail(where, "minimum/maximum need type integer or number");
    if (!field->enumValues.empty() && field->type != Type::String) return Fail(where, "enum needs type string");
    if ((field->secret || field->file) && field->type != Type::String) {
      return Fail(where, "secret and file keys must have type string");
    }
    if ((field->appearsLater || !field->fileRefs.empty()) && !field->file) {
      return Fail(where, "appears_later and file_refs need file = true");
    }
    if (field->ignoreCase && field->enumValues.empty()) return Fail(where, "ignore_case needs enum");
    if ((field->defaultValue || !field->defaultFrom.empty()) && field->type != Type::String) {
      return Fail(where, "default and default_from need type string");
    }
    if (!field->enumValues.empty()) {
      std::vector<std::string> defaults;
      if (field->defaultValue) defaults.push_back(*field->defaultValue);
      for (const auto& [present, value] : field->defaultFrom) defaults.push_back(value);
      for (const auto& value : defaults) {
        if (EnumMatch(*field, value) == nullptr) return Fail(where, "default value '" + value + "' is not in enum");
      }
    }
    if (!field->reserved.empty() && field->type != Type::Object) return Fail(where, "reserved needs type object");
    return std::shared_ptr<const SchemaField>(std::move(field));
  }

  static bool StringList(const Value& v, std::vector<std::string>& out) {
    if (IsEmptyTable(v)) return true;
    if (!v.IsArray()) return false;
    for (const Value& item : v.GetArray()) {
      if (!item.IsString() || item.GetStringLength() == 0) return false;
      out.push_back(Name(item));
    }
    return true;
  }

  // [{ present = "Key", value = "v" }, ...]
  static bool DefaultFrom(const Value& v, std::vector<std::pair<std::string, std::string>>& out) {
    if (IsEmptyTable(v)) return true;
    if (!v.IsArray()) return false;
    for (const Value& item : v.GetArray()) {
      if (!item.IsObject() || item.MemberCount() != 2) return false;
      const auto present = item.FindMember("present");
      const auto value = item.FindMember("value");
      if (present == item.MemberEnd() || value == item.MemberEnd() || !present->value.IsString() ||
          !value->value.IsString() || present->value.GetStringLength() == 0) {
        return false;
      }
      out.emplace_back(Name(present->value), Name(value->value));
    }
    return true;
  }

  static Error Fail(const std::string& where, const std::string& what) { return MakeError("LUA-003", where + ": " + what); }
};

// { Key = "v" or { "v", "w" }, ... }: the keys must be properties of the schema (a misspelt key
// would silently turn the rule off).
Result<std::vector<std::pair<std::string, std::vector<std::string>>>> KeyValues(
    const Value& v, const std::string& at, const std::map<std::string, std::shared_ptr<const SchemaField>>& properties) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  if (!v.IsObject() || v.MemberCount() == 0) {
    return MakeError("LUA-003", at + ": must be a table such as { Key = \"value\" } or { Key = { \"a\", \"b\" } }");
  }
  for (const auto& m : v.GetObject()) {
    const std::string key = Name(m.name);
    if (properties.count(key) == 0) return MakeError("LUA-003", at + "." + key + ": not a key of schema.properties");
    std::vector<std::string> values;
    if (m.value.IsString()) values.push_back(Name(m.value));
    else if (!FieldReader::StringList(m.value, values) || values.empty()) {
      return MakeError("LUA-003", at + "." + key + ": must be a value or a non-empty list of values");
    }
    out.emplace_back(key, std::move(values));
  }
  return out;
}

Result<std::vector<SchemaRule>> ReadRules(const Value& v,
                                          const std::map<std::string, std::shared_ptr<const SchemaField>>& properties) {
  std::vector<SchemaRule> rules;
  if (IsEmptyTable(v)) return rules;
  if (!v.IsArray()) return MakeError("LUA-003", "schema.rules: must be a list of { when = ..., required = ... }");
  size_t index = 0;
  for (const Value& item : v.GetArray()) {
    const std::string at = "schema.rules[" + std::to_string(++index) + "]";  // Lua counts from 1
    if (!item.IsObject()) return MakeError("LUA-003", at + ": must be a table { when = ..., required = ... }");
    SchemaRule rule;
    for (const auto& m : item.GetObject()) {
      const std::string key = Name(m.name);
      if (key == "when" || key == "allowed") {
        auto values = KeyValues(m.value, at + "." + key, properties);
        if (!values.Ok()) return values.GetError();
        (key == "when" ? rule.when : rule.allowed) = std::move(values).Value();
      } else if (key == "required") {
        if (!FieldReader::StringList(m.value, rule.required)) return MakeError("LUA-003", at + ".required: must be a list of key names");
      } else if (key != "description") {
        return MakeError("LUA-003", at + "." + key + ": unknown rule attribute (known: when, required, allowed, description)");
      }
    }
    if (rule.when.empty()) return MakeError("LUA-003", at + ": needs when");
    if (rule.required.empty() && rule.allowed.empty()) return MakeError("LUA-003", at + ": needs required or allowed");
    rules.push_back(std::move(rule));
  }
  return rules;
}

bool IsInteger(const Value& v) {
  if (v.IsInt64() || v.IsUint64()) return true;
  return v.IsDouble() && std::isfinite(v.GetDouble()) && std::trunc(v.GetDouble()) == v.GetDouble();
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

const char* ToString(SchemaField::Type type) {
  switch (type) {
    case Type::Any: return "any";
    case Type::String: return "string";
    case Type::Integer: return "integer";
    case Type::Number: return "number";
    case Type::Boolean: return "boolean";
    case Type::Array: return "array";
    case Type::Object: return "object";
  }
  return "?";
}

Result<ContractSchema> ContractSchema::FromJson(const Value& schema) {
  ContractSchema out;
  if (IsEmptyTable(schema)) return out;
  if (!schema.IsObject()) return MakeError("LUA-003", "schema: must be a table");
  FieldReader reader;
  const Value* rules = nullptr;  // read last: they name properties
  for (const auto& m : schema.GetObject()) {
    const std::string key = Name(m.name);
    const Value& x = m.value;
    if (key == "type") {
      if (!x.IsString() || Name(x) != "object") return MakeError("LUA-003", "schema.type: must be \"object\"");
    } else if (key == "properties") {
      if (IsEmptyTable(x)) continue;
      if (!x.IsObject()) return MakeError("LUA-003", "schema.properties: must be a table of key = field");
      for (const auto& p : x.GetObject()) {
        auto field = reader.Read(p.value, "schema.properties." + Name(p.name));
        if (!field.Ok()) return field.GetError();
        out.properties_[Name(p.name)] = std::move(field).Value();
      }
    } else if (key == "required") {
      if (!FieldReader::StringList(x, out.required_)) return MakeError("LUA-003", "schema.required: must be a list of key names");
    } else if (key == "env") {
      if (IsEmptyTable(x)) continue;
      if (!x.IsObject()) return MakeError("LUA-003", "schema.env: must be a table of NAME = { secret = ..., file = ... }");
      for (const auto& e : x.GetObject()) {
        const std::string at = "schema.env." + Name(e.name);
        SchemaEnv env;
        if (e.value.IsObject()) {
          for (const auto& a : e.value.GetObject()) {
            const std::string attribute = Name(a.name);
            if ((attribute != "secret" && attribute != "file" && attribute != "description") ||
                (attribute != "description" && !a.value.IsBool())) {
              return MakeError("LUA-003", at + "." + attribute + ": only secret = true/false, file = true/false");
            }
            if (attribute == "secret") env.secret = a.value.GetBool();
            if (attribute == "file") env.file = a.value.GetBool();
          }
        } else if (!IsEmptyTable(e.value)) {
          return MakeError("LUA-003", at + ": must be a table such as { secret = true } (or {})");
        }
        out.env_[Name(e.name)] = env;
      }
    } else if (key == "rules") {
      rules = &x;
    } else if (key != "description" && key != "additionalProperties") {
      return MakeError("LUA-003", "schema." + key +
                                      ": unknown schema attribute (known: type, properties, required, env, rules, "
                                      "additionalProperties, description)");
    }
  }
  if (rules != nullptr) {
    auto read = ReadRules(*rules, out.properties_);
    if (!read.Ok()) return read.GetError();
    out.rules_ = std::move(read).Value();
  }
  return out;
}

std::optional<std::string> ContractSchema::Effective(const std::string& key, const Value& object) const {
  const SchemaField* field = Find(key);
  if (field == nullptr) return std::nullopt;
  const auto it = object.FindMember(key.c_str());
  if (it != object.MemberEnd()) {
    if (!it->value.IsString()) return std::nullopt;
    const std::string text = Name(it->value);
    const std::string* spelling = EnumMatch(*field, text);
    return spelling != nullptr ? *spelling : text;
  }
  for (const auto& [present, value] : field->defaultFrom) {
    if (object.HasMember(present.c_str())) return value;
  }
  return field->defaultValue;
}

void ContractSchema::CheckRules(const Value& object, const std::string& path, std::vector<Diagnostic>& out) const {
  if (!object.IsObject()) return;
  for (const SchemaRule& rule : rules_) {
    std::string because;  // "ClientAuthMethod private_key_jwt", with how a default was decided
    bool applies = true;
    for (const auto& [key, values] : rule.when) {
      const std::optional<std::string> value = Effective(key, object);
      applies = value && std::find(values.begin(), values.end(), *value) != values.end();
      if (!applies) break;
      because += (because.empty() ? "" : " and ") + key + " " + *value;
      if (!object.HasMember(key.c_str())) {
        const SchemaField& field = *Find(key);
        std::string from;
        for (const auto& [present, v] : field.defaultFrom) {
          if (from.empty() && object.HasMember(present.c_str())) from = present;
        }
        if (!from.empty()) {
          because += " (decided by " + from + ")";
        } else {
          std::vector<std::string> keys;
          for (const auto& [present, v] : field.defaultFrom) keys.push_back(present);
          because += keys.empty() ? " (the default)" : " (the default: none of " + Join(keys) + " is set)";
        }
      }
    }
    if (!applies) continue;
    for (const std::string& key : rule.required) {
      if (!object.HasMember(key.c_str())) out.push_back({Severity::Error, "CFG-001", JoinPath(path, key), "required by " + because});
    }
    for (const auto& [key, values] : rule.allowed) {
      if (!object.HasMember(key.c_str())) continue;
      const std::optional<std::string> value = Effective(key, object);
      if (value && std::find(values.begin(), values.end(), *value) == values.end()) {
        out.push_back({Severity::Error, "CFG-002", JoinPath(path, key), "must be one of: " + Join(values) + " with " + because});
      }
    }
  }
}

void ContractSchema::Complete(Value& object, rapidjson::Document::AllocatorType& allocator) const {
  if (!object.IsObject()) return;
  for (const auto& [key, field] : properties_) {
    if (field->type != Type::String || (!field->ignoreCase && !field->defaultValue && field->defaultFrom.empty())) continue;
    const std::optional<std::string> value = Effective(key, object);
    if (!value) continue;
    const auto it = object.FindMember(key.c_str());
    if (it != object.MemberEnd()) {
      if (it->value.IsString() && EnumMatch(*field, *value) != nullptr) {
        it->value.SetString(value->c_str(), static_cast<rapidjson::SizeType>(value->size()), allocator);
      }
    } else {
      object.AddMember(Value(key.c_str(), allocator), Value(value->c_str(), static_cast<rapidjson::SizeType>(value->size()), allocator),
                       allocator);
    }
  }
}

const SchemaField* ContractSchema::Find(const std::string& key) const {
  const auto it = properties_.find(key);
  return it == properties_.end() ? nullptr : it->second.get();
}

void ContractSchema::CheckValue(const SchemaField& field, const Value& value, const std::string& path,
                                std::vector<Diagnostic>& out) {
  auto error = [&](const std::string& message) { out.push_back({Severity::Error, "CFG-002", path, message}); };
  switch (field.type) {
    case Type::Any:
      return;
    case Type::String:
      if (!value.IsString()) return error("must be a string");
      if (!field.enumValues.empty() && EnumMatch(field, Name(value)) == nullptr) {
        error("must be one of: " + Join(field.enumValues) + (field.ignoreCase ? " (case-insensitive)" : ""));
      }
      return;
    case Type::Boolean:
      if (!value.IsBool()) error("must be true or false");
      return;
    case Type::Integer:
    case Type::Number: {
      const bool integer = field.type == Type::Integer;
      if (!value.IsNumber() || (integer && !IsInteger(value))) return error(integer ? "must be an integer" : "must be a number");
      const double x = value.GetDouble();
      if ((field.minimum && x < *field.minimum) || (field.maximum && x > *field.maximum)) {
        std::string range = field.minimum && field.maximum
                                ? "between " + ShortNumber(*field.minimum) + " and " + ShortNumber(*field.maximum)
                            : field.minimum ? "at least " + ShortNumber(*field.minimum)
                                            : "at most " + ShortNumber(*field.maximum);
        error("must be " + range + " (got " + ShortNumber(x) + ")");
      }
      return;
    }
    case Type::Array:
      if (!value.IsArray()) return error("must be an array");
      if (field.items) {
        size_t index = 0;
        for (const Value& item : value.GetArray()) CheckValue(*field.items, item, JoinIndex(path, index++), out);
      }
      return;
    case Type::Object:
      if (!value.IsObject()) return error("must be a JSON object");
      for (const auto& m : value.GetObject()) {
        const std::string name = Name(m.name);
        for (const auto& reserved : field.reserved) {
          if (Lower(reserved) == Lower(name)) {
            out.push_back({Severity::Error, "CFG-002", JoinPath(path, name),
                           "is set by the provider from its other keys; remove it here"});
          }
        }
        const auto named = field.properties.find(name);
        if (named != field.properties.end()) CheckValue(*named->second, m.value, JoinPath(path, name), out);
        else if (field.additionalProperties) CheckValue(*field.additionalProperties, m.value, JoinPath(path, name), out);
      }
      return;
  }
}

}  // namespace gw::config
