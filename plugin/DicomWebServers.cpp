#include "DicomWebServers.h"

#include "OrthancGlue.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"

namespace gw::plugin {

namespace {

constexpr const char* kDefaultRoot = "/dicom-web/";

std::string ReadRoot(OrthancPluginContext* context) {
  const std::string configuration = TakeOrthancString(context, OrthancPluginGetConfiguration(context));
  if (configuration.empty()) return kDefaultRoot;
  auto doc = json::Parse(configuration, "CFG-001");
  if (!doc.Ok() || !doc.Value().IsObject()) return kDefaultRoot;
  auto dicomWeb = doc.Value().FindMember("DicomWeb");
  if (dicomWeb == doc.Value().MemberEnd() || !dicomWeb->value.IsObject()) return kDefaultRoot;
  auto root = dicomWeb->value.FindMember("Root");
  if (root == dicomWeb->value.MemberEnd() || !root->value.IsString()) return kDefaultRoot;
  std::string value = root->value.GetString();
  if (value.empty() || value.front() != '/') value.insert(value.begin(), '/');
  if (value.back() != '/') value.push_back('/');
  return value;
}

}  // namespace

DicomWebServers DicomWebServers::Load(OrthancPluginContext* context) { return {context, ReadRoot(context)}; }

Status DicomWebServers::Write(const std::string& name, const proxy::DicomWebDefinition& definition) const {
  const std::string uri = root_ + "servers/" + name;
  const std::string body = definition.ToJson();
  OrthancPluginMemoryBuffer answer{};
  uint16_t status = 0;
  const OrthancPluginErrorCode rc =
      OrthancPluginCallRestApi(context_, &answer, nullptr, &status, OrthancPluginHttpMethod_Put, uri.c_str(), 0,
                               nullptr, nullptr, body.data(), static_cast<uint32_t>(body.size()), 1);
  if (answer.data != nullptr) OrthancPluginFreeMemoryBuffer(context_, &answer);
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
