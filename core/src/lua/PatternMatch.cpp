// Lua 5.4 patterns (reference manual 6.4.1) with a deadline and a recursion bound. See PatternMatch.h.
//
// The matcher backtracks exactly as the manual's semantics require (a greedy '*' tries the longest
// run first, '-' the shortest, captures are recorded as they close), and it recurses at the same
// places and to the same depth as Lua's (200 nested matches, then "pattern too complex"), so every
// valid call returns what Lua returns and every invalid one fails with Lua's message.
//
// Subjects and patterns are Lua strings, which always carry a '\0' after their last byte; like
// Lua, the matcher reads that byte as "the character at the end" (for %f and %b), never beyond.
#include "lua/PatternMatch.h"

#include <string.h>  // memmem (GNU)

#include <cctype>
#include <cstdarg>
#include <chrono>
#include <cstddef>
#include <cstring>

#include "lua/CallContext.h"
#include "lua/LuaState.h"

namespace gw::lua {
namespace {

constexpr char kEscape = '%';
constexpr const char* kSpecials = "^$*+?.([%-";
constexpr int kMaxCaptures = 32;  // Lua's LUA_MAXCAPTURES
constexpr int kMaxDepth = 200;    // nested matches before "pattern too complex", as in Lua
constexpr ptrdiff_t kUnfinished = -1;
constexpr ptrdiff_t kPosition = -2;

// Steps (one per match attempt, per character a repetition or %b scans, per 32 bytes a
// back-reference compares) between two reads of the clock. A step costs a few nanoseconds, so the
// deadline is honoured within tens of microseconds while the clock read stays far below 1% of the
// work. The countdown carries over from one call to the next on the same thread (a state runs on
// one thread at a time), so many small calls in a loop still reach a check; a matcher keeps its own
// copy while it runs (a thread_local in a shared library costs a function call per access).
constexpr long kStepsPerCheck = 4096;
thread_local long tStepsLeft = kStepsPerCheck;

// luaL_error that the compiler knows never returns (Lua is compiled as C++: it throws).
[[noreturn]] void Raise(lua_State* L, const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  luaL_where(L, 1);
  lua_pushvfstring(L, format, arguments);
  va_end(arguments);
  lua_concat(L, 2);
  lua_error(L);
  __builtin_unreachable();
}

// Called when a matcher's countdown runs out: stops the call if its deadline has passed (or it was
// already killed), the same way the instruction hook does.
void CheckDeadline(lua_State* L) {
  CallContext* context = CurrentContext(L);
  if (context == nullptr || context->state == nullptr) return;  // no call running: no deadline
  if (context->killed == KillReason::None) {
    if (std::chrono::steady_clock::now() < context->deadline) return;
    context->state->Kill(KillReason::Deadline);  // retires the state, arms the hook on every instruction
  }
  LuaState::RaiseKilled(L, *context);  // the hook's own message for this kill
}

// Does byte `c` belong to class letter `cl` (the letter after '%')? Upper-case letters are the
// complements; any other character stands for itself. Uses the C library's classification, like Lua.
bool ClassMatches(int c, int cl) {
  bool member;
  switch (std::tolower(cl)) {
    case 'a': member = std::isalpha(c); break;
    case 'c': member = std::iscntrl(c); break;
    case 'd': member = std::isdigit(c); break;
    case 'g': member = std::isgraph(c); break;
    case 'l': member = std::islower(c); break;
    case 'p': member = std::ispunct(c); break;
    case 's': member = std::isspace(c); break;
    case 'u': member = std::isupper(c); break;
    case 'w': member = std::isalnum(c); break;
    case 'x': member = std::isxdigit(c); break;
    case 'z': member = c == 0; break;  // no longer in the manual, still accepted by Lua 5.4
    default: return cl == c;
  }
  return std::isupper(cl) ? !member : member;
}

// Does byte `c` belong to the set from `open` ('[') to `close` (its ']')?
bool SetMatches(int c, const char* open, const char* close) {
  bool positive = true;
  const char* p = open + 1;
  if (*p == '^') {
    positive = false;
    ++p;
  }
  for (; p < close; ++p) {
    if (*p == kEscape) {
      ++p;
      if (ClassMatches(c, static_cast<unsigned char>(*p))) return positive;
    } else if (p[1] == '-' && p + 2 < close) {
      if (static_cast<unsigned char>(p[0]) <= c && c <= static_cast<unsigned char>(p[2])) return positive;
      p += 2;
    } else if (static_cast<unsigned char>(*p) == c) {
      return positive;
    }
  }
  return !positive;
}

class Matcher {
 public:
  // Matches within `subject`; patterns given to Match() run up to `patternEnd`. Both are Lua
  // strings, so a '\0' follows each.
  Matcher(lua_State* L, const char* subject, size_t subjectLength, const char* patternEnd)
      : L_(L), begin_(subject), end_(subject + subjectLength), patternEnd_(patternEnd), stepsLeft_(tStepsLeft) {}
  // Hands the countdown on to the thread's next match (also when an error unwinds: Lua is C++ here).
  ~Matcher() { tStepsLeft = stepsLeft_; }
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  // Forgets the captures of a failed attempt before the next start position.
  void Restart() {
    level_ = 0;
    depthLeft_ = kMaxDepth;
  }

