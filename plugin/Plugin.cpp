// Orthanc entry points: version check, configuration, and the PluginRuntime's lifetime (created and
// published in Initialize, retired in Finalize; PluginRuntime.h). All Orthanc glue lives in plugin/;
// the engine in core/ knows nothing of Orthanc.
#include <orthanc/OrthancCPlugin.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "OrthancGlue.h"
#include "PluginRuntime.h"
#include "RestRoutes.h"
#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"
#include "gw/config/ConfigParser.h"
#include "gw/http/CurlHttpClient.h"
#include "gw/service/ConfigurationLoad.h"
#include "gw/service/Gateway.h"
#include "gw/service/InjectMode.h"
#include "gw/service/LoopbackCredentials.h"

namespace {

constexpr const char* kPluginName = "dicomweb-oauth-gateway";

// The oldest Orthanc whose SDK offers every function this plugin calls. The newest of them is
// OrthancPluginCallRestApi (1.9.2, used by inject mode); keep this in step with the README.
constexpr int kMinimumMajor = 1;
constexpr int kMinimumMinor = 9;
constexpr int kMinimumRevision = 2;

// Holds its own copy of the context (not the runtime's): the runtime's teardown logs, and the sink
// stays set until Finalize has destroyed the runtime.
class OrthancLogSink : public gw::ILogSink {
 public:
  explicit OrthancLogSink(OrthancPluginContext* context) : context_(context) {}
  void Write(gw::LogLevel level, std::string_view message) override {
    const std::string line = std::string("[dicomweb-oauth] ") + std::string(message);
    switch (level) {
      case gw::LogLevel::Error: OrthancPluginLogError(context_, line.c_str()); break;
      case gw::LogLevel::Warning: OrthancPluginLogWarning(context_, line.c_str()); break;
      default: OrthancPluginLogInfo(context_, line.c_str()); break;
    }
  }

 private:
  OrthancPluginContext* const context_;
};

// Reads the configuration Orthanc hands us (variables already substituted) and, for CFG-003
// messages that name the variable, the ${VAR} references of the raw files: the CLI's sequence.
gw::config::ParseResult ReadConfiguration(OrthancPluginContext* ctx) {
  gw::service::ConfigurationSource source;
  source.text = gw::plugin::TakeOrthancString(ctx, OrthancPluginGetConfiguration(ctx));
  source.path = gw::plugin::TakeOrthancString(ctx, OrthancPluginGetConfigurationPath(ctx));
  gw::service::LoadedConfiguration loaded = gw::service::LoadConfiguration(source);
  if (loaded.read) return std::move(loaded.parsed);
  gw::config::ParseResult failed;
  failed.section = gw::config::SectionStatus::Present;
  failed.diagnostics = std::move(loaded.readProblems);
  return failed;
}

}  // namespace

