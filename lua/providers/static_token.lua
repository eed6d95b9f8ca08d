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

local oauth = gw.library("oauth")
local fail, jwt_remaining = oauth.fail, oauth.jwt_remaining
local type = type

local OPAQUE_LIFETIME = 86400

return {
  name = "static_token",
  version = "1.0.0",
  kind = "provider",
  schema = {
    type = "object",
    properties = { Token = { type = "string", secret = true } },
    required = { "Token" },
  },

  acquire = function(ctx)
    local token = ctx.config.Token
    if type(token) ~= "string" or token == "" then
      return fail("CFG-001", "Token is required by the static_token provider")
    end
    if token:find("[%s%c]") then
      return fail("CFG-002", "Token contains whitespace or control characters")
    end
    local lifetime = jwt_remaining(token) or OPAQUE_LIFETIME
    if lifetime <= 0 then
      return fail("TOK-004", "the configured Token is a JWT that has expired", 502)
    end
    return { access_token = token, token_type = "Bearer", expires_in = lifetime }
  end,
}