  // The end of a match of pattern `p` at `s`, or nullptr.
  const char* Match(const char* s, const char* p) {
    if (depthLeft_ == 0) Raise(L_, "pattern too complex");
    --depthLeft_;
    Step();
    const char* result = MatchHere(s, p);
    ++depthLeft_;
    return result;
  }

  // Pushes the captures of the match s..e (the whole match when the pattern has none and `s` is
  // given); returns how many.
  int PushCaptures(const char* s, const char* e) {
    const int count = (level_ == 0 && s != nullptr) ? 1 : level_;
    luaL_checkstack(L_, count, "too many captures");
    for (int i = 0; i < count; ++i) PushCapture(i, s, e);
    return count;
  }

  void PushCapture(int i, const char* s, const char* e) {
    const char* text = nullptr;
    const ptrdiff_t length = Capture(i, s, e, &text);
    if (length != kPosition) lua_pushlstring(L_, text, static_cast<size_t>(length));
  }

  // Capture `i` of the match s..e: its length and start, or kPosition after pushing the position.
  ptrdiff_t Capture(int i, const char* s, const char* e, const char** text) {
    if (i >= level_) {
      if (i != 0) Raise(L_, "invalid capture index %%%d", i + 1);
      *text = s;  // no captures: %1 (or capture 0) is the whole match
      return e - s;
    }
    const ptrdiff_t length = captures_[i].length;
    *text = captures_[i].start;
    if (length == kUnfinished) Raise(L_, "unfinished capture");
    if (length == kPosition) lua_pushinteger(L_, captures_[i].start - begin_ + 1);
    return length;
  }

 private:
  void Step(long weight = 1) {
    stepsLeft_ -= weight;
    if (stepsLeft_ <= 0) {
      stepsLeft_ = kStepsPerCheck;
      CheckDeadline(L_);
    }
  }

  struct Slot {
    const char* start;
    ptrdiff_t length;  // kUnfinished while open, kPosition for ()
  };

