#include "gw/config/GatewayConfig.h"

#include "gw/config/RedisUrl.h"

namespace gw::config {

const char* ToString(CacheType value) {
  return value == CacheType::Redis ? "redis" : "memory";
}

const char* ToString(ServerMode value) {
  return value == ServerMode::Proxy ? "proxy" : "inject";
}

const char* ToString(RetryStrategy value) {
  switch (value) {
    case RetryStrategy::Fixed: return "fixed";
    case RetryStrategy::Linear: return "linear";
    case RetryStrategy::Exponential: return "exponential";
  }
  return "?";
}

const char* ToString(ClientAuthMethod value) {
  switch (value) {
    case ClientAuthMethod::None: return "none";
    case ClientAuthMethod::ClientSecretPost: return "client_secret_post";
    case ClientAuthMethod::ClientSecretBasic: return "client_secret_basic";
    case ClientAuthMethod::ClientSecretJwt: return "client_secret_jwt";
    case ClientAuthMethod::PrivateKeyJwt: return "private_key_jwt";
    case ClientAuthMethod::TlsClientAuth: return "tls_client_auth";
    case ClientAuthMethod::SelfSignedTlsClientAuth: return "self_signed_tls_client_auth";
  }
  return "?";
}

std::vector<std::string> CollectSecrets(const GatewayConfig& config) {
  std::vector<std::string> out;
  auto add = [&out](const std::string& value) {
    if (!value.empty()) out.push_back(value);
  };
  add(config.global.redisEncryptionKey);
  add(config.global.audit.hashKey);
  add(config.global.audit.chainKey);
  add(config.global.audit.previousChainKey);
  // redis://user:password@host: the password part.
  if (auto redis = ParseRedisUrl(config.global.redisUrl); redis.Ok()) add(redis.Value().password);
  for (const auto& [name, server] : config.servers) {
    for (const std::string& secret : server.secrets) add(secret);  // the provider contract's secret keys
    add(server.password);
    // Username/Password make an HTTP Basic credential: "user:password" registers its base64 form,
    // the header value, too (SecretRegistry::Add).
    if (!server.password.empty()) add(server.username + ":" + server.password);
    add(server.certificateKeyPassword);
    for (const auto& [header, value] : server.httpHeaders) add(value);
  }
  for (const auto& [name, server] : config.orthanc.dicomWebServers) {
    add(server.password);
    if (!server.password.empty()) add(server.username + ":" + server.password);
    for (const auto& [header, value] : server.httpHeaders) add(value);
  }
  return out;
}

}  // namespace gw::config
