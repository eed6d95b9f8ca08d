#pragma once
// Reading files on behalf of a script, shared by gw.file.read and the bindings that take a file
// name (gw.jwt.sign's key_file): only below the folders of EngineOptions::fileAllowlist.
#include <string>
#include <string_view>

#include <lua.hpp>

namespace gw::lua {

// Returns the contents of `path`. Throws BindingError (messages prefixed by `function`) when the
// path does not resolve, resolves (symbolic links and ".." included) outside every allowlisted
// folder, is not a regular file, or is larger than 1 MiB. The file is opened by its resolved path
// without following a final link, and the opened descriptor is checked to be that path, so a link
// swapped in between is refused.
std::string ReadAllowedFile(lua_State* L, std::string_view path, const char* function);

}  // namespace gw::lua
