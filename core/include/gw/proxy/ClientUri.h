#pragma once
// What a request URI names among the DICOMweb plugin's server routes, decided the way Orthanc 1.10.1
// routes it, so that the gateway's incoming-request filter (client-stage policies, inject mode's
// just-in-time refresh, the audit record, the protection of the definitions the gateway owns)
// cannot be side-stepped by spelling a URI differently.
//
// How Orthanc 1.10.1 (civetweb 1.15) turns a request line into a route, measured here:
//   1. civetweb percent-decodes the path once, turns '\' into '/', removes dot segments, collapses
//      "//" and drops a trailing '.'; a decoded NUL ends the path. The filter receives this text
//      (`local_uri`), still with its trailing '/', if any.
//   2. Toolbox::SplitUriComponents splits that same text at '/': no further decoding, a trailing
//      '/' adds nothing, an empty component in the middle is a 400.
//   3. The plugin routes match boost regexes against "/" + components joined by "/"
//      (FlattenUri), case-sensitively. DICOMweb 1.7 registers, under its Root:
//        servers                     list               GET
//        servers/([^/]*)             one definition     GET, PUT (replace), DELETE
//        servers/([^/]*)/(stow|wado|get|retrieve|qido|delete)   client calls (POST)
// So "/dicom-web/servers/x/get/" (and "%2e", "//", "%67et", "%2F" spellings of it, which civetweb
// normalises to it) reaches the same handler as "/dicom-web/servers/x/get".
//
// Classify() reproduces step 2 and 3 exactly on the text the filter receives. A URI that still
// looks like it is under the servers routes after more decoding than Orthanc did (a '%', '\',
// control character or dot segment left in a component, an upper-case or percent-encoded
// spelling of the prefix, an empty component) is Unclassifiable: the caller refuses it on a
// server it protects, since another layer might read it differently.
#include <string>
#include <string_view>

namespace gw::proxy {

struct ClientUri {
  enum class Kind {
    Other,           // not one of the DICOMweb plugin's server routes
    ServerList,      // {Root}servers
    Definition,      // {Root}servers/{server}
    Operation,       // {Root}servers/{server}/{operation}
    Unclassifiable,  // near the servers routes, but not a spelling Orthanc routes unambiguously
  };
  Kind kind = Kind::Other;
  std::string server;     // Definition, Operation; Unclassifiable: the best guess, may be empty
  std::string operation;  // Operation: stow, wado, get, retrieve, qido or delete

  // `uri`: as the incoming-request filter receives it. `root`: DicomWeb.Root ("/dicom-web/").
  static ClientUri Classify(std::string_view uri, std::string_view root);
};

}  // namespace gw::proxy
