#pragma once
// Writes server definitions of Orthanc's DICOMweb plugin: PUT {DicomWeb.Root}servers/{name} through
// OrthancPluginCallRestApi with afterPlugins=1 (the DICOMweb plugin's routes are plugin routes). The
// PUT replaces the whole definition. Used by proxy mode (loopback URL + secret header) and inject
// mode (real URL + Authorization header).
//
// Errors: PXY-008 (500) when the DICOMweb plugin refuses or is not loaded (the message gives the
// HTTP status, never the definition: it holds secrets).
#include <string>

#include "gw/common/Error.h"
#include "gw/proxy/DicomWebDefinition.h"

namespace gw::plugin {

// Reads DicomWeb.Root from Orthanc's configuration (default "/dicom-web/"); call once at start.
void LoadDicomWebRoot();
// "/dicom-web/" or the configured root, always with leading and trailing '/'.
const std::string& DicomWebRoot();

// Thread safe (CallRestApi is). Must run after Orthanc has started (OrthancStarted change event).
Status WriteDicomWebServer(const std::string& name, const proxy::DicomWebDefinition& definition);

}  // namespace gw::plugin