namespace {

// The runtime for a gateway that stays disabled, published at once.
int32_t StartDisabled(OrthancPluginContext* context, std::string reason) {
  auto runtime = std::make_unique<gw::plugin::PluginRuntime>(context);
  runtime->StartDisabled(std::move(reason));
  return gw::plugin::PluginRuntime::Publish(std::move(runtime)) ? 0 : -1;
}

int32_t Start(OrthancPluginContext* context) {
  auto parsed = ReadConfiguration(context);
  if (parsed.section == gw::config::SectionStatus::Missing) {
    gw::LogInfo("no DicomWebOAuth section in the configuration: the gateway stays disabled");
    return StartDisabled(context, "no DicomWebOAuth section in the configuration");
  }
  // Secrets first, so nothing logged from here on can show them.
  for (const auto& s : gw::config::CollectSecrets(parsed.bestEffort)) gw::SecretRegistry::Add(s);
  // The format applies from the first problem reported (an invalid LogFormat keeps text).
  gw::SetLogFormat(parsed.bestEffort.global.logFormat);
  for (const auto& d : parsed.diagnostics) {
    gw::LogEvent line;
    line.level = d.severity == gw::config::Severity::Error ? gw::LogLevel::Error : gw::LogLevel::Warning;
    line.event = "config.problem";
    line.code = d.code;
    line.message = d.ToString();
    gw::Log(line);
  }
  if (!parsed.Ok()) {
    gw::LogError("invalid DicomWebOAuth configuration (" +
                 std::to_string(gw::config::CountSeverity(parsed.diagnostics, gw::config::Severity::Error)) +
                 " error(s)): the plugin refuses to start");
    return -1;
  }
  gw::config::GatewayConfig config = std::move(*parsed.config);
  if (config.global.logLevel) gw::SetLogLevel(*config.global.logLevel);
  if (!config.global.enabled) {
    gw::LogInfo("DicomWebOAuth.Enabled is false: the gateway stays disabled");
    return StartDisabled(context, "DicomWebOAuth.Enabled is false");
  }

  // Proxy mode behind Orthanc authentication: say at once what the loopback definition lacks.
  for (const auto& d : gw::service::CheckLoopbackCredentials(config)) gw::LogWarning(d.ToString());
  // Inject mode with a Url below the host: dot segments in a caller's Uri leave the prefix.
  for (const auto& d : gw::service::CheckInjectUrlPrefix(config)) gw::LogWarning(d.ToString());

  auto gateway = gw::service::Gateway::Create(std::move(config), std::make_shared<gw::http::CurlHttpClient>());
  if (!gateway.Ok()) {
    gw::LogError("cannot start: " + gateway.GetError().ToString());
    return -1;
  }
  // The audit trail starts before any request can be served (config.loaded is its first record).
  if (auto audit = gateway.Value()->StartAudit(); !audit.Ok()) {
    gw::LogError("cannot start: " + audit.GetError().ToString());
    return -1;
  }
  // On any failure from here on, `runtime` is destroyed before Initialize returns (Orthanc does not
  // call Finalize after a failed Initialize): its destructor stops what was started, and the
  // callbacks already registered find no runtime and fail closed.
  auto runtime = std::make_unique<gw::plugin::PluginRuntime>(context);
  if (auto started = runtime->StartGateway(std::move(gateway).Value()); !started.Ok()) {
    gw::LogError("cannot start: " + started.GetError().ToString());
    return -1;
  }
  const size_t servers = runtime->Gateway()->Config().servers.size();
  if (!gw::plugin::PluginRuntime::Publish(std::move(runtime))) {
    gw::LogError("cannot start: GW-500 the plugin is already running in this process");
    return -1;
  }
  gw::LogInfo("started: " + std::to_string(servers) + " server(s), Lua " + gw::lua::ScriptEngine::LuaVersion());
  return 0;
}

}  // namespace

extern "C" {

ORTHANC_PLUGINS_API int32_t OrthancPluginInitialize(OrthancPluginContext* context) {
  if (!OrthancPluginCheckVersionAdvanced(context, kMinimumMajor, kMinimumMinor, kMinimumRevision)) {
    const std::string msg = std::string("[dicomweb-oauth] this plugin needs Orthanc >= ") +
                            std::to_string(kMinimumMajor) + "." + std::to_string(kMinimumMinor) + "." +
                            std::to_string(kMinimumRevision) + ", running " + context->orthancVersion;
    OrthancPluginLogError(context, msg.c_str());
    return -1;
  }
  gw::SetLogSink(std::make_shared<OrthancLogSink>(context));
  OrthancPluginSetDescription(context,
                              "OAuth2 and cloud identity for Orthanc's DICOMweb client (Lua providers)");
  gw::plugin::ExtendExplorer(context);
  return gw::plugin::Guard<int32_t>("cannot start", nullptr, -1, [&] { return Start(context); });
}

ORTHANC_PLUGINS_API void OrthancPluginFinalize() {
  // Orthanc has stopped serving REST calls and running jobs; Retire() waits for any callback still
  // inside the runtime, then tears it down. The log sink goes last: the teardown logs.
  gw::plugin::PluginRuntime::Retire();
  gw::LogInfo("stopped");  // the teardown has completed (tests wait for this line)
  gw::SetLogSink(nullptr);
}

ORTHANC_PLUGINS_API const char* OrthancPluginGetName() { return kPluginName; }

ORTHANC_PLUGINS_API const char* OrthancPluginGetVersion() { return GW_VERSION; }

}  // extern "C"
