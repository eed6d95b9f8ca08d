#pragma once
// Writes server definitions of Orthanc's DICOMweb plugin: PUT {DicomWeb.Root}servers/{name} through
// OrthancPluginCallRestApi with afterPlugins=1 (the DICOMweb plugin's routes are plugin routes). The
// PUT replaces the whole definition. Used by proxy mode (loopback URL + secret header) and inject
// mode (real URL + Authorization header).
//
// Errors: PXY-008 (500) when the DICOMweb plugin refuses or is not loaded (the message gives the
// HTTP status, never the definition: it holds secrets).
#include <orthanc/OrthancCPlugin.h>

#include <string>
#include <utility>

#include "gw/common/Error.h"
#include "gw/proxy/DicomWebDefinition.h"

namespace gw::plugin {

// A value (the Orthanc context and the root, both fixed for the plugin's life): the runtime keeps
// one and hands copies to the inject glue's worker, which writes definitions on its own thread.
class DicomWebServers {
 public:
  // Reads DicomWeb.Root from Orthanc's configuration (default "/dicom-web/").
  static DicomWebServers Load(OrthancPluginContext* context);

  // "/dicom-web/" or the configured root, always with leading and trailing '/'.
  const std::string& Root() const { return root_; }

  // Thread safe (CallRestApi is). Must run after Orthanc has started (OrthancStarted change event).
  Status Write(const std::string& name, const proxy::DicomWebDefinition& definition) const;

 private:
  DicomWebServers(OrthancPluginContext* context, std::string root) : context_(context), root_(std::move(root)) {}

  OrthancPluginContext* context_;
  std::string root_;
};

}  // namespace gw::plugin
