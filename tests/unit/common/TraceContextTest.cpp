#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "gw/common/TraceContext.h"

using namespace gw;

namespace {
const char* kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
}

TEST_CASE("TraceContext/a valid traceparent is read field by field", "[trace]") {
  auto ctx = TraceContext::Parse(kValid);
  REQUIRE(ctx);
  CHECK(ctx->traceId == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(ctx->parentId == "00f067aa0ba902b7");
  CHECK(ctx->flags == 0x01);
  CHECK(ctx->Sampled());
  CHECK(ctx->Header() == kValid);
  auto unsampled = TraceContext::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  REQUIRE(unsampled);
  CHECK_FALSE(unsampled->Sampled());
  CHECK(TraceContext::Parse(std::string(" ") + kValid + "\t"));  // optional whitespace around the value
}

TEST_CASE("TraceContext/malformed values are refused", "[trace]") {
  const char* bad[] = {
      "",
      "00",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",         // no flags
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",       // short flags
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",      // upper-case trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",      // upper-case parent id
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",      // non-hex
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",      // wrong separators
      "00-4bf92f3577b34da6a3ce929d0e0e47-3600f067aa0ba902b7-01",      // misplaced separator
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",      // non-hex flags
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",     // version 00 has no fifth field
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX-Evil: 1",
  };
  for (const char* value : bad) {
    INFO(value);
    CHECK_FALSE(TraceContext::Parse(value));
  }
}

TEST_CASE("TraceContext/all-zero ids are invalid", "[trace]") {
  CHECK_FALSE(TraceContext::Parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  CHECK_FALSE(TraceContext::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
}

TEST_CASE("TraceContext/versions: ff is invalid, a later version is read by its known fields", "[trace]") {
  CHECK_FALSE(TraceContext::Parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  CHECK_FALSE(TraceContext::Parse("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  CHECK_FALSE(TraceContext::Parse("FF-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  auto later = TraceContext::Parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-extra-fields");
  REQUIRE(later);
  CHECK(later->traceId == "4bf92f3577b34da6a3ce929d0e0e4736");
  // Only the flag level 1 defines (sampled) is passed on, under version 00.
  CHECK(later->flags == 0x01);
  CHECK(later->Header() == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  // A later version must still separate further fields with '-'.
  CHECK_FALSE(TraceContext::Parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
  CHECK(TraceContext::Parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST_CASE("TraceContext/continuing keeps the trace id and flags and makes a new parent id", "[trace]") {
  const auto incoming = TraceContext::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  const TraceContext next = TraceContext::Continue(incoming);
  CHECK(next.traceId == incoming->traceId);
  CHECK(next.flags == 0x00);
  CHECK(next.parentId != incoming->parentId);
  CHECK(TraceContext::Parse(next.Header()));
}

TEST_CASE("TraceContext/a new trace is valid, sampled and unique", "[trace]") {
  std::set<std::string> traces;
  for (int i = 0; i < 1000; ++i) {
    const TraceContext t = TraceContext::Continue(std::nullopt);
    auto reread = TraceContext::Parse(t.Header());
    REQUIRE(reread);
    CHECK(reread->traceId == t.traceId);
    CHECK(t.Sampled());
    traces.insert(t.traceId);
  }
  CHECK(traces.size() == 1000);
  CHECK(RandomHexId(8).size() == 16);
}
