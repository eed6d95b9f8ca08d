#include "gw/config/ContractSchema.h"

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
      } else if (key == "secret" || key == "file" || key == "appears_later") {
        if (!x.IsBool()) return Fail(at, "must be true or false");
        (key == "secret" ? field->secret : key == "file" ? field->file : field->appearsLater) = x.GetBool();
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
        return Fail(at, "unknown schema attribute (known: type, minimum, maximum, enum, items, properties, "
                        "additionalProperties, required, secret, file, appears_later, env, file_refs, description)");
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

  static Error Fail(const std::string& where, const std::string& what) { return MakeError("LUA-003", where + ": " + what); }
};

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
    } else if (key != "description" && key != "additionalProperties") {
      return MakeError("LUA-003", "schema." + key +
                                      ": unknown schema attribute (known: type, properties, required, env, "
                                      "additionalProperties, description)");
    }
  }
  return out;
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
      if (!field.enumValues.empty()) {
        const std::string text = Name(value);
        bool found = false;
        for (const auto& e : field.enumValues) found = found || e == text;
        if (!found) error("must be one of: " + Join(field.enumValues));
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
        const auto named = field.properties.find(name);
        if (named != field.properties.end()) CheckValue(*named->second, m.value, JoinPath(path, name), out);
        else if (field.additionalProperties) CheckValue(*field.additionalProperties, m.value, JoinPath(path, name), out);
      }
      return;
  }
}

}  // namespace gw::config
