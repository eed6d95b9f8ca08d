#include "gw/config/ConfigKeys.h"

#include <algorithm>
#include <limits>

#include "gw/config/JsonPath.h"
#include "gw/config/ProviderContracts.h"

namespace gw::config {
namespace {

constexpr double kIntMax = std::numeric_limits<int>::max();
constexpr double kDay = 86400.0;
const char* const kSection = "DicomWebOAuth";

// Table entries. A key without a target is read by its object's own code in ConfigParser.cpp.
template <class T>
KeySpec<T> Own(const char* name, KeyType type) {
  KeySpec<T> k;
  k.name = name;
  k.type = type;
  return k;
}

template <class T, class M>
KeySpec<T> With(const char* name, KeyType type, M T::*member) {
  KeySpec<T> k = Own<T>(name, type);
  k.target = member;
  return k;
}

template <class T>
KeySpec<T> Bool(const char* name, bool T::*member) { return With(name, KeyType::Boolean, member); }
template <class T>
KeySpec<T> Bool(const char* name, std::optional<bool> T::*member) { return With(name, KeyType::Boolean, member); }

template <class T, class M>
KeySpec<T> Int(const char* name, M T::*member, double minimum, double maximum) {
  KeySpec<T> k = With(name, KeyType::Integer, member);
  k.minimum = minimum;
  k.maximum = maximum;
  return k;
}

template <class T>
KeySpec<T> Number(const char* name, double T::*member, double minimum, double maximum, bool exclusive = false) {
  KeySpec<T> k = With(name, KeyType::Number, member);
  k.minimum = minimum;
  k.maximum = maximum;
  k.minimumExclusive = exclusive;
  return k;
}

template <class T>
KeySpec<T> String(const char* name, std::string T::*member, EmptyString empty) {
  KeySpec<T> k = With(name, KeyType::String, member);
  k.empty = empty;
  return k;
}

// A path resolved against the configuration's folder and checked to be a readable file.
template <class T>
KeySpec<T> File(const char* name, std::string T::*member) {
  KeySpec<T> k = With(name, KeyType::File, member);
  k.empty = EmptyString::Substitution;
  return k;
}

template <class T>
KeySpec<T> Choice(const char* name, const std::vector<std::string>& choices, typename KeySpec<T>::ChoiceSetter set) {
  KeySpec<T> k = Own<T>(name, KeyType::Choice);
  k.choices = choices;
  k.setChoice = set;
  return k;
}

template <class T>
KeySpec<T> Choice(const char* name, std::string T::*member, const std::vector<std::string>& choices) {
  KeySpec<T> k = With(name, KeyType::Choice, member);
  k.choices = choices;
  return k;
}

template <class T>
std::vector<std::string> Names(const std::vector<KeySpec<T>>& specs) {
  std::vector<std::string> names;
  names.reserve(specs.size());
  for (const auto& k : specs) names.push_back(k.name);
  return names;
}

}  // namespace

const std::vector<std::string>& ProviderTypes() {
  static const std::vector<std::string> kTypes = {"auto",  "azure", "google", "keycloak", "generic",
                                                  "aws",   "azuremanagedidentity", "auth0", "okta",
                                                  "entra", "static", "file", "azureworkloadidentity"};
  return kTypes;
}

const std::vector<KeySpec<GlobalConfig>>& SectionKeys() {
  using G = GlobalConfig;
  static const std::vector<KeySpec<G>> kKeys = {
      Bool("Enabled", &G::enabled),
      Own<G>("ConfigVersion", KeyType::String),  // accepted for compatibility, with a warning
      Own<G>("LogLevel", KeyType::String),
      Own<G>("LogFormat", KeyType::String),
      Int("RateLimitRequests", &G::rateLimitRequests, 0, kIntMax),
      Int("RateLimitWindowSeconds", &G::rateLimitWindowSeconds, 1, kDay),
      Choice<G>("CacheType", {"memory", "redis"},
                [](G& g, size_t i) { g.cacheType = i == 1 ? CacheType::Redis : CacheType::Memory; }),
      Own<G>("RedisUrl", KeyType::String),
      Own<G>("RedisEncryptionKey", KeyType::String),
      Own<G>("ScriptDirectories", KeyType::StringArray),
      Int("LuaMemoryLimitMB", &G::luaMemoryLimitMb, 1, 1024),
      Int("LuaTimeoutMs", &G::luaTimeoutMs, 10, 60000),
      Int("LuaPoolSize", &G::luaPoolSize, 1, 256),
      Int("LuaReservedStatesPerServer", &G::luaReservedStatesPerServer, 1, 16),
      String("SpoolDirectory", &G::spoolDirectory, EmptyString::Allowed),
      Bool("WatchScripts", &G::watchScripts),
      Own<G>("EnvAllowlist", KeyType::StringArray),
      Own<G>("FileAllowlist", KeyType::StringArray),
      Bool("AllowInjectWithServersInDatabase", &G::allowInjectWithServersInDatabase),
      Own<G>("Policies", KeyType::StringArray),
      Int("PolicyTimeoutMs", &G::policyTimeoutMs, 1, 10000),
      Own<G>("Audit", KeyType::Object),
      Own<G>("Health", KeyType::Object),
      Own<G>("Servers", KeyType::Object)};
  return kKeys;
}

const std::vector<KeySpec<AuditConfig>>& AuditKeys() {
  using A = AuditConfig;
  static const std::vector<KeySpec<A>> kKeys = {
      Own<A>("File", KeyType::String),
      Own<A>("Rules", KeyType::StringArray),
      Own<A>("HashKey", KeyType::String),
      Bool("OrthancLog", &A::orthancLog),
      Int("FsyncIntervalMs", &A::fsyncIntervalMs, 0, 3600000),
      Int("QueueCapacity", &A::queueCapacity, 1, 10000000),
      Int("QueueTimeoutMs", &A::queueTimeoutMs, 0, 60000),
      Int("RuleTimeoutMs", &A::ruleTimeoutMs, 1, 60000),
      Own<A>("ChainKey", KeyType::String),
      Own<A>("ChainKeyId", KeyType::String),
      Own<A>("PreviousChainKey", KeyType::String),
      Int("CheckpointEveryRecords", &A::checkpointEveryRecords, 0, 100000000),
      Int("CheckpointIntervalSeconds", &A::checkpointIntervalSeconds, 0, kDay),
      Own<A>("CheckpointFile", KeyType::String),
      Bool("FailClosed", &A::failClosed)};
  return kKeys;
}

const std::vector<KeySpec<HealthConfig>>& HealthKeys() {
  using H = HealthConfig;
  static const std::vector<KeySpec<H>> kKeys = {
      Own<H>("ProbeUser", KeyType::String),             // checked against RegisteredUsers
      Own<H>("OptionalServers", KeyType::StringArray),  // must name configured servers
      Int("LiveTimeoutMs", &H::liveTimeoutMs, 10, 60000),
      Bool("AcquireAtStart", &H::acquireAtStart)};
  return kKeys;
}

// The keys of a server object the gateway reads itself: ProviderType resolution (Python-compatible)
// and token identity, TLS, token validation, mode, targets, policies, resilience, and the DICOMweb
// plugin's server definition. Every other key is its provider's.
const std::vector<KeySpec<ServerConfig>>& ServerKeys() {
  using S = ServerConfig;
  static const std::vector<KeySpec<S>> kKeys = {
      // ProviderType resolution and token identity
      Choice("ProviderType", &S::providerType, ProviderTypes()),
      Own<S>("Provider", KeyType::String),
      Own<S>("TokenEndpoint", KeyType::String),
      Own<S>("CredentialsFile", KeyType::File),
      String("Scope", &S::scope, EmptyString::Allowed),
      String("Resource", &S::resource, EmptyString::Allowed),
      Int("TokenRefreshBufferSeconds", &S::tokenRefreshBufferSeconds, 0, kDay),
      // TLS towards the identity provider and the upstream
      Own<S>("VerifySSL", KeyType::Any),  // true, false, or a CA bundle path
      Own<S>("CaBundle", KeyType::File),
      // token validation
      String("JWTPublicKey", &S::jwtPublicKey, EmptyString::Allowed),
      Own<S>("JWKSUrl", KeyType::String),
      String("JWTAudience", &S::jwtAudience, EmptyString::Allowed),
      String("JWTIssuer", &S::jwtIssuer, EmptyString::Allowed),
      Own<S>("JWTAlgorithms", KeyType::StringArray),
      Bool("DisableJWTValidation", &S::disableJwtValidation),
      // mode, targets, policies, resilience
      Own<S>("Url", KeyType::String),
      Own<S>("Mode", KeyType::Choice),
      Own<S>("Targets", KeyType::Any),
      Own<S>("Policies", KeyType::StringArray),
      Own<S>("PolicyConfig", KeyType::Object),
      Int("FailoverCooldownSeconds", &S::failoverCooldownSeconds, 1, 3600),
      Own<S>("ResilienceConfig", KeyType::Object),
      // the DICOMweb plugin's server definition
      String("Username", &S::username, EmptyString::Allowed),
      String("Password", &S::password, EmptyString::Substitution),
      Bool("HasDelete", &S::hasDelete),
      Bool("ChunkedTransfers", &S::chunkedTransfers),
      Int("Timeout", &S::timeoutSeconds, 0, kDay),
      Own<S>("HttpHeaders", KeyType::Object),
      File("CertificateFile", &S::certificateFile),
      File("CertificateKeyFile", &S::certificateKeyFile),
      String("CertificateKeyPassword", &S::certificateKeyPassword, EmptyString::Substitution)};
  return kKeys;
}

const std::vector<KeySpec<ResilienceConfig>>& ResilienceKeys() {
  using R = ResilienceConfig;
  static const std::vector<KeySpec<R>> kKeys = {
      Bool("CircuitBreakerEnabled", &R::circuitBreakerEnabled),
      Int("CircuitBreakerFailureThreshold", &R::circuitBreakerFailureThreshold, 1, 1000000),
      Number("CircuitBreakerTimeout", &R::circuitBreakerTimeoutSeconds, 0.0, kDay, true),
      Int("RetryMaxAttempts", &R::retryMaxAttempts, 1, 100),
      Choice<R>("RetryStrategy", {"fixed", "linear", "exponential"},
                [](R& r, size_t i) {
                  r.retryStrategy = i == 0 ? RetryStrategy::Fixed : i == 1 ? RetryStrategy::Linear
                                                                           : RetryStrategy::Exponential;
                }),
      Number("RetryInitialDelay", &R::retryInitialDelaySeconds, 0.0, kDay),
      Number("RetryMultiplier", &R::retryMultiplier, 1.0, 1000.0),
      Number("RetryMaxDelay", &R::retryMaxDelaySeconds, 0.0, kDay),
      Number("RetryIncrement", &R::retryIncrementSeconds, 0.0, kDay),
      // One deadline for a whole acquisition (docs/token-engine.md); Azure IMDS maintenance needs > 70 s.
      Number("AcquisitionTimeout", &R::acquisitionTimeoutSeconds, 0.0, 3600.0, true)};
  return kKeys;
}

const std::vector<KeySpec<UpstreamTarget>>& TargetKeys() {
  static const std::vector<KeySpec<UpstreamTarget>> kKeys = {Own<UpstreamTarget>("Name", KeyType::String),
                                                             Own<UpstreamTarget>("Url", KeyType::String)};
  return kKeys;
}

const std::vector<std::string>& KeyNames(KeyObject object) {
  static const std::vector<std::string> kSectionNames = Names(SectionKeys());
  static const std::vector<std::string> kAuditNames = Names(AuditKeys());
  static const std::vector<std::string> kHealthNames = Names(HealthKeys());
  static const std::vector<std::string> kServerNames = Names(ServerKeys());
  static const std::vector<std::string> kResilienceNames = Names(ResilienceKeys());
  static const std::vector<std::string> kTargetNames = Names(TargetKeys());
  switch (object) {
    case KeyObject::Section: return kSectionNames;
    case KeyObject::Audit: return kAuditNames;
    case KeyObject::Health: return kHealthNames;
    case KeyObject::Server: return kServerNames;
    case KeyObject::Resilience: return kResilienceNames;
    case KeyObject::Target: return kTargetNames;
  }
  return kSectionNames;
}

// Retry and circuit keys written on the server instead of in its ResilienceConfig were silently
// lost before this hint existed.
std::string Elsewhere(const std::string& key, const std::string& path, KeyObject here) {
  const auto in = [&key](KeyObject object) {
    const auto& keys = KeyNames(object);
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  };
  const std::string section = kSection;
  if (here != KeyObject::Resilience && in(KeyObject::Resilience)) {
    return "belongs in the ResilienceConfig object of a server: " +
           (here == KeyObject::Server ? JoinPath(JoinPath(path, "ResilienceConfig"), key)
                                      : section + ".Servers.<name>.ResilienceConfig." + key);
  }
  if (here != KeyObject::Section && in(KeyObject::Section)) {
    return "is a key of the " + section + " section itself, for every server: " + JoinPath(section, key);
  }
  if (here != KeyObject::Server && in(KeyObject::Server)) {
    return "is a server key: it belongs in " + section + ".Servers.<name>." + key;
  }
  // File and Rules are common words: a server's File key is not taken for the audit file.
  if (here != KeyObject::Audit && in(KeyObject::Audit) && key != "File" && key != "Rules") {
    return "belongs in the Audit object: " + section + ".Audit." + key;
  }
  if (here != KeyObject::Health && in(KeyObject::Health)) {
    return "belongs in the Health object: " + section + ".Health." + key;
  }
  return {};
}

const std::vector<std::string>& GatewayServerKeys() { return KeyNames(KeyObject::Server); }

bool IsMisplacedServerKey(const std::string& key) {
  const auto& server = GatewayServerKeys();
  return std::find(server.begin(), server.end(), key) == server.end() &&
         !Elsewhere(key, "DicomWebOAuth.Servers.s", KeyObject::Server).empty();
}

}  // namespace gw::config
