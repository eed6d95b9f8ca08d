-- Default routing: every request is allowed and goes to the server's primary upstream (its `Url`,
-- or the first of its `Targets`). The policy to start from when a server needs no restriction;
-- it makes the routing explicit in audit records ("target": "primary").

local M = {
  name = "default_routing",
  version = "1.0.0",
  kind = "policy",
  schema = { type = "object" },
}

function M.decide(request)
  local primary = request.targets[1]
  if primary == nil then
    -- Client-stage calls always list the server's targets; an empty list is a gateway bug.
    return nil, { code = "POL-002", message = "no upstream target is configured", status = 500 }
  end
  return { allow = true, target = primary.name }
end

function M.self_test()
  local d = M.decide({ targets = { { name = "primary", url = "https://a/", healthy = false } } })
  return d ~= nil and d.allow == true and d.target == "primary"
end

return M
