-- Which Orthanc users may use a server. Configured per server, in the server's PolicyConfig:
--
--   "Servers": { "cloud": { ..., "Policies": ["user_server_acl"],
--                           "PolicyConfig": { "AllowedUsers": ["alice", "bob"] } } }
--
-- Client stage (the /dicom-web/servers/{name}/... call in Orthanc, where the Orthanc user is
-- known): allowed only for a user listed in AllowedUsers. Fails closed: no user (Orthanc
-- authentication disabled, or a call without one), a user not listed, or a missing or malformed
-- AllowedUsers list are all refused.
-- Upstream stage (proxy mode): the request comes from Orthanc's own DICOMweb plugin (the route
-- checks its per-start secret), and no Orthanc user is known there; the user was checked when
-- the client call entered Orthanc, so it is allowed.

local M = {
  name = "user_server_acl",
  version = "1.0.0",
  kind = "policy",
  schema = {
    type = "object",
    properties = { AllowedUsers = { type = "array", items = { type = "string" } } },
    required = { "AllowedUsers" },
  },
}

local type, ipairs = type, ipairs

local function allowed_users(request)
  local config = request.config
  local users = type(config) == "table" and config.AllowedUsers or nil
  if type(users) ~= "table" then return nil end
  for _, u in ipairs(users) do
    if type(u) ~= "string" then return nil end
  end
  return users
end

function M.decide(request)
  if request.stage ~= "client" then return { allow = true } end
  local users = allowed_users(request)
  if users == nil then
    return nil, {
      code = "POL-012",
      message = "server '" .. request.server .. "': PolicyConfig.AllowedUsers (a list of Orthanc user names) is missing "
        .. "or invalid; every user is refused",
      status = 500,
    }
  end
  local user = request.user
  if type(user) ~= "string" or user == "" then
    return nil, { code = "POL-013", message = "server '" .. request.server .. "' requires an authenticated Orthanc user",
                  status = 403 }
  end
  for _, u in ipairs(users) do
    if u == user then return { allow = true } end
  end
  return nil, { code = "POL-013", message = "Orthanc user '" .. user .. "' may not use server '" .. request.server .. "'",
                status = 403 }
end

function M.self_test()
  local config = { AllowedUsers = { "alice" } }
  local alice = M.decide({ stage = "client", server = "s", user = "alice", config = config })
  local bob = M.decide({ stage = "client", server = "s", user = "bob", config = config })
  local nobody = M.decide({ stage = "client", server = "s", config = config })
  local unconfigured = M.decide({ stage = "client", server = "s", user = "alice" })
  local upstream = M.decide({ stage = "upstream", server = "s" })
  return alice ~= nil and bob == nil and nobody == nil and unconfigured == nil and upstream ~= nil
end

return M
