-- Failover: route to the first healthy target, in the order of the server's `Targets` (the first
-- is the primary). The proxy marks a target unhealthy when it cannot be reached, times out or
-- answers 5xx, for `FailoverCooldownSeconds`; after that it counts as healthy again and the next
-- request is the probe, so traffic returns to the primary once it has recovered.
-- When no target is healthy the primary is tried anyway: refusing would only turn a possibly
-- brief outage into a certain one, and that request is the probe.

local M = {
  name = "failover",
  version = "1.0.0",
  kind = "policy",
  schema = { type = "object" },
}

local ipairs = ipairs

function M.decide(request)
  local targets = request.targets
  if targets[1] == nil then
    return nil, { code = "POL-002", message = "no upstream target is configured", status = 500 }
  end
  for i, target in ipairs(targets) do
    if target.healthy then
      if i == 1 then return { allow = true, target = target.name } end
      return { allow = true, target = target.name,
               reason = "failover: " .. targets[1].name .. " is unhealthy, using " .. target.name }
    end
  end
  return { allow = true, target = targets[1].name, reason = "no healthy target: probing the primary" }
end

function M.self_test()
  local t = {
    { name = "primary", url = "https://a/", healthy = false },
    { name = "secondary", url = "https://b/", healthy = true },
  }
  local d = M.decide({ targets = t })
  if not (d and d.target == "secondary") then return false end
  t[1].healthy = true
  d = M.decide({ targets = t })
  if not (d and d.target == "primary") then return false end
  t[1].healthy, t[2].healthy = false, false
  d = M.decide({ targets = t })
  return d ~= nil and d.target == "primary"
end

return M
