#include "InjectGlue.h"

#include <atomic>

#include "DicomWebServers.h"
#include "OrthancGlue.h"
#include "ProxyRoute.h"
#include "gw/common/Log.h"

namespace gw::plugin {
namespace {

class OrthancDefinitionWriter : public service::IDefinitionWriter {
 public:
  Status Write(const std::string& server, const proxy::DicomWebDefinition& definition) override {
    return WriteDicomWebServer(server, definition);
  }
};

class OrthancRest : public service::IOrthancRest {
 public:
  service::RestReply GetJob(const std::string& jobId) override {
    return CallOrthanc(OrthancPluginHttpMethod_Get, "/jobs/" + jobId);
  }
  service::RestReply ResubmitJob(const std::string& jobId) override {
    return CallOrthanc(OrthancPluginHttpMethod_Post, "/jobs/" + jobId + "/resubmit", "{}");
  }
  service::RestReply ListDefinitions() override {
    return CallOrthanc(OrthancPluginHttpMethod_Get, DicomWebRoot() + "servers?expand");
  }
};

// The filter callback takes no user data: the object it serves, null before Install() and after
// the object is gone.
std::atomic<InjectGlue*> g_filterTarget{nullptr};

}  // namespace

RestAnswer CallOrthanc(OrthancPluginHttpMethod method, const std::string& uri, const std::string& body) {
  OrthancPluginMemoryBuffer answer{};
  OrthancPluginMemoryBuffer headers{};
  uint16_t status = 0;
  RestAnswer out;
  OrthancPluginErrorCode code =
      OrthancPluginCallRestApi(Context(), &answer, &headers, &status, method, uri.c_str(), 0, nullptr, nullptr,
                               body.data(), static_cast<uint32_t>(body.size()), 1);
  if (code == OrthancPluginErrorCode_Success) {
    out.status = status;
    if (answer.data) out.body.assign(static_cast<const char*>(answer.data), answer.size);
  }
  if (answer.data) OrthancPluginFreeMemoryBuffer(Context(), &answer);
  if (headers.data) OrthancPluginFreeMemoryBuffer(Context(), &headers);
  return out;
}

InjectGlue::InjectGlue(service::Gateway& gateway)
    : service_(gateway, std::make_shared<OrthancDefinitionWriter>(), std::make_shared<OrthancRest>(), DicomWebRoot(),
               ProxyDefinition) {}

std::unique_ptr<InjectGlue> InjectGlue::Install(service::Gateway& gateway) {
  // The filter serves inject mode, the client stage of routing policies (any mode), guards the
  // definitions the gateway writes (inject and proxy mode) and confines the probe user.
  if (!service::InjectService::Needed(gateway)) return nullptr;
  LoadDicomWebRoot();  // the filter matches calls under DicomWeb.Root
  std::unique_ptr<InjectGlue> glue(new InjectGlue(gateway));
  g_filterTarget = glue.get();
  OrthancPluginRegisterIncomingHttpRequestFilter2(Context(), Filter);
  return glue;
}

InjectGlue::~InjectGlue() {
  g_filterTarget = nullptr;
  service_.Stop();
}

// Incoming-request filter: Orthanc's arguments into a ClientCall; the verdict back as 1 (go on)
// or 0 (Orthanc answers a bare 403). InjectService logs and audits every refusal.
int32_t InjectGlue::Filter(OrthancPluginHttpMethod method, const char* uri, const char* ip, uint32_t headersCount,
                           const char* const* headersKeys, const char* const* headersValues, uint32_t getCount,
                           const char* const* getKeys, const char* const* getValues) {
  InjectGlue* self = g_filterTarget.load();
  if (!self) return 1;
  // Refused (0) when anything escapes: the filter fails closed.
  return Guard<int32_t>("inject filter on ", uri, 0, [&]() -> int32_t {
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
