#pragma once
// The validated `DicomWebOAuth` section of Orthanc's configuration, plus the few settings of other
// sections the gateway depends on. Plain data: produced once by ConfigParser, then read-only and
// safe to share between threads. Key names, types and defaults are in docs/configuration.md.
//
// Secrets (password, certificateKeyPassword, redisEncryptionKey, HttpHeaders values, and each
// server's provider secrets, which its contract names) are held in clear because the gateway must
// use them; CollectSecrets() lists them so the caller can register them with SecretRegistry.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "gw/common/Log.h"
#include "gw/config/ResilienceConfig.h"

namespace gw::config {

enum class CacheType { Memory, Redis };
enum class ServerMode { Inject, Proxy };
// None: the provider does not authenticate a client at a token endpoint (managed identity,
// Google, AWS, static or file tokens, custom scripts that handle it themselves).
enum class ClientAuthMethod {
  None,
  ClientSecretPost,
  ClientSecretBasic,
  ClientSecretJwt,
  PrivateKeyJwt,
  TlsClientAuth,
  SelfSignedTlsClientAuth
};

const char* ToString(CacheType value);         // "memory" | "redis"
const char* ToString(ServerMode value);        // "inject" | "proxy"
const char* ToString(ClientAuthMethod value);  // "none" | "client_secret_post" | ...

// One upstream of a server (`Targets`; without it the server's `Url`, named "primary").
struct UpstreamTarget {
  std::string name;  // [a-z0-9_-]+, unique within the server
  std::string url;   // http(s) base URL of a DICOMweb service
};

// One entry of `DicomWebOAuth.Servers`. Paths to files are absolute (relative ones are resolved
// against the configuration's folder). Empty string = not configured.
// What a server's provider script may read and what must be masked, derived from its contract's
// schema by ApplyProviderContracts (ProviderContracts.h), never listed per provider in C++.
struct ScriptAccess {
  std::vector<std::string> files;           // absolute paths: the engine's file allowlist
  std::vector<std::string> envNames;        // the engine's environment allowlist
  std::vector<std::string> secretEnvNames;  // of envNames, those whose values are secrets
};

struct ServerConfig {
  std::string name;                       // key in Servers: [A-Za-z0-9._-]+
  std::string url;                        // the real DICOMweb upstream, http(s)
  // ProviderType resolution (Python-compatible) and token identity.
  std::string tokenEndpoint;
  std::string scope;
  std::string resource;
  int tokenRefreshBufferSeconds = 300;
  std::string providerType = "auto";      // lower case: auto|azure|google|keycloak|generic|aws|
                                          // azuremanagedidentity|auth0|okta|entra|static|file
  std::string provider;                   // custom provider script name; overrides providerType
  bool verifySsl = true;
  std::string caBundle;                   // from CaBundle, or VerifySSL given as a path
  // For the status view: the ClientAuthMethod the provider's schema decided (given, else from its
  // default_from: client_credentials.lua), set by ApplyProviderContracts; None for providers whose
  // schema declares no ClientAuthMethod.
  ClientAuthMethod clientAuthMethod = ClientAuthMethod::None;
  std::string jwtPublicKey;               // PEM text (Python plugin semantics)
  std::string jwksUrl;
  std::string jwtAudience;
  std::string jwtIssuer;
  std::vector<std::string> jwtAlgorithms;
  bool disableJwtValidation = false;
  std::string credentialsFile;            // ProviderType google: service_account/external_account JSON
  std::string credentialsFileType;        // its "type", read at parse time (ProviderType auto/google only)
  ServerMode mode = ServerMode::Inject;   // default: proxy for the aws_sigv4 provider
  bool modeExplicit = false;              // Mode was given in the configuration

  // From the provider's contract (ApplyProviderContracts): values of its secret keys, resolved,
  // for SecretRegistry; and what its script may read.
  std::vector<std::string> secrets;
  ScriptAccess access;

  // Fields of the DICOMweb plugin's server definition, carried over when the gateway writes it.
  std::string username;
  std::string password;                   // secret
  std::optional<bool> hasDelete;
  std::optional<bool> chunkedTransfers;
  std::optional<int> timeoutSeconds;
  std::map<std::string, std::string> httpHeaders;  // never contains Authorization
  std::string certificateFile;
  std::string certificateKeyFile;
  std::string certificateKeyPassword;     // secret

  ResilienceConfig resilience;

  // Routing policies (docs/policies.md). `policies`: the server's `Policies`, or the global
  // default list when the server has none. `targets`: never empty once parsed (the first is the
  // primary and equals `url`). `policyConfig`: the server's `PolicyConfig` object, or null.
  std::vector<std::string> policies;
  bool policiesExplicit = false;          // Policies was given for this server
  std::vector<UpstreamTarget> targets;
  int failoverCooldownSeconds = 30;       // how long a failed target counts as unhealthy
  std::shared_ptr<const rapidjson::Document> policyConfig;

