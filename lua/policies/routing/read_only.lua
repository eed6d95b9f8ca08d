-- Read-only server: queries and retrieves are allowed, anything that writes or deletes is refused
-- with 403.
--   client stage (the /dicom-web/servers/{name}/<operation> call in Orthanc): the operations
--     stow, delete and post (a free-form POST to the remote server) are refused;
--   upstream stage (proxy mode, each request sent upstream): only GET is allowed, so no STOW
--     (POST) and no DELETE reaches the upstream even if a client-stage check was bypassed.

local M = {
  name = "read_only",
  version = "1.0.0",
  kind = "policy",
  schema = { type = "object" },
}

local WRITE_OPERATIONS = { stow = true, delete = true, post = true }

local function refuse(request, what)
  return nil, {
    code = "POL-010",
    message = "server '" .. request.server .. "' is read-only: " .. what .. " is not allowed",
    status = 403,
  }
end

function M.decide(request)
  if request.stage == "client" then
    if WRITE_OPERATIONS[request.operation] then return refuse(request, request.operation) end
    return { allow = true }
  end
  if request.method ~= "GET" then
    return refuse(request, request.method == "POST" and "STOW (POST)" or request.method)
  end
  return { allow = true }
end

function M.self_test()
  local get = M.decide({ stage = "upstream", server = "s", method = "GET" })
  local post = M.decide({ stage = "upstream", server = "s", method = "POST" })
  local stow = M.decide({ stage = "client", server = "s", method = "POST", operation = "stow" })
  local qido = M.decide({ stage = "client", server = "s", method = "POST", operation = "qido" })
  return get ~= nil and post == nil and stow == nil and qido ~= nil
end

return M
