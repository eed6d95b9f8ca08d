-- Generic OAuth2 client credentials provider (RFC 6749 section 4.4).
--
-- Serves Keycloak, Okta, Auth0, Entra ID (v2 endpoint) and any standard token endpoint.
-- Client authentication methods (config key ClientAuthMethod):
--   client_secret_post            client_id + client_secret in the form body (the default; without
--                                 ClientAuthMethod the gateway infers it from the credential)
--   client_secret_basic           HTTP Basic with the form-encoded id and secret (RFC 6749 2.3.1)
--   client_secret_jwt             HS256 client assertion keyed with the secret (RFC 7523)
--   private_key_jwt               RS256 / ES256 client assertion signed with PrivateKeyFile
--   tls_client_auth, self_signed_tls_client_auth
--                                 mutual TLS with ClientCertificate / ClientKey (RFC 8705)
-- Extra form parameters: Scope, Audience (Auth0), Resource (Entra v1 style), ExtraTokenParameters.
-- Entra ID without TokenEndpoint: TenantId + AuthorityHost / AZURE_AUTHORITY_HOST give the v2
-- endpoint (oauth.entra_token_endpoint), and on a v2 endpoint a Resource without Scope becomes <Resource>/.default
-- (docs/providers/azure.md).
--
-- Returns {access_token, token_type, expires_in, scope} or nil, {code, message, status}:
--   AUTH-001 the IdP refused the client's credentials or grant (never retried)
--   AUTH-002 the IdP answered another 4xx error
--   AUTH-005 the IdP answered 429 or 5xx (retried)
--   TOK-004  a 2xx answer without a usable bearer token (retried)
--   CFG-002  the server configuration cannot work with this provider

local gw = gw
local oauth = gw.library("oauth")
local fail, config_string = oauth.fail, oauth.config_string
local string_format = string.format
local tostring, tonumber, type, pairs = tostring, tonumber, type, pairs

local ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
local ASSERTION_LIFETIME = 300
-- Used only when the IdP gives no expires_in and the token is not a JWT with an exp claim.
local DEFAULT_LIFETIME = 300

-- The client certificate and key go to TLS only for the mutual-TLS methods: with private_key_jwt a
-- ClientCertificate is there for the assertion's x5t header (Entra), and handing libcurl a
-- certificate without its key fails every https request.
local MTLS_METHODS = { tls_client_auth = true, self_signed_tls_client_auth = true }

-- The gateway decides the method from the schema below (ClientAuthMethod, else inferred from the
-- credential configured: docs/configuration.md) and hands it in ClientAuthMethod; the default
-- here serves direct calls.
local function auth_method(config)
  return config_string(config, "ClientAuthMethod") or "client_secret_post"
end

local function tls_options(config)
  local tls = oauth.tls_options(config)
  if MTLS_METHODS[auth_method(config)] then
    tls.cert_file = config_string(config, "ClientCertificate")
    tls.key_file = config_string(config, "ClientKey")
    tls.key_password = config_string(config, "ClientKeyPassword")
  end
  return tls
end

local function client_assertion(config, endpoint, method)
  local now = gw.time.now()
  local claims = {
    iss = config.ClientId, sub = config.ClientId, aud = endpoint,
    jti = gw.crypto.random_hex(16), iat = math.floor(now), nbf = math.floor(now),
    exp = math.floor(now) + ASSERTION_LIFETIME,
  }
  if method == "client_secret_jwt" then
    return gw.jwt.sign { alg = "HS256", secret = config.ClientSecret, claims = claims }
  end
  local key_file = config_string(config, "PrivateKeyFile")
  if not key_file then
    return nil, "private_key_jwt needs PrivateKeyFile"
  end
  -- Without SigningAlgorithm the key decides (RSA: RS256, EC P-256: ES256): an EC key with a
  -- forced RS256 could never sign.
  return gw.jwt.sign {
    alg = config_string(config, "SigningAlgorithm"),
    key_file = key_file,
    kid = config_string(config, "PrivateKeyId"),
    x5t_file = config_string(config, "ClientCertificate"),
    claims = claims,
  }
end

-- Entra v2 takes scopes, not a resource: without Scope, ask for <Resource>/.default.
local function entra_scope(config, endpoint)
  if config_string(config, "Scope") or not endpoint:find("/oauth2/v2.0/token", 1, true) then return nil end
  local resource = config_string(config, "Resource")
  if resource then return (resource:gsub("/+$", "")) .. "/.default" end
  return nil
end

-- Builds the form and the extra headers for the configured client authentication method.
local function build_request(config, endpoint)
  local method = auth_method(config)
  local form = { grant_type = "client_credentials" }
  local headers = {}
  local client_id = config_string(config, "ClientId")
  if not client_id then return fail("CFG-001", "ClientId is required by client_credentials") end

  if method == "client_secret_post" or method == "client_secret_basic"
      or method == "client_secret_jwt" then
    if not config_string(config, "ClientSecret") then
      return fail("CFG-003", "ClientSecret is empty; " .. method .. " needs it")
    end
  end

  if method == "client_secret_post" then
    form.client_id = client_id
    form.client_secret = config.ClientSecret
  elseif method == "client_secret_basic" then
    headers["Authorization"] = oauth.basic_auth(client_id, config.ClientSecret)
  elseif method == "client_secret_jwt" or method == "private_key_jwt" then
    local assertion, err = client_assertion(config, endpoint, method)
    if not assertion then return fail("CFG-002", "cannot build client assertion: " .. tostring(err)) end
    form.client_id = client_id
    form.client_assertion_type = ASSERTION_TYPE
    form.client_assertion = assertion
  elseif method == "tls_client_auth" or method == "self_signed_tls_client_auth" then
    if not (config_string(config, "ClientCertificate") and config_string(config, "ClientKey")) then
      return fail("CFG-001", method .. " needs ClientCertificate and ClientKey")
    end
    form.client_id = client_id
  else
    return fail("CFG-002", "unsupported ClientAuthMethod '" .. method .. "'")
  end

  form.scope = config_string(config, "Scope")
  form.audience = config_string(config, "Audience")
  form.resource = config_string(config, "Resource")
  local v2_scope = entra_scope(config, endpoint)
  if v2_scope then form.scope, form.resource = v2_scope, nil end
  if type(config.ExtraTokenParameters) == "table" then
    for k, v in pairs(config.ExtraTokenParameters) do
      if form[k] == nil then form[k] = tostring(v) end
    end
  end
  return form, headers
