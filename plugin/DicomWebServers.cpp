#include "DicomWebServers.h"

#include <orthanc/OrthancCPlugin.h>

#include "OrthancGlue.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"

namespace gw::plugin {

namespace {
std::string g_root = "/dicom-web/";
}

void LoadDicomWebRoot() {
  char* text = OrthancPluginGetConfiguration(Context());
  if (text == nullptr) return;
  const std::string configuration(text);
  OrthancPluginFreeString(Context(), text);
  auto doc = json::Parse(configuration, "CFG-001");
  if (!doc.Ok() || !doc.Value().IsObject()) return;
  auto dicomWeb = doc.Value().FindMember("DicomWeb");
  if (dicomWeb == doc.Value().MemberEnd() || !dicomWeb->value.IsObject()) return;
  auto root = dicomWeb->value.FindMember("Root");
  if (root == dicomWeb->value.MemberEnd() || !root->value.IsString()) return;
  std::string value = root->value.GetString();
  if (value.empty() || value.front() != '/') value.insert(value.begin(), '/');
  if (value.back() != '/') value.push_back('/');
  g_root = value;
}

const std::string& DicomWebRoot() { return g_root; }

Status WriteDicomWebServer(const std::string& name, const proxy::DicomWebDefinition& definition) {
  const std::string uri = g_root + "servers/" + name;
  const std::string body = definition.ToJson();
  OrthancPluginMemoryBuffer answer{};
  uint16_t status = 0;
  const OrthancPluginErrorCode rc =
      OrthancPluginCallRestApi(Context(), &answer, nullptr, &status, OrthancPluginHttpMethod_Put, uri.c_str(), 0,
                               nullptr, nullptr, body.data(), static_cast<uint32_t>(body.size()), 1);
  if (answer.data != nullptr) OrthancPluginFreeMemoryBuffer(Context(), &answer);
  if (rc != OrthancPluginErrorCode_Success || status < 200 || status >= 300) {
    return MakeError("PXY-008",
                     "the DICOMweb plugin refused the definition of server '" + name + "' (PUT " + uri +
                         ": HTTP " + std::to_string(status) + ", Orthanc error " + std::to_string(rc) +
                         "); is the DICOMweb plugin loaded?",
                     500);
  }
  return Status::Success();
}

}  // namespace gw::plugin
