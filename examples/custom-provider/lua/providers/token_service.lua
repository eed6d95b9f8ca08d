-- Example of a custom identity provider: an in-house token service that is not OAuth2.
--
-- It takes a JSON body {"client": <ClientId>, "secret": <ClientSecret>, "audience": <Audience>}
-- on POST <TokenEndpoint> and answers {"token": "...", "ttl": <seconds>}. Drop this file into a
-- folder of ScriptDirectories, set `"Provider": "token_service"` on a server, and reload
-- (POST /dicomweb-oauth/reload, or let the file watch do it): no rebuild, no restart.
--
-- ClientSecret is declared secret in the schema below, so it may be written as env:NAME, file:/path
-- or keyvault:... and is masked in logs. The script never logs it, nor the token.
--
-- The shipped library `oauth` (lua/lib/oauth.lua, docs/lua-api.md "Sharing code: libraries")
-- gives the error return, the settings helpers and the TLS options the shipped providers use.
local oauth = gw.library("oauth")
local fail, config_string, nonempty = oauth.fail, oauth.config_string, oauth.nonempty

local M = {
  name = "token_service",
  version = "1.0.0",
  kind = "provider",
  -- The keys it reads, checked by the gateway at start, reload and check-config like a shipped
  -- provider's (docs/lua-api.md, "Schemas"): a misspelt key is warned about with a hint, a missing
  -- required one refuses the configuration, and the secret key may be an env:/file:/keyvault:
  -- reference and is masked everywhere.
  schema = {
    type = "object",
    properties = {
      TokenEndpoint = { type = "string" },
      ClientId = { type = "string" },
      ClientSecret = { type = "string", secret = true },
      Audience = { type = "string" },
    },
    required = { "TokenEndpoint", "ClientId", "ClientSecret" },
  },
}

function M.acquire(ctx)
  local c = ctx.config
  for _, key in ipairs(M.schema.required) do
    if not config_string(c, key) then
      return fail("CFG-002", "token_service needs " .. key, 500)
    end
  end
  local response, err = gw.http.request {
    method = "POST",
    url = c.TokenEndpoint,
    headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" },
    body = gw.json.encode { client = c.ClientId, secret = c.ClientSecret, audience = c.Audience or "" },
    timeout_ms = 5000,
    tls = oauth.tls_options(c),  -- VerifySSL and CaBundle, as every shipped provider reads them
  }
  if not response then
    return fail(err.code, "token service unreachable: " .. err.message, 503)
  end
  if response.status == 401 or response.status == 403 then
    -- Refused credentials: the engine does not retry these in the background.
    return fail("AUTH-001", "token service refused client '" .. c.ClientId .. "' (HTTP " .. response.status .. ")", 401)
  end
  if response.status ~= 200 then
    return fail("AUTH-005", "token service answered HTTP " .. response.status, 502)
  end
  local body = oauth.decode_object(response.body)
  if not body or not nonempty(body.token) or type(body.ttl) ~= "number" then
    return fail("TOK-004", "token service answer has no token/ttl", 502)
  end
  return { access_token = body.token, token_type = "Bearer", expires_in = body.ttl }
end

function M.self_test()
  local _, err = M.acquire { server = "self-test", config = {} }
  return err ~= nil and err.code == "CFG-002"
end

return M
