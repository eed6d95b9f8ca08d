#include "gw/audit/AuditCheckpoint.h"

#include <fstream>
#include <optional>

#include "gw/common/Json.h"

namespace gw::audit {

const char* const kCheckpointMarker = "audit checkpoint ";

namespace {

// A checkpoint line is a few hundred bytes; anything longer after the marker is not one of ours.
constexpr size_t kMaxCheckpointBytes = 4096;

bool IsHex64(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

Error Bad(const std::string& where, const std::string& message) {
  return MakeError("AUD-015", where + ": " + message, 400);
}

std::string Member(const rapidjson::Value& o, const char* name) {
  auto it = o.FindMember(name);
  return it != o.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength())
                                                     : std::string();
}

}  // namespace

std::string FormatCheckpoint(const Checkpoint& c) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("chain", rapidjson::Value(c.chain.c_str(), a), a);
  d.AddMember("file", rapidjson::Value(c.file.c_str(), a), a);
  d.AddMember("seq", rapidjson::Value(static_cast<uint64_t>(c.seq)), a);
  d.AddMember(rapidjson::StringRef(c.keyed ? "mac" : "hash"), rapidjson::Value(c.link.c_str(), a), a);
  if (c.keyed) d.AddMember("kid", rapidjson::Value(c.kid.c_str(), a), a);
  d.AddMember("time", rapidjson::Value(c.time.c_str(), a), a);
  return json::Canonical(d);
}

Result<Checkpoint> ParseCheckpointArgument(std::string_view text) {
  const size_t colon = text.find(':');
  const std::string where = "--checkpoint";
  if (colon == std::string_view::npos) return Bad(where, "expected SEQ:MAC (the seq and mac of a checkpoint)");
  const std::string seq(text.substr(0, colon));
  const std::string_view link = text.substr(colon + 1);
  if (seq.empty() || seq.size() > 19 || seq.find_first_not_of("0123456789") != std::string::npos || seq == "0") {
    return Bad(where, "the seq before ':' must be a positive integer");
  }
  if (!IsHex64(link)) return Bad(where, "the mac after ':' must be 64 lower-case hex digits");
  Checkpoint c;
  c.seq = std::stoull(seq);
  c.link = std::string(link);
  c.origin = where;
  return c;
}

namespace {

// The checkpoint of one line, none when the line holds no marker followed by a JSON object.
Result<std::optional<Checkpoint>> ParseLine(std::string_view line, const std::string& where) {
  const size_t marker = line.find(kCheckpointMarker);
  if (marker == std::string_view::npos) return std::optional<Checkpoint>();
  std::string_view body = line.substr(marker + std::string_view(kCheckpointMarker).size());
  while (!body.empty() && (body.back() == '\r' || body.back() == ' ')) body.remove_suffix(1);
  if (body.empty() || body.front() != '{') return std::optional<Checkpoint>();  // a message mentioning checkpoints
  if (body.size() > kMaxCheckpointBytes) return Bad(where, "checkpoint longer than 4 KiB");
  auto parsed = json::Parse(body, "AUD-015");
  if (!parsed.Ok()) return Bad(where, "checkpoint is not valid JSON (" + parsed.GetError().message + ")");
  const rapidjson::Document& d = parsed.Value();
  if (!d.IsObject()) return Bad(where, "checkpoint is not a JSON object");
  Checkpoint c;
  auto seq = d.FindMember("seq");
  if (seq == d.MemberEnd() || !seq->value.IsUint64() || seq->value.GetUint64() == 0) {
    return Bad(where, "checkpoint without a positive `seq`");
  }
  c.seq = seq->value.GetUint64();
  c.keyed = d.HasMember("mac");
  c.link = Member(d, c.keyed ? "mac" : "hash");
  if (!IsHex64(c.link)) return Bad(where, "checkpoint without a 64-hex-digit `mac` or `hash`");
  c.chain = Member(d, "chain");
  if (!IsHex64(c.chain)) return Bad(where, "checkpoint without a 64-hex-digit `chain`");
  c.file = Member(d, "file");
  c.kid = Member(d, "kid");
  c.time = Member(d, "time");
  c.origin = where;
  return std::optional<Checkpoint>(std::move(c));
}

}  // namespace

Result<std::vector<Checkpoint>> ParseCheckpoints(std::string_view text, const std::string& origin) {
  std::vector<Checkpoint> out;
  size_t start = 0;
  uint64_t lineNo = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++lineNo;
    auto found = ParseLine(line, origin + ":" + std::to_string(lineNo));
    if (!found.Ok()) return found.GetError();
    if (found.Value()) out.push_back(std::move(*found.Value()));
  }
  return out;
}

Result<std::vector<Checkpoint>> ReadCheckpointFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("AUD-015", "cannot open the checkpoint source " + path, 400);
  std::vector<Checkpoint> out;
  std::string line;
  uint64_t lineNo = 0;
  // Line by line, in constant memory: an Orthanc log can be large.
  while (std::getline(in, line)) {
    ++lineNo;
    auto found = ParseLine(line, path + ":" + std::to_string(lineNo));
    if (!found.Ok()) return found.GetError();
    if (found.Value()) out.push_back(std::move(*found.Value()));
  }
  if (in.bad()) return MakeError("AUD-015", "cannot read the checkpoint source " + path, 400);
  return out;
}

}  // namespace gw::audit
