// dicomweb-oauth token --config PATH --server NAME [--show-token] [--scripts-dir DIR]...
//
// Acquires one token for one configured server exactly as the plugin would: the configuration is
// read and validated by the same loader and parser as check-config, the gateway is the plugin's own
// service::Gateway with a libcurl client, and the acquisition is the /test route's (a fresh one).
// Standard output gets the token metadata as JSON (and the token only with --show-token); logs,
// warnings and errors go to standard error, masked by the SecretRegistry.
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/prettywriter.h>

#include "Commands.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"
#include "gw/config/ConfigLoader.h"
#include "gw/config/ConfigParser.h"
#include "gw/http/CurlHttpClient.h"
#include "ErrorStream.h"
#include "gw/service/Gateway.h"

namespace gw::cli {
namespace {

constexpr const char* kUsage =
    "usage: dicomweb-oauth token --config PATH --server NAME [--show-token] [--scripts-dir DIR]...\n";

struct Options {
  std::string config;
  std::string server;
  bool showToken = false;
  std::vector<std::string> scriptDirs;
};

// `--name VALUE` or `--name=VALUE`; false (with a message) when the value is missing or repeated.
bool TakeValue(const std::vector<std::string>& args, size_t& i, const std::string& name, std::string& out,
               std::ostream& err, bool repeatable = false) {
  const std::string& a = args[i];
  std::string value;
  if (a == name) {
    if (i + 1 >= args.size()) {
      err << "dicomweb-oauth token: " << name << " needs a value\n" << kUsage;
      return false;
    }
    value = args[++i];
  } else {
    value = a.substr(name.size() + 1);
  }
  if (value.empty()) {
    err << "dicomweb-oauth token: " << name << " needs a non-empty value\n" << kUsage;
    return false;
  }
  if (!repeatable && !out.empty()) {
    err << "dicomweb-oauth token: " << name << " given twice\n" << kUsage;
    return false;
  }
  out = value;
  return true;
}

bool ParseArgs(const std::vector<std::string>& args, Options& options, std::ostream& err) {
  auto is = [](const std::string& a, const char* name) {
    return a == name || a.rfind(std::string(name) + "=", 0) == 0;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (is(a, "--config")) {
      if (!TakeValue(args, i, "--config", options.config, err)) return false;
    } else if (is(a, "--server")) {
      if (!TakeValue(args, i, "--server", options.server, err)) return false;
    } else if (is(a, "--scripts-dir")) {
      std::string dir;
      if (!TakeValue(args, i, "--scripts-dir", dir, err, true)) return false;
      options.scriptDirs.push_back(dir);
    } else if (a == "--show-token") {
      options.showToken = true;
    } else if (!a.empty() && a[0] == '-') {
      err << "dicomweb-oauth token: unknown option '" << a << "'\n" << kUsage;
      return false;
    } else {
      err << "dicomweb-oauth token: unexpected argument '" << a << "'\n" << kUsage;
      return false;
    }
  }
  if (options.config.empty() || options.server.empty()) {
    err << kUsage;
    return false;
  }
  return true;
}

std::string Pretty(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

int RunToken(const std::vector<std::string>& args, Io io) {
  Options options;
  if (!ParseArgs(args, options, io.err)) return kExitUsage;
  SetLogSink(std::make_shared<ErrSink>(io.err));
  SetLogLevel(LogLevel::Warning);

  std::optional<config::GatewayConfig> cfg = LoadConfiguration(options.config, options.scriptDirs, io.err);
  if (!cfg) return kExitFailure;
  if (cfg->servers.count(options.server) == 0) {
    std::string known;
    for (const auto& [name, server] : cfg->servers) known += (known.empty() ? "" : ", ") + name;
    PrintError(io.err, "TOK-006", "unknown server '" + options.server + "' (configured: " +
                                      (known.empty() ? std::string("none") : known) + ")");
    return kExitFailure;
  }

  auto gateway = service::Gateway::Create(std::move(*cfg), std::make_shared<http::CurlHttpClient>());
  if (!gateway.Ok()) {
    PrintError(io.err, gateway.GetError().code, gateway.GetError().message);
    return kExitFailure;
  }
  service::Gateway& instance = *gateway.Value();

  const service::JsonAnswer answer = instance.TestServer(options.server, true);
  auto body = json::Parse(answer.body, "GW-500");
  if (!body.Ok() || !body.Value().IsObject()) {
    PrintError(io.err, "GW-500", "unreadable answer from the gateway");
    return kExitFailure;
  }
  rapidjson::Document& doc = body.Value();
  if (answer.status != 200) {
    const auto error = doc.FindMember("error");
    if (error != doc.MemberEnd() && error->value.IsObject() && error->value.HasMember("code") &&
        error->value["code"].IsString() && error->value.HasMember("message") && error->value["message"].IsString()) {
      PrintError(io.err, error->value["code"].GetString(), error->value["message"].GetString());
    } else {
      PrintError(io.err, "GW-500", "token acquisition failed with HTTP status " + std::to_string(answer.status));
    }
    return kExitFailure;
  }

  // Metadata holds no secret; masked anyway, like every other line this command prints.
  const std::string metadata = SecretRegistry::Redact(Pretty(doc));
  if (!options.showToken) {
    io.out << metadata << "\n";
    return kExitOk;
  }
  // The record the acquisition above just cached: what the plugin would put on the wire.
  auto handle = instance.Tokens().FindServer(options.server);
  if (!handle.Ok()) {
    PrintError(io.err, handle.GetError().code, handle.GetError().message);
    return kExitFailure;
  }
  auto record = handle.Value().Get();
  if (!record.Ok()) {
    PrintError(io.err, record.GetError().code, record.GetError().message);
    return kExitFailure;
  }
  auto shown = json::Parse(metadata, "GW-500");
  if (!shown.Ok() || !shown.Value().IsObject()) {
    PrintError(io.err, "GW-500", "unreadable token metadata");
    return kExitFailure;
  }
  auto& a = shown.Value().GetAllocator();
  const std::string& token = record.Value()->accessToken;
  shown.Value().AddMember("accessToken",
                          rapidjson::Value(token.data(), static_cast<rapidjson::SizeType>(token.size()), a), a);
  // Not masked: the operator asked for the token.
  io.out << Pretty(shown.Value()) << "\n";
  return kExitOk;
}

}  // namespace gw::cli
