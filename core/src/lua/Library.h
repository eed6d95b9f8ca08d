#pragma once
// Library scripts: code that scripts of one snapshot share.
//
// A script in a `lib/` folder directly under a script folder declares `kind = "library"`; the
// loader runs every library before the other scripts of a state and registers its contract table
// under its name. Any script (a library too, for the libraries loaded before it) then gets that
// table through `gw.library(name)` (LibraryNamespace, listed in BindingRegistry.h).
//
// What gw.library returns is a read-only view, never the table itself: several scripts share one
// library per state, so a script that could assign `oauth.fail = ...` would change what every
// other script of that state runs, and differently from the states next to it. A view is a
// userdata whose reads go to the table (nested tables come back as views as well, the same view
// for the same table), whose writes raise, and whose metatable is locked; `pairs`, `ipairs` and
// `#` work through __pairs, __index and __len. The library's own functions keep the real table:
// a library may change its own state, a script using it may not.
#include <string_view>

#include <lua.hpp>

namespace gw::lua {

// The contract `kind` of library scripts.
inline constexpr std::string_view kLibraryKind = "library";

// The folder (directly under a script folder) where library scripts live.
inline constexpr std::string_view kLibraryFolder = "lib";

// Registers the contract table at absolute index `contract` as library `name` of this state.
// Protected mode. The stack is unchanged.
void RegisterLibrary(lua_State* L, int contract, std::string_view name);

}  // namespace gw::lua
