#include "gw/token/ResilientFetch.h"

#include <algorithm>

#include "gw/token/TokenErrors.h"

namespace gw::token {

namespace {

std::string Seconds(std::chrono::milliseconds d) {
  return std::to_string((d.count() + 999) / 1000) + " s";
}

}  // namespace

ResilientFetch::ResilientFetch(std::shared_ptr<ITokenSource> inner, const config::ResilienceConfig& config,
                               std::shared_ptr<IClock> clock, std::string server,
                               std::shared_ptr<MetricsRegistry> metrics, uint64_t seed)
    : inner_(std::move(inner)),
      config_(config),
      policy_(config),
      clock_(std::move(clock)),
      server_(std::move(server)),
      metrics_(std::move(metrics)),
      rng_(seed != 0 ? seed : std::random_device{}()) {
  if (config_.circuitBreakerEnabled) {
    const double openSeconds = std::max(0.0, config_.circuitBreakerTimeoutSeconds);
    auto openFor = std::chrono::milliseconds(static_cast<int64_t>(openSeconds * 1000.0));
    breaker_ = std::make_unique<CircuitBreaker>(config_.circuitBreakerFailureThreshold, openFor, clock_);
  }
  if (metrics_) {
    const MetricLabels labels{{"server", server_}};
    retries_ = &metrics_->GetCounter("dicomweb_oauth_retry_attempts_total", "Token acquisition retries", labels);
    rejections_ = &metrics_->GetCounter("dicomweb_oauth_circuit_breaker_rejections_total",
                                        "Token acquisitions refused by an open circuit breaker", labels);
    circuitGauge_ = &metrics_->GetGauge("dicomweb_oauth_circuit_breaker_state",
                                        "Circuit breaker state (0=closed, 1=open, 2=half-open)", labels);
    circuitGauge_->Set(0);
  }
}

double ResilientFetch::Random01() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

void ResilientFetch::PublishCircuitState() {
  if (circuitGauge_ && breaker_) circuitGauge_->Set(static_cast<double>(breaker_->State()));
}

CircuitState ResilientFetch::Circuit() const { return breaker_ ? breaker_->State() : CircuitState::Closed; }

bool ResilientFetch::SleepUntil(SteadyTime until) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!cancelled_.load() && clock_->SteadyNow() < until) {
    clock_->WaitUntil(lock, sleepCv_, until);
  }
  return !cancelled_.load();
}

void ResilientFetch::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_.store(true);
  }
  sleepCv_.notify_all();
  inner_->Cancel();
}

void ResilientFetch::Invalidated() { inner_->Invalidated(); }

void ResilientFetch::CachedTokenChanged(SteadyTime usableUntil) {
  cachedUsableUntil_.store(usableUntil.time_since_epoch().count());
  inner_->CachedTokenChanged(usableUntil);
}

Result<TokenRecord> ResilientFetch::Fetch(SteadyTime deadline) {
  const SteadyTime start = clock_->SteadyNow();
  const auto budget = std::chrono::duration_cast<SteadyTime::duration>(
      std::chrono::duration<double>(std::max(0.001, config_.acquisitionTimeoutSeconds)));
  const SteadyTime end = std::min(deadline, start + budget);
  std::optional<Error> last;

  for (int attempt = 0;; ++attempt) {
    if (cancelled_.load()) {
      return MakeTokenError(codes::kAcquisitionFailed, "token acquisition for server '" + server_ + "' cancelled");
    }
    if (clock_->SteadyNow() >= end) {
      std::string message = "deadline reached before attempt " + std::to_string(attempt + 1) +
                            " of a token acquisition for server '" + server_ + "'";
      if (last) message += "; last failure: " + last->ToString();
      return MakeTokenError(codes::kDeadlineExceeded, message);
    }
    const SteadyTime cachedUntil{SteadyTime::duration(cachedUsableUntil_.load())};
    if (breaker_ && !breaker_->TryAcquire(cachedUntil)) {
      if (rejections_) rejections_->Inc();
      PublishCircuitState();
      std::string message = "circuit breaker open for server '" + server_ + "'";
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (lastFailure_) message += " after " + lastFailure_->ToString();
      }
      message += "; next probe in " + Seconds(breaker_->RemainingOpen(cachedUntil));
      return MakeTokenError(codes::kCircuitOpen, message);
    }
    PublishCircuitState();

    Result<TokenRecord> result = inner_->Fetch(end);
    if (result.Ok()) {
      if (breaker_) breaker_->RecordSuccess();
      PublishCircuitState();
      return result;
    }
    if (breaker_) breaker_->RecordFailure();
    PublishCircuitState();
    last = result.GetError();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      lastFailure_ = last;
    }
    if (!IsRetryable(*last)) return *last;
    if (attempt + 1 >= policy_.MaxAttempts()) {
      if (attempt > 0) last->message += " (after " + std::to_string(attempt + 1) + " attempts)";
      return *last;
    }
    const SteadyTime wakeAt = clock_->SteadyNow() + policy_.Delay(attempt, Random01());
    if (wakeAt >= end) {
      last->message += " (no time left for attempt " + std::to_string(attempt + 2) + ")";
      return *last;
    }
    if (retries_) retries_->Inc();
    if (!SleepUntil(wakeAt)) {
      return MakeTokenError(codes::kAcquisitionFailed, "token acquisition for server '" + server_ + "' cancelled");
    }
  }
}

}  // namespace gw::token
