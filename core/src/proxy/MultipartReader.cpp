#include "gw/proxy/MultipartReader.h"

#include <algorithm>
#include <cctype>

#include "gw/proxy/ProxyErrors.h"

namespace gw::proxy {

namespace {

constexpr size_t kMaxPadding = 1024;
// A declared length reserves the part buffer up to this much at once; a larger part grows it as it
// arrives (a lying length must not make the reader ask for gigabytes it will never fill).
constexpr size_t kMaxReserve = 64 * 1024 * 1024;

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

MultipartReader::MultipartReader(const std::string& boundary, size_t maxPartBytes, size_t maxHeaderBytes)
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

Status MultipartReader::Fail(const std::string& why) {
  state_ = State::Failed;
  error_ = UpstreamMalformed(why);
  ClearBuffer();
  part_ = Part{};
  expected_.reset();
  return error_;
}

std::optional<size_t> MultipartReader::DeclaredLength() const {
  std::optional<size_t> length;
  for (const auto& [name, value] : part_.headers) {
    if (name != "content-length") continue;
    // Digits only (no sign, no spaces inside), at most 19 of them: no overflow before the limit.
    if (value.empty() || value.size() > 19 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    const size_t n = static_cast<size_t>(std::stoull(value));
    if (n > maxPartBytes_ || (length && *length != n)) return std::nullopt;
    length = n;
  }
  return length;
}

void MultipartReader::StartSearch() {
  expected_.reset();
  part_.body.append(Pending());
  ClearBuffer();
  scanFrom_ = 0;
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
      const std::string_view pending = Pending();
      if (atStart_) {
        const size_t n = std::min(pending.size(), dashBoundary_.size());
        if (pending.compare(0, n, dashBoundary_, 0, n) == 0) {
          if (n < dashBoundary_.size()) return Status::Success();  // need more bytes to decide
          head_ += dashBoundary_.size();
          state_ = State::AfterDelimiter;
          progressed = true;
          return Status::Success();
        }
        atStart_ = false;
      }
      const size_t at = pending.find(delimiter_);
      if (at != std::string_view::npos) {
        head_ += at + delimiter_.size();
        state_ = State::AfterDelimiter;
        progressed = true;
      } else if (pending.size() >= delimiter_.size()) {
        head_ += pending.size() - (delimiter_.size() - 1);  // keep a possible split delimiter
      }
      return Status::Success();
    }
    case State::AfterDelimiter: {
      const std::string_view pending = Pending();
      if (pending.size() < 2) return Status::Success();
      if (pending[0] == '-' && pending[1] == '-') {
        state_ = State::Epilogue;
        ClearBuffer();
        progressed = true;
        return Status::Success();
      }
      size_t i = 0;
      while (i < pending.size() && (pending[i] == ' ' || pending[i] == '\t')) ++i;
      if (i > kMaxPadding) return Fail("transport padding too long");
      if (i + 2 > pending.size()) {
        if (i < pending.size() && pending[i] != '\r') return Fail("malformed multipart delimiter line");
        return Status::Success();
      }
      if (pending[i] != '\r' || pending[i + 1] != '\n') return Fail("malformed multipart delimiter line");
      head_ += i + 2;
      state_ = State::Headers;
      progressed = true;
      return Status::Success();
    }
    case State::Headers: {
      const std::string_view pending = Pending();
      if (pending.size() < 2) return Status::Success();
      size_t blockEnd;
      size_t consumed;
      if (pending[0] == '\r' && pending[1] == '\n') {
        blockEnd = 0;  // a part without headers
        consumed = 2;
      } else {
        const size_t at = pending.find("\r\n\r\n");
        if (at == std::string_view::npos) {
          // Up to 3 bytes of the end marker may already be here: a block of maxHeaderBytes_ must not
          // fail or pass depending on how the network cut it (found by fuzz/fuzz_multipart).
          if (pending.size() > maxHeaderBytes_ + 3) return Fail("part headers larger than " + std::to_string(maxHeaderBytes_) + " bytes");
          return Status::Success();
        }
        if (at > maxHeaderBytes_) return Fail("part headers larger than " + std::to_string(maxHeaderBytes_) + " bytes");
        blockEnd = at;
        consumed = at + 4;
      }
      if (auto s = ParseHeaders(pending.substr(0, blockEnd)); !s) return s;
      // The rest is body: it goes into the part. Copied, not swapped: both strings keep their
      // capacity from one part to the next, so a study of equal-sized instances reuses one part
      // buffer instead of growing a new one per part (each regrowth left freed blocks behind in the
      // allocator: see docs/PERFORMANCE.md, "Memory"). With a declared length only the part's own
      // bytes and its delimiter go there (the part buffer is reserved for them once, bounded); the
      // next parts stay in buffer_.
      const std::string_view rest = pending.substr(consumed);
      expected_ = DeclaredLength();
      scanFrom_ = 0;
      if (expected_) {
        const size_t need = *expected_ + delimiter_.size();
        if (part_.body.capacity() < need) part_.body.reserve(std::min(need, kMaxReserve));
        const size_t take = std::min(rest.size(), need);
        part_.body.assign(rest.data(), take);
        head_ += consumed + take;
      } else {
        part_.body.assign(rest.data(), rest.size());
        ClearBuffer();
      }
      state_ = State::Body;
      progressed = true;
      return Status::Success();
    }
    case State::Body: {
      if (expected_) {
        const size_t n = *expected_;
        if (part_.body.size() < n + delimiter_.size()) return Status::Success();  // Feed fills it first
        if (part_.body.compare(n, delimiter_.size(), delimiter_) != 0) {
          StartSearch();  // not where the length says: search the whole part, as without a length
          progressed = true;
          return Status::Success();
        }
        // The bytes after the delimiter are already in buffer_ (Feed appends there once the part
        // buffer holds n + delimiter bytes).
        part_.body.resize(n);
        expected_.reset();
        return Deliver(onPart, progressed);
      }
      const size_t at = part_.body.find(delimiter_, scanFrom_);
      if (at == std::string::npos) {
        if (part_.body.size() >= delimiter_.size()) scanFrom_ = part_.body.size() - (delimiter_.size() - 1);
        if (scanFrom_ > maxPartBytes_) return Fail("part larger than " + std::to_string(maxPartBytes_) + " bytes");
        return Status::Success();
      }
      if (at > maxPartBytes_) return Fail("part larger than " + std::to_string(maxPartBytes_) + " bytes");
      buffer_.assign(part_.body, at + delimiter_.size(), std::string::npos);
      head_ = 0;
      part_.body.resize(at);
      return Deliver(onPart, progressed);
    }
    case State::Epilogue:
      ClearBuffer();
      return Status::Success();
    case State::Failed:
      return error_;
  }
  return Status::Success();
}

Status MultipartReader::Deliver(const PartHandler& onPart, bool& progressed) {
  ++parts_;
  Status handled = onPart(part_);
  part_.headers.clear();
  part_.body.clear();  // keeps its capacity for the next part
  scanFrom_ = 0;
  state_ = State::AfterDelimiter;
  if (!handled) {
    state_ = State::Failed;
    error_ = handled.GetError();
    ClearBuffer();
    return handled;
  }
  progressed = true;
  return Status::Success();
}

Status MultipartReader::Run(const PartHandler& onPart) {
  bool progressed = true;
  while (progressed) {
    if (auto s = Step(onPart, progressed); !s) return s;
  }
  return Status::Success();
}

Status MultipartReader::Feed(std::string_view data, const PartHandler& onPart) {
  if (state_ == State::Failed) return error_;
  if (state_ == State::Epilogue) return Status::Success();
  if (state_ == State::Body && expected_) {
    // The part buffer takes the declared bytes and the delimiter, no more: it never regrows past
    // its reservation, and what follows waits in buffer_ for the next part.
    const size_t need = *expected_ + delimiter_.size();
    if (part_.body.size() < need) {
      const size_t take = std::min(data.size(), need - part_.body.size());
      part_.body.append(data.data(), take);
      data.remove_prefix(take);
    }
  } else if (state_ == State::Body) {
    part_.body.append(data);
    data = {};
  }
  if (!data.empty()) {
    if (head_ > 0) {
      buffer_.erase(0, head_);
      head_ = 0;
    }
    buffer_.append(data);
  }
  return Run(onPart);
}

Status MultipartReader::Finish(const PartHandler& onPart) {
  if (state_ == State::Failed) return error_;
  if (state_ == State::Body && expected_) {
    // The answer ended before the declared length: the length was wrong, search what came.
    StartSearch();
    if (auto s = Run(onPart); !s) return s;
  }
  if (state_ != State::Epilogue) return Fail("the multipart answer ended without its closing boundary");
  return Status::Success();
}

}  // namespace gw::proxy