  // The server's JSON object as configured (after ${VAR} substitution, secrets included):
  // provider scripts receive every key, custom providers read their own. File keys hold their
  // resolved absolute paths, like the fields above. Never log it.
  std::shared_ptr<const rapidjson::Document> raw;
};

// An entry of `DicomWeb.Servers` (string, array or object form), as the DICOMweb plugin sees it.
struct DicomWebServerDefinition {
  std::string url;
  std::string username;
  std::string password;                   // secret
  std::map<std::string, std::string> httpHeaders;
  std::shared_ptr<const rapidjson::Document> raw;  // the object form as configured; null otherwise
};

// Settings read from outside the `DicomWebOAuth` section.
struct OrthancSettings {
  int httpPort = 8042;                                        // `HttpPort`
  // `AuthenticationEnabled` given as true: Orthanc has checked the Basic credentials of every
  // request before plugins see it, so the user name in them can be trusted (routing policies).
  bool authenticationEnabled = false;
  // Whether Orthanc asks every HTTP request for Basic credentials: `AuthenticationEnabled`, or
  // when that is not given, `RemoteAccessAllowed` (Orthanc >= 1.5.8 enables authentication with
  // remote access by default).
  bool authenticationRequired = false;
  std::vector<std::string> registeredUsers;                   // user names of `RegisteredUsers`
  bool dicomWebServersInDatabase = false;                     // `DicomWeb.ServersInDatabase`
  std::map<std::string, DicomWebServerDefinition> dicomWebServers;  // `DicomWeb.Servers`
};

// `DicomWebOAuth.Audit` (docs/audit.md). Present = enabled.
struct AuditConfig {
  bool enabled = false;
  std::string file;                                    // absolute
  std::vector<std::string> rules = {"phi_redaction"};  // audit scripts, applied in order
  std::string hashKey;                                 // secret: HMAC key the rules use to hash PHI
  bool orthancLog = false;                             // also copy each line to Orthanc's log
  int fsyncIntervalMs = 1000;                          // 0: fsync after every batch
  int queueCapacity = 10000;
  int queueTimeoutMs = 200;                            // producer wait when the queue is full
  int ruleTimeoutMs = 1000;                            // time budget of each rule call
  bool failClosed = false;                             // refuse proxy requests while records are lost
  std::string chainKey;                                // secret: HMAC key of the chain ("" = unkeyed)
  std::string chainKeyId;                              // "" = derived from the key's fingerprint
  std::string previousChainKey;                        // secret: the key a rotation closes
  int checkpointEveryRecords = 1000;                   // 0: not by count
  int checkpointIntervalSeconds = 60;                  // 0: not by time
  std::string checkpointFile;                          // "" = Orthanc's log only
};

// `DicomWebOAuth.Health` (docs/operations.md, "Health probes").
struct HealthConfig {
  std::string probeUser;                     // Orthanc user confined to the health routes; empty: none
  std::vector<std::string> optionalServers;  // may be degraded while the instance reports ready
  int liveTimeoutMs = 1000;                  // the Lua engine must hand out a state within this
  // Acquire every server's credential when Orthanc starts (default: true when a Health section is
  // present, false otherwise: without it tokens are acquired on first use, as before).
  bool acquireAtStart = false;
};

struct GlobalConfig {
  bool enabled = true;
  std::optional<LogLevel> logLevel;        // unset: keep Orthanc's verbosity
  LogFormat logFormat = LogFormat::Text;   // LogFormat: text (default) or json, one object per line
  int rateLimitRequests = 0;               // 0: no rate limit
  int rateLimitWindowSeconds = 60;
  CacheType cacheType = CacheType::Memory;
  std::string redisUrl;                    // redis://host[:port][/db] or a unix socket path
  std::string redisEncryptionKey;          // secret: 32 raw bytes (configured as hex or base64)
  std::vector<std::string> scriptDirectories;  // absolute
  std::string spoolDirectory;              // proxy bodies of signing providers; empty = system temp
  int luaMemoryLimitMb = 32;
  int luaTimeoutMs = 5000;
  int luaPoolSize = 16;
  int luaReservedStatesPerServer = 1;  // Lua states only each server's calls may use (isolation)
  bool watchScripts = true;
  std::vector<std::string> envAllowlist;
  std::vector<std::string> fileAllowlist;  // absolute path prefixes
  bool allowInjectWithServersInDatabase = false;
  AuditConfig audit;                       // `Audit`
  std::vector<std::string> policies;       // default routing policies of servers without their own
  int policyTimeoutMs = 100;               // time budget of one request's whole policy chain
  HealthConfig health;                     // `Health`
};

struct GatewayConfig {
  GlobalConfig global;
  bool contractsApplied = false;  // ApplyProviderContracts ran on the servers (ProviderContracts.h)
  std::map<std::string, ServerConfig> servers;  // by name
  OrthancSettings orthanc;
};

// Every secret value of the configuration (non-empty), for SecretRegistry::Add.
std::vector<std::string> CollectSecrets(const GatewayConfig& config);

}  // namespace gw::config
