#include "gw/config/ConfigLoader.h"


#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "gw/common/Json.h"
#include "gw/config/JsonPath.h"

namespace gw::config {
namespace {

namespace fs = std::filesystem;

Diagnostic MakeDiagnostic(Severity severity, std::string path, std::string message) {
  return Diagnostic{severity, "CFG-005", std::move(path), std::move(message)};
}

std::string Position(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  size_t line = 1;
  size_t lineStart = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      lineStart = i + 1;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(offset - lineStart + 1) +
         " (offset " + std::to_string(offset) + ")";
}

// JsonCpp (Orthanc) keeps the last value of a repeated key; RapidJSON keeps all of them and finds
// the first. Drop the earlier ones so that both read the same configuration.
void DropRepeatedKeys(rapidjson::Value& value, const std::string& path, const std::string& file,
                      std::vector<Diagnostic>& diagnostics) {
  if (value.IsObject()) {
    std::set<std::string> seen;
    for (auto it = value.MemberEnd(); it != value.MemberBegin();) {
      --it;
      std::string name(it->name.GetString(), it->name.GetStringLength());
      if (!seen.insert(name).second) {
        diagnostics.push_back(MakeDiagnostic(
            Severity::Warning, JoinPath(path, name),
            "key repeated in the same object of " + file + "; Orthanc keeps the last value"));
        it = value.EraseMember(it);
      }
    }
    for (auto& member : value.GetObject()) {
      DropRepeatedKeys(member.value, JoinPath(path, member.name.GetString()), file, diagnostics);
    }
  } else if (value.IsArray()) {
    size_t index = 0;
    for (auto& item : value.GetArray()) DropRepeatedKeys(item, JoinIndex(path, index++), file, diagnostics);
  }
}

bool ReadFile(const fs::path& file, std::string& content) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return false;
  content = buffer.str();
  return true;
}

std::string LowerExtension(const fs::path& file) {
  std::string ext = file.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

}  // namespace

std::shared_ptr<rapidjson::Document> ConfigLoader::ParseText(const std::string& text,
                                                             const std::string& fileLabel,
                                                             std::vector<Diagnostic>& diagnostics) {
  std::string_view body(text);
  size_t skipped = 0;
  if (body.size() >= 3 && body.substr(0, 3) == "\xEF\xBB\xBF") {
    body.remove_prefix(3);
    skipped = 3;
  }
  // Orthanc's dialect (comments, trailing commas, nothing read after the root), with the shared bounds.
  json::ParseOptions options;
  options.allowComments = true;
  options.stopWhenDone = true;
  options.validateEncoding = false;  // as Orthanc, which reads the bytes as they are
  json::ParseFailure failure;
  auto parsed = json::Parse(body, "CFG-001", options, &failure);
  if (!parsed.Ok()) {
    diagnostics.push_back(MakeDiagnostic(Severity::Error, fileLabel,
                                         "not valid JSON at " + Position(text, failure.offset + skipped) + ": " +
                                             failure.reason));
    return nullptr;
  }
  auto doc = std::make_shared<rapidjson::Document>(std::move(parsed).Value());
  if (!doc->IsObject()) {
    diagnostics.push_back(MakeDiagnostic(Severity::Error, fileLabel,
                                         "the root of a configuration file must be a JSON object"));
    return nullptr;
  }
  DropRepeatedKeys(*doc, "", fileLabel, diagnostics);
  return doc;
}

LoadResult ConfigLoader::Load(const std::string& path, const EnvLookup& env) {
  LoadResult result;
  std::error_code ec;
  const fs::path input(path);
  const fs::file_status status = fs::status(input, ec);
  if (ec || !fs::exists(status)) {
    result.diagnostics.push_back(
        MakeDiagnostic(Severity::Error, path, "cannot read the configuration: no such file or folder"));
    return result;
  }
  const fs::path absolute = fs::absolute(input, ec).lexically_normal();

  std::vector<fs::path> files;
  if (fs::is_directory(status)) {
    result.baseDirectory = absolute.string();
    for (fs::directory_iterator it(input, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code entryEc;
      if (fs::is_regular_file(it->status(entryEc)) && LowerExtension(it->path()) == ".json") {
        files.push_back(it->path());
      }
    }
    if (ec) {
      result.diagnostics.push_back(
          MakeDiagnostic(Severity::Error, path, "cannot list the configuration folder: " + ec.message()));
      return result;
    }
    // Orthanc takes directory order, which is unspecified; sorting keeps our reports stable and
    // the outcome is the same since a key may appear in one file only.
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      result.diagnostics.push_back(MakeDiagnostic(
          Severity::Warning, path, "the configuration folder holds no *.json file; Orthanc uses its defaults"));
    }
  } else {
    result.baseDirectory = absolute.parent_path().string();
    files.push_back(input);
  }

  auto merged = std::make_shared<rapidjson::Document>();
  merged->SetObject();
  std::map<std::string, std::string> definedIn;  // top-level key -> file
  bool failed = false;
  for (const fs::path& file : files) {
    const std::string label = file.string();
    result.files.push_back(label);
    std::string raw;
    if (!ReadFile(file, raw)) {
      result.diagnostics.push_back(MakeDiagnostic(Severity::Error, label, "cannot read the file"));
      failed = true;
      continue;
    }
    SubstitutionResult substituted = VariableSubstitution::Substitute(raw, env);
    for (size_t offset : substituted.emptyNames) {
      result.diagnostics.push_back(MakeDiagnostic(
          Severity::Error, label,
          "a ${} reference without a variable name at " + Position(raw, offset) +
              ": Orthanc refuses to load such a file"));
      failed = true;
    }
    result.variables.Merge(VariableSubstitution::MapPaths(raw, substituted.matches));
    std::shared_ptr<rapidjson::Document> doc = ParseText(substituted.text, label, result.diagnostics);
    if (!doc) {
      if (!substituted.matches.empty() && HasErrors(result.diagnostics)) {
        result.diagnostics.back().message +=
            " (position in the text after ${VAR} substitution; a value containing a quote or a "
            "backslash can break the JSON)";
      }
      failed = true;
      continue;
    }
    for (auto& member : doc->GetObject()) {
      std::string key(member.name.GetString(), member.name.GetStringLength());
      auto [it, inserted] = definedIn.emplace(key, label);
      if (!inserted) {
        result.diagnostics.push_back(MakeDiagnostic(
            Severity::Error, key,
            "defined in both " + it->second + " and " + label + ": Orthanc refuses to start"));
        failed = true;
        continue;
      }
      rapidjson::Value name(member.name, merged->GetAllocator());
      rapidjson::Value value(member.value, merged->GetAllocator());
      merged->AddMember(name, value, merged->GetAllocator());
    }
  }
  if (!failed) result.document = std::move(merged);
  return result;
}

}  // namespace gw::config
