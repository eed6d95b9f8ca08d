#pragma once
// The operator page and the Orthanc Explorer snippet, compiled into the plugin from plugin/ui/
// (plugin/ui/Embed.cmake): no file to install, nothing fetched from elsewhere, works offline.
#include <string_view>

namespace gw::plugin::ui {

// /dicomweb-oauth/ui/: one HTML document with its CSS and JavaScript inlined.
std::string_view Page();
// Appended to Orthanc Explorer (OrthancPluginExtendOrthancExplorer): a button to the page.
const char* ExplorerScript();

}  // namespace gw::plugin::ui
