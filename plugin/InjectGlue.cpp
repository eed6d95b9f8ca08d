#include "InjectGlue.h"

#include "OrthancGlue.h"
#include "PluginRuntime.h"
#include "gw/common/Log.h"

namespace gw::plugin {
namespace {

// Both run on the inject worker's thread: they hold their own copy of what they need (the context,
// the root), never the runtime, so the worker can finish its last call while the runtime stops it.
class OrthancDefinitionWriter : public service::IDefinitionWriter {
 public:
  explicit OrthancDefinitionWriter(DicomWebServers dicomWeb) : dicomWeb_(std::move(dicomWeb)) {}
  Status Write(const std::string& server, const proxy::DicomWebDefinition& definition) override {
    return dicomWeb_.Write(server, definition);
  }

 private:
  const DicomWebServers dicomWeb_;
};

class OrthancRest : public service::IOrthancRest {
 public:
  OrthancRest(OrthancPluginContext* context, std::string root) : context_(context), root_(std::move(root)) {}
  service::RestReply GetJob(const std::string& jobId) override {
    return CallOrthanc(context_, OrthancPluginHttpMethod_Get, "/jobs/" + jobId);
  }
  service::RestReply ResubmitJob(const std::string& jobId) override {
    return CallOrthanc(context_, OrthancPluginHttpMethod_Post, "/jobs/" + jobId + "/resubmit", "{}");
  }
  service::RestReply ListDefinitions() override {
    return CallOrthanc(context_, OrthancPluginHttpMethod_Get, root_ + "servers?expand");
  }

 private:
  OrthancPluginContext* const context_;
  const std::string root_;
};

}  // namespace

RestAnswer CallOrthanc(OrthancPluginContext* context, OrthancPluginHttpMethod method, const std::string& uri,
                       const std::string& body) {
  OrthancPluginMemoryBuffer answer{};
  OrthancPluginMemoryBuffer headers{};
  uint16_t status = 0;
  RestAnswer out;
  OrthancPluginErrorCode code =
      OrthancPluginCallRestApi(context, &answer, &headers, &status, method, uri.c_str(), 0, nullptr, nullptr,
                               body.data(), static_cast<uint32_t>(body.size()), 1);
  if (code == OrthancPluginErrorCode_Success) {
    out.status = status;
    if (answer.data) out.body.assign(static_cast<const char*>(answer.data), answer.size);
  }
  if (answer.data) OrthancPluginFreeMemoryBuffer(context, &answer);
  if (headers.data) OrthancPluginFreeMemoryBuffer(context, &headers);
  return out;
}

InjectGlue::InjectGlue(OrthancPluginContext* context, service::Gateway& gateway, const DicomWebServers& dicomWeb,
                       service::InjectService::ProxyDefinitionLookup proxyDefinition)
    : service_(gateway, std::make_shared<OrthancDefinitionWriter>(dicomWeb),
               std::make_shared<OrthancRest>(context, dicomWeb.Root()), dicomWeb.Root(), std::move(proxyDefinition)) {}

std::unique_ptr<InjectGlue> InjectGlue::Install(OrthancPluginContext* context, service::Gateway& gateway,
                                                const DicomWebServers& dicomWeb,
                                                service::InjectService::ProxyDefinitionLookup proxyDefinition) {
  // The filter serves inject mode, the client stage of routing policies (any mode), guards the
  // definitions the gateway writes (inject and proxy mode) and confines the probe user.
  if (!service::InjectService::Needed(gateway)) return nullptr;
  std::unique_ptr<InjectGlue> glue(new InjectGlue(context, gateway, dicomWeb, std::move(proxyDefinition)));
  OrthancPluginRegisterIncomingHttpRequestFilter2(context, Filter);
  return glue;
}

InjectGlue::~InjectGlue() { service_.Stop(); }

// Incoming-request filter: Orthanc's arguments into a ClientCall; the verdict back as 1 (go on)
// or 0 (Orthanc answers a bare 403). InjectService logs and audits every refusal.
int32_t InjectGlue::Filter(OrthancPluginHttpMethod method, const char* uri, const char* ip, uint32_t headersCount,
                           const char* const* headersKeys, const char* const* headersValues, uint32_t getCount,
                           const char* const* getKeys, const char* const* getValues) {
  // Refused (0) when anything escapes, and when no runtime serves (half-initialised or finalized):
  // the filter fails closed.
  return Guard<int32_t>("inject filter on ", uri, 0, [&]() -> int32_t {
    const auto runtime = PluginRuntime::Enter();
    InjectGlue* self = runtime ? runtime->Inject() : nullptr;
    if (self == nullptr) return 0;
    service::ClientCall call;
    call.method = MethodName(method);
    call.uri = uri;
    call.ip = ip ? ip : "";
    call.headers.reserve(headersCount);
    for (uint32_t i = 0; i < headersCount; ++i) call.headers.emplace_back(headersKeys[i], headersValues[i]);
    call.query.reserve(getCount);
    for (uint32_t i = 0; i < getCount; ++i) call.query.emplace_back(getKeys[i], getValues[i]);
    return self->service_.Filter(call).allow ? 1 : 0;
  });
}

}  // namespace gw::plugin