  const char* MatchHere(const char* s, const char* p) {
    for (;;) {
      if (p == patternEnd_) return s;
      switch (*p) {
        case '(':
          if (p[1] == ')') return OpenCapture(s, p + 2, kPosition);
          return OpenCapture(s, p + 1, kUnfinished);
        case ')':
          return CloseCapture(s, p + 1);
        case '$':
          if (p + 1 == patternEnd_) return s == end_ ? s : nullptr;
          break;  // a '$' elsewhere is an ordinary character
        case kEscape:
          switch (p[1]) {
            case 'b':
              s = MatchBalanced(s, p + 2);
              if (s == nullptr) return nullptr;
              p += 4;
              continue;
            case 'f': {
              p += 2;
              if (*p != '[') Raise(L_, "missing '[' after '%%f' in pattern");
              const char* next = SetEnd(p);
              const int previous = s == begin_ ? '\0' : static_cast<unsigned char>(s[-1]);
              const int current = static_cast<unsigned char>(*s);  // '\0' at the end
              if (SetMatches(previous, p, next - 1) || !SetMatches(current, p, next - 1)) return nullptr;
              p = next;
              continue;
            }
            case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9':
              s = MatchBackReference(s, static_cast<unsigned char>(p[1]));
              if (s == nullptr) return nullptr;
              p += 2;
              continue;
            default:
              break;  // a class such as %a or an escaped character
          }
          break;
        default:
          break;
      }
      // One single-character class, perhaps followed by a quantifier.
      const char* next = SingleEnd(p);
      const char quantifier = *next;  // '\0' at the end of the pattern
      if (!SingleMatches(s, p, next)) {
        if (quantifier == '*' || quantifier == '?' || quantifier == '-') {
          p = next + 1;  // zero repetitions are fine
          continue;
        }
        return nullptr;
      }
      switch (quantifier) {
        case '?': {
          const char* result = Match(s + 1, next + 1);
          if (result != nullptr) return result;
          p = next + 1;
          continue;
        }
        case '+': return Longest(s + 1, p, next);
        case '*': return Longest(s, p, next);
        case '-': return Shortest(s, p, next);
        default:
          ++s;
          p = next;
          continue;
      }
    }
  }

  // End of the single-character class starting at `p`: after "%x", after "[...]", or after one char.
  const char* SingleEnd(const char* p) {
    if (*p == kEscape) {
      if (p + 1 == patternEnd_) Raise(L_, "malformed pattern (ends with '%%')");
      return p + 2;
    }
    if (*p == '[') return SetEnd(p);
    return p + 1;
  }

  // `p` is at '['; returns the position after its closing ']'. The first character after "[" or
  // "[^" never closes the set, and "%]" is an escaped ']'.
  const char* SetEnd(const char* p) {
    ++p;
    if (*p == '^') ++p;
    do {
      if (p == patternEnd_) Raise(L_, "malformed pattern (missing ']')");
      const char c = *p++;
      if (c == kEscape && p < patternEnd_) ++p;
    } while (*p != ']');
    return p + 1;
  }

  bool SingleMatches(const char* s, const char* p, const char* next) const {
    if (s >= end_) return false;
    const int c = static_cast<unsigned char>(*s);
    switch (*p) {
      case '.': return true;
      case kEscape: return ClassMatches(c, static_cast<unsigned char>(p[1]));
      case '[': return SetMatches(c, p, next - 1);
      default: return static_cast<unsigned char>(*p) == c;
    }
  }

  // Greedy repetition: the longest run of the class at `p` from `s`, then shorter ones.
  const char* Longest(const char* s, const char* p, const char* next) {
    ptrdiff_t run = 0;
    while (SingleMatches(s + run, p, next)) {
      ++run;
      Step();
    }
    for (; run >= 0; --run) {
      const char* result = Match(s + run, next + 1);
      if (result != nullptr) return result;
    }
    return nullptr;
  }

  // Lazy repetition: the rest of the pattern first, one more repetition only when it fails.
  const char* Shortest(const char* s, const char* p, const char* next) {
    for (;;) {
      const char* result = Match(s, next + 1);
      if (result != nullptr) return result;
      if (!SingleMatches(s, p, next)) return nullptr;
      ++s;
    }
  }