end

local function lifetime_of(body)
  local expires_in = tonumber(body.expires_in)  -- Entra v1 and some IdPs send a string
  if expires_in and expires_in > 0 then return expires_in end
  local remaining = oauth.jwt_remaining(body.access_token)
  if remaining and remaining > 0 then return remaining end
  return DEFAULT_LIFETIME
end

-- Of an error answer only the validated OAuth error code and a bounded, masked, printable
-- error_description reach the message (oauth.error_detail): an IdP may echo the request back.
local function interpret(response, secret)
  local status = response.status
  local body = oauth.decode_object(response.body)

  if status >= 200 and status < 300 then
    if not body or type(body.access_token) ~= "string" or body.access_token == "" then
      return fail("TOK-004", string_format("token endpoint answered %d without an access_token", status), 502)
    end
    local token_type = body.token_type
    if not oauth.is_bearer(token_type) then
      return fail("TOK-004", "unsupported token_type '" .. tostring(token_type) .. "'", 502)
    end
    return {
      access_token = body.access_token,
      token_type = "Bearer",
      expires_in = lifetime_of(body),
      scope = type(body.scope) == "string" and body.scope or nil,
      refresh_in = tonumber(body.refresh_in),
    }
  end

  local detail, idp_error = oauth.error_detail("token endpoint", status, body, secret)
  return oauth.token_endpoint_error(status, idp_error, detail)
end

return {
  name = "client_credentials",
  version = "1.0.0",
  kind = "provider",
  -- The configuration keys it reads (docs/lua-api.md, "Schemas"). TokenEndpoint, Scope, Resource,
  -- VerifySSL and CaBundle are the gateway's keys too. The gateway applies the rules (which
  -- credential each ClientAuthMethod needs) and hands the method decided in ClientAuthMethod.
  schema = {
    type = "object",
    properties = {
      TokenEndpoint = { type = "string" },
      ClientId = { type = "string" },
      ClientSecret = { type = "string", secret = true },
      ClientAuthMethod = {
        type = "string", ignore_case = true,
        enum = { "client_secret_post", "client_secret_basic", "client_secret_jwt", "private_key_jwt",
                 "tls_client_auth", "self_signed_tls_client_auth" },
        -- Without it, the credential configured decides.
        default_from = {
          { present = "ClientSecret", value = "client_secret_post" },
          { present = "PrivateKeyFile", value = "private_key_jwt" },
          { present = "ClientCertificate", value = "tls_client_auth" },
        },
        default = "client_secret_post",
      },
      Scope = { type = "string" },
      Audience = { type = "string" },
      Resource = { type = "string" },
      PrivateKeyFile = { type = "string", file = true },
      PrivateKeyId = { type = "string" },
      SigningAlgorithm = { type = "string", enum = { "RS256", "ES256", "HS256" }, ignore_case = true },
      ClientCertificate = { type = "string", file = true },
      ClientKey = { type = "string", file = true },
      ClientKeyPassword = { type = "string", secret = true },
      -- The grant and the client's credential come from their own keys, validated and masked there.
      ExtraTokenParameters = {
        type = "object", additionalProperties = { type = "string" },
        reserved = { "grant_type", "client_id", "client_secret", "client_assertion", "client_assertion_type" },
      },
      TenantId = { type = "string" },
      AuthorityHost = { type = "string", env = "AZURE_AUTHORITY_HOST" },
    },
    required = { "ClientId" },
    rules = {
      { when = { ClientAuthMethod = { "client_secret_post", "client_secret_basic", "client_secret_jwt" } },
        required = { "ClientSecret" } },
      { when = { ClientAuthMethod = "client_secret_jwt" }, allowed = { SigningAlgorithm = { "HS256" } } },
      { when = { ClientAuthMethod = "private_key_jwt" }, required = { "PrivateKeyFile" },
        allowed = { SigningAlgorithm = { "RS256", "ES256" } } },
      { when = { ClientAuthMethod = { "tls_client_auth", "self_signed_tls_client_auth" } },
        required = { "ClientCertificate", "ClientKey" } },
    },
  },

  -- ctx = { server = <name>, config = <the server's configuration object> }
  acquire = function(ctx)
    local config = ctx.config
    local endpoint = config_string(config, "TokenEndpoint")
    local tenant = config_string(config, "TenantId")
    if not endpoint and tenant then
      local err
      endpoint, err = oauth.entra_token_endpoint(config, tenant)
      if not endpoint then return fail("CFG-002", err) end
    end
    if not endpoint then return fail("CFG-001", "TokenEndpoint is required by client_credentials") end
    local form, headers = build_request(config, endpoint)
    if not form then return nil, headers end
    local response, http_err = oauth.post_form(endpoint, form, tls_options(config), headers)
    if not response then return nil, http_err end
    return interpret(response, config_string(config, "ClientSecret"))
  end,
}
