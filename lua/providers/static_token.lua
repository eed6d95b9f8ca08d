-- A fixed bearer token from the configuration (ProviderType static).
--
-- Token is a secret like any other: write it as ${VAR}, env:NAME or file:/path rather than in
-- clear (see docs/configuration.md, "Secret references"). The token never changes while Orthanc
-- runs, so "acquiring" it costs nothing and involves no network.
--
-- Lifetime: a JWT's exp claim when the token is a JWT (an expired one is refused, TOK-004: an
-- expired token is never injected); otherwise one day, after which the same token is simply
-- handed out again.
--
-- Returns {access_token, token_type, expires_in} or nil, {code, message, status}.

local gw = gw
local type, tonumber = type, tonumber

local OPAQUE_LIFETIME = 86400

local function fail(code, message, status)
  return nil, { code = code, message = message, status = status }
end

return {
  name = "static_token",
  version = "1.0.0",
  kind = "provider",
  schema = { required = { "Token" } },

  acquire = function(ctx)
    local token = ctx.config.Token
    if type(token) ~= "string" or token == "" then
      return fail("CFG-001", "Token is required by the static_token provider")
    end
    if token:find("[%s%c]") then
      return fail("CFG-002", "Token contains whitespace or control characters")
    end
    local lifetime = OPAQUE_LIFETIME
    local decoded = gw.jwt.decode(token)
    if decoded and type(decoded.claims) == "table" and tonumber(decoded.claims.exp) then
      lifetime = tonumber(decoded.claims.exp) - gw.time.now()
      if lifetime <= 0 then
        return fail("TOK-004", "the configured Token is a JWT that has expired", 503)
      end
    end
    return { access_token = token, token_type = "Bearer", expires_in = lifetime }
  end,
}
