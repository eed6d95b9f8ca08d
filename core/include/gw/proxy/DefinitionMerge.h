#pragma once
// One way to merge an operator's DicomWeb.Servers.<name> entry into the definition the gateway
// writes for that server (PUT /dicom-web/servers/{name} replaces, never merges: whatever the entry
// says and the gateway keeps must be in the definition). Independent of any mode's state: the one
// merge of both modes, proxy mode's loopback definitions (ProxyService) and inject mode's own
// (InjectMode::BuildDefinition).
#include <rapidjson/document.h>

#include "gw/proxy/DicomWebDefinition.h"

namespace gw::proxy {

// `existing`: the entry's JSON object as configured (anything else: nothing is merged). Sets in `d`
// what it leaves open: HasDelete and ChunkedTransfers (a boolean, or "1"/"0"/"true"/"false"),
// Timeout (a positive integer), and every key that the definition does not own
// (DicomWebDefinition::IsOwnedKey) as a user property: strings as they are, booleans as "1"/"0",
// integers in decimal (a whole number written 7.0 too: "7", never "7.000000"); other values
// (fractions, arrays, objects, null) are left out (Orthanc 1.10 accepts only strings there).
// Url, credentials and HttpHeaders are never taken: they are the caller's decision.
void MergeExistingDefinition(DicomWebDefinition& d, const rapidjson::Value& existing);

}  // namespace gw::proxy
