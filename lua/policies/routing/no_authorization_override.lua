-- No client override of Authorization.
--
-- A caller of /dicom-web/servers/{name}/stow|qido|get|retrieve may put "HttpHeaders" in the
-- request body, and the DICOMweb plugin then sends them, Authorization included, with its request.
-- In proxy mode that request reaches the gateway's route, which never forwards a caller's
-- Authorization upstream (the gateway adds its own credential), so an override cannot succeed.
-- This policy makes the attempt an explicit 403 instead of a silent drop: request.authorization
-- is "none" (no header), "expected" (exactly the credentials of the gateway's own loopback server
-- definition) or "other" (anything else: an override).
--
-- Limit: in inject mode the override is in the body of the client call, and Orthanc 1.10.1's
-- incoming-request filter does not see bodies (docs/policies.md); at the client stage this policy
-- cannot see it and allows.

local M = {
  name = "no_authorization_override",
  version = "1.0.0",
  kind = "policy",
  schema = { type = "object" },
}

function M.decide(request)
  if request.stage == "upstream" and request.authorization == "other" then
    return nil, {
      code = "POL-011",
      message = "a caller-supplied Authorization header (HttpHeaders in the request body) is not allowed for server '"
        .. request.server .. "'",
      status = 403,
    }
  end
  return { allow = true }
end

function M.self_test()
  local ok = M.decide({ stage = "upstream", server = "s", authorization = "expected" })
  local none = M.decide({ stage = "upstream", server = "s", authorization = "none" })
  local bad = M.decide({ stage = "upstream", server = "s", authorization = "other" })
  return ok ~= nil and none ~= nil and bad == nil
end

return M