  // %bxy at `s`; `p` points at x.
  const char* MatchBalanced(const char* s, const char* p) {
    if (p + 1 >= patternEnd_) Raise(L_, "malformed pattern (missing arguments to '%%b')");
    if (s >= end_ || *s != p[0]) return nullptr;
    const char open = p[0];
    const char close = p[1];
    int depth = 1;
    while (++s < end_) {
      Step();
      if (*s == close) {
        if (--depth == 0) return s + 1;
      } else if (*s == open) {
        ++depth;
      }
    }
    return nullptr;
  }

  const char* OpenCapture(const char* s, const char* p, ptrdiff_t kind) {
    if (level_ >= kMaxCaptures) Raise(L_, "too many captures");
    captures_[level_] = Slot{s, kind};
    ++level_;
    const char* result = Match(s, p);
    if (result == nullptr) --level_;
    return result;
  }

  const char* CloseCapture(const char* s, const char* p) {
    int open = level_ - 1;
    while (open >= 0 && captures_[open].length != kUnfinished) --open;
    if (open < 0) Raise(L_, "invalid pattern capture");
    captures_[open].length = s - captures_[open].start;
    const char* result = Match(s, p);
    if (result == nullptr) captures_[open].length = kUnfinished;
    return result;
  }

  // %1..%9: the text of a closed capture again.
  const char* MatchBackReference(const char* s, int digit) {
    const int index = digit - '1';
    if (index < 0 || index >= level_ || captures_[index].length == kUnfinished) {
      Raise(L_, "invalid capture index %%%d", index + 1);
    }
    const Slot& capture = captures_[index];
    // A position capture has no text: Lua compares its (negative) length as a huge unsigned one,
    // which never fits in the rest of the subject, so the reference fails.
    if (capture.length < 0) return nullptr;
    const size_t length = static_cast<size_t>(capture.length);
    Step(1 + static_cast<long>(length / 32));
    if (static_cast<size_t>(end_ - s) >= length && std::memcmp(capture.start, s, length) == 0) return s + length;
    return nullptr;
  }

