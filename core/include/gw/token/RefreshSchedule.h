#pragma once
// The two pieces of schedule arithmetic of the token engine, as pure functions (tested alone).
//
// Refresh instant of a token obtained at t0 that expires at t0 + L:
//   - the provider's hint (`refresh_in` / `refresh_on`) when it gives one, clamped to
//     [t0 + L/10, expiry) so a wrong hint can never cause a fetch per call; else
//   - expiry - min(TokenRefreshBufferSeconds, L/2) - jitter, jitter uniform in
//     [0, min(L * jitterFraction, maxJitter)].
//   A 5-minute token with the default 300 s buffer is therefore refreshed after ~135-150 s, not on
//   every call (the Python plugin compared "now + buffer < expiry", which is never true for such a
//   token). Jitter only ever moves the refresh earlier, and spreads a fleet's refreshes apart.
//
// Back-off after n consecutive failed fetches (n >= 1):
//   d = min(max, initial * multiplier^(n-1)), returned as d * (1 - jitterFraction * random).
//
// Last chance before a cached token becomes unusable at U, for a wait that began at `from`:
//   max(U - kLastChanceLead, from + (U - from) / 2)
// The circuit breaker lets its early probe through then, and a key whose back-off would reach past
// U tries then instead (KeySlot): a token still valid is never left to expire while the IdP may be
// back only because a wait that began long before grew past its end.
#include <chrono>
#include <cstdint>
#include <optional>

#include "gw/token/IClock.h"

namespace gw::token {

struct RefreshPolicy {
  std::chrono::seconds buffer{300};  // TokenRefreshBufferSeconds
  double jitterFraction = 0.05;      // of the lifetime; clamped to [0, 0.25]
  std::chrono::seconds maxJitter{30};
};

struct BackoffPolicy {
  std::chrono::milliseconds initial{1000};
  double multiplier = 2.0;  // values < 1 are treated as 1
  std::chrono::milliseconds max{60000};
  double jitterFraction = 0.2;  // clamped to [0, 1]
};

// `random01` in [0, 1) (tests pass fixed values).
SteadyTime ComputeRefreshAt(SteadyTime obtainedAt, SteadyTime expiresAt, std::optional<SteadyTime> providerHint,
                            const RefreshPolicy& policy, double random01);

// 0 when consecutiveFailures == 0.
std::chrono::milliseconds ComputeBackoff(uint32_t consecutiveFailures, const BackoffPolicy& policy, double random01);

// 10 s: a refused or failed attempt is retried within about a second (the first back-off step)
// and an attempt usually answers within one more, so this leaves room for a slow IdP.
inline constexpr std::chrono::seconds kLastChanceLead{10};
SteadyTime LastChanceBefore(SteadyTime from, SteadyTime usableUntil);

}  // namespace gw::token
