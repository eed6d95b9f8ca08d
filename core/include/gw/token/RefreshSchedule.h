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

}  // namespace gw::token