  lua_State* L_;
  const char* begin_;
  const char* end_;
  const char* patternEnd_;
  long stepsLeft_;
  int level_ = 0;
  int depthLeft_ = kMaxDepth;
  Slot captures_[kMaxCaptures];
};

// Lua's reading of a start position: negative counts from the end, anything before the start is
// 1. Returns the 1-based position (may lie past the end).
size_t StartPosition(lua_Integer position, size_t length) {
  if (position > 0) return static_cast<size_t>(position);
  if (position == 0) return 1;
  if (position < -static_cast<lua_Integer>(length)) return 1;
  return length + static_cast<size_t>(position) + 1;
}

bool HasSpecials(const char* p, size_t length) {
  for (size_t i = 0; i < length; ++i) {
    if (p[i] != '\0' && std::strchr(kSpecials, p[i]) != nullptr) return true;
  }
  return false;
}

// Substring search that never backtracks far: a short subject is scanned directly (at most 256 x
// 256 byte comparisons, cheaper than memmem's set-up), a longer one with glibc's two-way memmem,
// which is linear where a naive search is quadratic.
constexpr size_t kShortSubject = 256;

const char* PlainFind(const char* s, size_t length, const char* needle, size_t needleLength) {
  if (needleLength == 0) return s;
  if (needleLength > length) return nullptr;
  if (length > kShortSubject) return static_cast<const char*>(::memmem(s, length, needle, needleLength));
  const char* const last = s + (length - needleLength);  // the last possible start
  for (const char* at = s; at <= last; ++at) {
    at = static_cast<const char*>(std::memchr(at, needle[0], static_cast<size_t>(last - at) + 1));
    if (at == nullptr) return nullptr;
    if (std::memcmp(at + 1, needle + 1, needleLength - 1) == 0) return at;
  }
  return nullptr;
}

int FindOrMatch(lua_State* L, bool find) {
  size_t length = 0;
  size_t patternLength = 0;
  const char* s = luaL_checklstring(L, 1, &length);
  const char* p = luaL_checklstring(L, 2, &patternLength);
  const size_t init = StartPosition(luaL_optinteger(L, 3, 1), length) - 1;
  if (init > length) {
    luaL_pushfail(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || !HasSpecials(p, patternLength))) {
    const char* found = PlainFind(s + init, length - init, p, patternLength);
    if (found != nullptr) {
      lua_pushinteger(L, static_cast<lua_Integer>(found - s) + 1);
      lua_pushinteger(L, static_cast<lua_Integer>(found - s) + static_cast<lua_Integer>(patternLength));
      return 2;
    }
  } else {
    const char* patternEnd = p + patternLength;
    const bool anchored = *p == '^';
    if (anchored) ++p;
    Matcher matcher(L, s, length, patternEnd);
    const char* start = s + init;
    for (;;) {
      matcher.Restart();
      const char* e = matcher.Match(start, p);
      if (e != nullptr) {
        if (!find) return matcher.PushCaptures(start, e);
        lua_pushinteger(L, static_cast<lua_Integer>(start - s) + 1);
        lua_pushinteger(L, static_cast<lua_Integer>(e - s));
        return matcher.PushCaptures(nullptr, nullptr) + 2;
      }
      if (anchored || start >= s + length) break;
      ++start;
    }
  }
  luaL_pushfail(L);
  return 1;
}

int Find(lua_State* L) { return FindOrMatch(L, true); }
int MatchFunction(lua_State* L) { return FindOrMatch(L, false); }

// Where a gmatch iterator is: the next start offset and the end offset of the previous match
// (-1 before the first), which an empty match must not end at again (the 5.4 rule).
struct GMatchPosition {
  lua_Integer next;
  lua_Integer previousEnd;
};

// The iterator of gmatch. upvalues: 1 subject, 2 pattern, 3 GMatchPosition (full userdata).
int GMatchNext(lua_State* L) {
  size_t length = 0;
  size_t patternLength = 0;
  const char* s = lua_tolstring(L, lua_upvalueindex(1), &length);
  const char* p = lua_tolstring(L, lua_upvalueindex(2), &patternLength);
  auto* position = static_cast<GMatchPosition*>(lua_touserdata(L, lua_upvalueindex(3)));
  Matcher matcher(L, s, length, p + patternLength);
  for (lua_Integer offset = position->next; offset <= static_cast<lua_Integer>(length); ++offset) {
    matcher.Restart();
    const char* e = matcher.Match(s + offset, p);
    if (e != nullptr && e - s != position->previousEnd) {
      position->next = position->previousEnd = e - s;
      return matcher.PushCaptures(s + offset, e);
    }
  }
  return 0;
}

int GMatch(lua_State* L) {
  size_t length = 0;
  luaL_checklstring(L, 1, &length);
  luaL_checkstring(L, 2);
  size_t init = StartPosition(luaL_optinteger(L, 3, 1), length) - 1;
  if (init > length) init = length + 1;  // past the end: the iterator finds nothing
  lua_settop(L, 2);  // stack: subject, pattern (kept alive by the closure)
  auto* position = static_cast<GMatchPosition*>(lua_newuserdatauv(L, sizeof(GMatchPosition), 0));
  position->next = static_cast<lua_Integer>(init);
  position->previousEnd = -1;
  lua_pushcclosure(L, &GMatchNext, 3);
  return 1;
}

// Appends the replacement string (argument 3) for the match s..e: "%0".."%9" are captures, "%%" is '%'.
void AppendTemplate(lua_State* L, Matcher& matcher, luaL_Buffer& out, const char* s, const char* e) {
  size_t length = 0;
  const char* text = lua_tolstring(L, 3, &length);
  const char* escape = nullptr;
  while ((escape = static_cast<const char*>(std::memchr(text, kEscape, length))) != nullptr) {
    luaL_addlstring(&out, text, static_cast<size_t>(escape - text));
    const char c = escape[1];  // '\0' after a trailing '%'
    if (c == kEscape) {
      luaL_addchar(&out, kEscape);
    } else if (c == '0') {
      luaL_addlstring(&out, s, static_cast<size_t>(e - s));
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      const char* capture = nullptr;
      const ptrdiff_t captureLength = matcher.Capture(c - '1', s, e, &capture);
      if (captureLength == kPosition) {
        luaL_addvalue(&out);  // the position Capture pushed
      } else {
        luaL_addlstring(&out, capture, static_cast<size_t>(captureLength));
      }
    } else {
      Raise(L, "invalid use of '%c' in replacement string", kEscape);
    }
    length -= static_cast<size_t>(escape + 2 - text);
    text = escape + 2;
  }
  luaL_addlstring(&out, text, length);
}

// Appends the replacement of the match s..e; returns false when the match is kept as it was.
bool AppendReplacement(lua_State* L, Matcher& matcher, luaL_Buffer& out, const char* s, const char* e, int type) {
  if (type == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    const int count = matcher.PushCaptures(s, e);
    lua_call(L, count, 1);  // Lua code: under the instruction hook
  } else if (type == LUA_TTABLE) {
    matcher.PushCapture(0, s, e);
    lua_gettable(L, 3);
  } else {
    AppendTemplate(L, matcher, out, s, e);
    return true;
  }
  if (!lua_toboolean(L, -1)) {  // nil or false: keep the original text
    lua_pop(L, 1);
    luaL_addlstring(&out, s, static_cast<size_t>(e - s));
    return false;
  }
  if (!lua_isstring(L, -1)) Raise(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  luaL_addvalue(&out);
  return true;
}

int GSub(lua_State* L) {
  size_t length = 0;
  size_t patternLength = 0;
  const char* src = luaL_checklstring(L, 1, &length);
  const char* p = luaL_checklstring(L, 2, &patternLength);
  const int type = lua_type(L, 3);
  const lua_Integer maxReplacements = luaL_optinteger(L, 4, static_cast<lua_Integer>(length) + 1);
  luaL_argexpected(L, type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TFUNCTION || type == LUA_TTABLE, 3,
                   "string/function/table");
  const char* patternEnd = p + patternLength;
  const bool anchored = *p == '^';
  if (anchored) ++p;
  luaL_Buffer out;
  luaL_buffinit(L, &out);
  Matcher matcher(L, src, length, patternEnd);
  const char* const end = src + length;
  const char* previousEnd = nullptr;
  lua_Integer count = 0;
  bool changed = false;
  while (count < maxReplacements) {
    matcher.Restart();
    const char* e = matcher.Match(src, p);
    if (e != nullptr && e != previousEnd) {
      ++count;
      changed = AppendReplacement(L, matcher, out, src, e, type) || changed;
      src = previousEnd = e;
    } else if (src < end) {
      // The analyzer assumes luaL_argexpected may return on a bad type: it raises a Lua error.
      luaL_addchar(&out, *src++);  // NOLINT(clang-analyzer-core.NullDereference)
    } else {
      break;
    }
    if (anchored) break;
  }
  if (!changed) {
    lua_pushvalue(L, 1);  // nothing replaced: the subject itself
  } else {
    luaL_addlstring(&out, src, static_cast<size_t>(end - src));
    luaL_pushresult(&out);
  }
  lua_pushinteger(L, count);
  return 2;
}

}  // namespace

void InstallPatternFunctions(lua_State* L, int stringTable) {
  stringTable = lua_absindex(L, stringTable);
  const luaL_Reg functions[] = {
      {"find", &Find}, {"match", &MatchFunction}, {"gmatch", &GMatch}, {"gsub", &GSub}, {nullptr, nullptr},
  };
  lua_pushvalue(L, stringTable);  // stack: ..., string
  luaL_setfuncs(L, functions, 0);
  lua_pop(L, 1);                  // stack: ...
}

}  // namespace gw::lua
