#include "gw/proxy/MultipartReader.h"

#include <algorithm>
#include <cctype>

#include "gw/proxy/ProxyErrors.h"

namespace gw::proxy {

namespace {

constexpr size_t kMaxPadding = 1024;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view TrimView(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

// RFC 2046 bchars, which are what a boundary may contain.
bool IsBoundaryChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

}  // namespace

MultipartReader::MultipartReader(std::string boundary, size_t maxPartBytes, size_t maxHeaderBytes)
    : dashBoundary_("--" + boundary),
      delimiter_("\r\n--" + boundary),
      maxPartBytes_(maxPartBytes),
      maxHeaderBytes_(maxHeaderBytes) {}

std::string MultipartReader::MediaTypeOf(std::string_view contentType) {
  const size_t semi = contentType.find(';');
  return Lower(TrimView(contentType.substr(0, semi)));
}

std::optional<std::string> MultipartReader::ParameterOf(std::string_view contentType, std::string_view name) {
  size_t pos = contentType.find(';');
  while (pos != std::string_view::npos) {
    ++pos;
    while (pos < contentType.size() && (contentType[pos] == ' ' || contentType[pos] == '\t')) ++pos;
    const size_t eq = contentType.find('=', pos);
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string key = Lower(TrimView(contentType.substr(pos, eq - pos)));
    size_t v = eq + 1;
    std::string value;
    if (v < contentType.size() && contentType[v] == '"') {
      ++v;
      while (v < contentType.size() && contentType[v] != '"') {
        if (contentType[v] == '\\' && v + 1 < contentType.size()) ++v;
        value.push_back(contentType[v]);
        ++v;
      }
      if (v >= contentType.size()) return std::nullopt;  // unterminated quoted string
      ++v;
      pos = contentType.find(';', v);
    } else {
      const size_t end = contentType.find(';', v);
      value = std::string(TrimView(contentType.substr(v, end == std::string_view::npos ? std::string_view::npos : end - v)));
      pos = end;
    }
    if (key == name) return value;
  }
  return std::nullopt;
}

Result<std::string> MultipartReader::BoundaryOf(std::string_view contentType) {
  if (MediaTypeOf(contentType).rfind("multipart/", 0) != 0) return UpstreamMalformed("not a multipart answer");
  auto boundary = ParameterOf(contentType, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > 70) {
    return UpstreamMalformed("multipart answer without a valid boundary");
  }
  if (!std::all_of(boundary->begin(), boundary->end(), IsBoundaryChar) || boundary->back() == ' ') {
    return UpstreamMalformed("multipart boundary with invalid characters");
  }
  return *boundary;
}

Status MultipartReader::Fail(std::string why) {
  state_ = State::Failed;
  error_ = UpstreamMalformed(std::move(why));
  buffer_.clear();
  part_ = Part{};
  return error_;
}

Status MultipartReader::ParseHeaders(std::string_view block) {
  size_t pos = 0;
  while (pos < block.size()) {
    size_t end = block.find("\r\n", pos);
    if (end == std::string_view::npos) end = block.size();
    const std::string_view line = block.substr(pos, end - pos);
    pos = end + 2;
    if (line.empty()) continue;
    if ((line[0] == ' ' || line[0] == '\t') && !part_.headers.empty()) {  // obsolete folding
      part_.headers.back().second += " " + std::string(TrimView(line));
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return Fail("malformed part header line");
    const std::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 0x21 || c == 0x7f) {
        return Fail("malformed part header name");
      }
    }
    part_.headers.emplace_back(Lower(name), std::string(TrimView(line.substr(colon + 1))));
  }
  return Status::Success();
}

Status MultipartReader::Step(const PartHandler& onPart, bool& progressed) {
  progressed = false;
  switch (state_) {
    case State::Preamble: {
      if (atStart_) {
        const size_t n = std::min(buffer_.size(), dashBoundary_.size());
        if (buffer_.compare(0, n, dashBoundary_, 0, n) == 0) {
          if (n < dashBoundary_.size()) return Status::Success();  // need more bytes to decide
          buffer_.erase(0, dashBoundary_.size());
          state_ = State::AfterDelimiter;
          progressed = true;
          return Status::Success();
        }
        atStart_ = false;
      }
      const size_t at = buffer_.find(delimiter_);
      if (at != std::string::npos) {
        buffer_.erase(0, at + delimiter_.size());
        state_ = State::AfterDelimiter;
        progressed = true;
      } else if (buffer_.size() >= delimiter_.size()) {
        buffer_.erase(0, buffer_.size() - (delimiter_.size() - 1));  // keep a possible split delimiter
      }
      return Status::Success();
    }
    case State::AfterDelimiter: {
      if (buffer_.size() < 2) return Status::Success();
      if (buffer_[0] == '-' && buffer_[1] == '-') {
        state_ = State::Epilogue;
        buffer_.clear();
        progressed = true;
        return Status::Success();
      }
      size_t i = 0;
      while (i < buffer_.size() && (buffer_[i] == ' ' || buffer_[i] == '\t')) ++i;
      if (i > kMaxPadding) return Fail("transport padding too long");
      if (i + 2 > buffer_.size()) {
        if (i < buffer_.size() && buffer_[i] != '\r') return Fail("malformed multipart delimiter line");
        return Status::Success();
      }
      if (buffer_[i] != '\r' || buffer_[i + 1] != '\n') return Fail("malformed multipart delimiter line");
      buffer_.erase(0, i + 2);
      state_ = State::Headers;
      progressed = true;
      return Status::Success();
    }
    case State::Headers: {
      if (buffer_.size() < 2) return Status::Success();
      size_t blockEnd;
      size_t consumed;
      if (buffer_[0] == '\r' && buffer_[1] == '\n') {
        blockEnd = 0;  // a part without headers
        consumed = 2;
      } else {
        const size_t at = buffer_.find("\r\n\r\n");
        if (at == std::string::npos) {
          // Up to 3 bytes of the end marker may already be here: a block of maxHeaderBytes_ must not
          // fail or pass depending on how the network cut it (found by fuzz/fuzz_multipart).
          if (buffer_.size() > maxHeaderBytes_ + 3) return Fail("part headers larger than " + std::to_string(maxHeaderBytes_) + " bytes");
          return Status::Success();
        }
        if (at > maxHeaderBytes_) return Fail("part headers larger than " + std::to_string(maxHeaderBytes_) + " bytes");
        blockEnd = at;
        consumed = at + 4;
      }
      if (auto s = ParseHeaders(std::string_view(buffer_).substr(0, blockEnd)); !s) return s;
      // The rest is body: it goes into the part, where the delimiter is searched. Copied, not
      // swapped: both strings keep their capacity from one part to the next, so a study of
      // equal-sized instances reuses one part buffer instead of growing a new one per part (each
      // regrowth left freed blocks behind in the allocator: see docs/PERFORMANCE.md, "Memory").
      part_.body.assign(buffer_, consumed, std::string::npos);
      buffer_.clear();
      scanFrom_ = 0;
      state_ = State::Body;
      progressed = true;
      return Status::Success();
    }
    case State::Body: {
      const size_t at = part_.body.find(delimiter_, scanFrom_);
      if (at == std::string::npos) {
        if (part_.body.size() >= delimiter_.size()) scanFrom_ = part_.body.size() - (delimiter_.size() - 1);
        if (scanFrom_ > maxPartBytes_) return Fail("part larger than " + std::to_string(maxPartBytes_) + " bytes");
        return Status::Success();
      }
      if (at > maxPartBytes_) return Fail("part larger than " + std::to_string(maxPartBytes_) + " bytes");
      buffer_.assign(part_.body, at + delimiter_.size(), std::string::npos);
      part_.body.resize(at);
      ++parts_;
      Status handled = onPart(part_);
      part_.headers.clear();
      part_.body.clear();  // keeps its capacity for the next part
      scanFrom_ = 0;
      state_ = State::AfterDelimiter;
      if (!handled) {
        state_ = State::Failed;
        error_ = handled.GetError();
        buffer_.clear();
        return handled;
      }
      progressed = true;
      return Status::Success();
    }
    case State::Epilogue:
      buffer_.clear();
      return Status::Success();
    case State::Failed:
      return error_;
  }
  return Status::Success();
}

Status MultipartReader::Feed(std::string_view data, const PartHandler& onPart) {
  if (state_ == State::Failed) return error_;
  if (state_ == State::Epilogue) return Status::Success();
  if (state_ == State::Body) {
    part_.body.append(data);
  } else {
    buffer_.append(data);
  }
  bool progressed = true;
  while (progressed) {
    if (auto s = Step(onPart, progressed); !s) return s;
  }
  return Status::Success();
}

Status MultipartReader::Finish() {
  if (state_ == State::Failed) return error_;
  if (state_ != State::Epilogue) return Fail("the multipart answer ended without its closing boundary");
  return Status::Success();
}

}  // namespace gw::proxy
