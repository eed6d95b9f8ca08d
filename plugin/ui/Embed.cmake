# Turns the operator page (plugin/ui/) into a C++ source at build time:
#   -DUI_DIR=plugin/ui  -DOUT=<build>/UiAssets.cpp
# index.html gets ui.css and ui.js inlined at its @UI_CSS@ / @UI_JS@ markers, so the page is one
# document whatever the spelling of its URL (Orthanc routes /ui and /ui/ to the same handler, so
# relative asset URLs could not work for both); explorer.js is the snippet appended to Orthanc
# Explorer. Bytes are written as hex arrays: no quoting of the sources can go wrong.
file(READ ${UI_DIR}/index.html page)
file(READ ${UI_DIR}/ui.css css)
file(READ ${UI_DIR}/ui.js js)
string(REPLACE "@UI_CSS@" "${css}" page "${page}")
string(REPLACE "@UI_JS@" "${js}" page "${page}")
file(WRITE ${OUT}.page.tmp "${page}")
function(gw_hex_array var file)
  file(READ ${file} hex HEX)
  string(LENGTH "${hex}" n)
  math(EXPR size "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" hex "${hex}")
  set(${var} "${hex}" PARENT_SCOPE)
  set(${var}_size ${size} PARENT_SCOPE)
endfunction()
gw_hex_array(page_hex ${OUT}.page.tmp)
gw_hex_array(explorer_hex ${UI_DIR}/explorer.js)
file(REMOVE ${OUT}.page.tmp)
file(WRITE ${OUT}.tmp "// Generated from plugin/ui/ by plugin/ui/Embed.cmake: edit those files, not this one.
#include \"UiAssets.h\"

namespace gw::plugin::ui {
namespace {
const unsigned char kPage[] = {
${page_hex}};
const unsigned char kExplorer[] = {
${explorer_hex}0x00};
}  // namespace

std::string_view Page() { return {reinterpret_cast<const char*>(kPage), ${page_hex_size}}; }
const char* ExplorerScript() { return reinterpret_cast<const char*>(kExplorer); }

}  // namespace gw::plugin::ui
")
# Only touch the output when it changed, so a rebuild of nothing recompiles nothing.
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
