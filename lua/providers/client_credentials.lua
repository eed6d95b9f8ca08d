-- Generic OAuth2 client credentials provider (RFC 6749 section 4.4).
--
-- Serves Keycloak, Okta, Auth0, Entra ID (v2 endpoint) and any standard token endpoint.
-- Client authentication methods (config key ClientAuthMethod):
--   client_secret_post            client_id + client_secret in the form body (the default; without
--                                 ClientAuthMethod the credential decides, as in the parser)
--   client_secret_basic           HTTP Basic with the form-encoded id and secret (RFC 6749 2.3.1)
--   client_secret_jwt             HS256 client assertion keyed with the secret (RFC 7523)
--   private_key_jwt               RS256 / ES256 client assertion signed with PrivateKeyFile
--   tls_client_auth, self_signed_tls_client_auth
--                                 mutual TLS with ClientCertificate / ClientKey (RFC 8705)
-- Extra form parameters: Scope, Audience (Auth0), Resource (Entra v1 style), ExtraTokenParameters.
-- Entra ID without TokenEndpoint: TenantId + AuthorityHost / AZURE_AUTHORITY_HOST give the v2
-- endpoint, and on a v2 endpoint a Resource without Scope becomes <Resource>/.default
-- (docs/providers/azure.md).
--
-- Returns {access_token, token_type, expires_in, scope} or nil, {code, message, status}:
--   AUTH-001 the IdP refused the client's credentials or grant (never retried)
--   AUTH-002 the IdP answered another 4xx error
--   AUTH-005 the IdP answered 429 or 5xx (retried)
--   TOK-004  a 2xx answer without a usable bearer token (retried)
--   CFG-002  the server configuration cannot work with this provider

local gw = gw
local json = gw.json
local string_format = string.format
local tostring, tonumber, type, pairs = tostring, tonumber, type, pairs

local ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
local ASSERTION_LIFETIME = 300
-- Used only when the IdP gives no expires_in and the token is not a JWT with an exp claim.
local DEFAULT_LIFETIME = 300

-- IdP error codes that mean "these credentials or this grant will not work": retrying cannot help.
local CREDENTIAL_ERRORS = {
  invalid_client = true, unauthorized_client = true, invalid_grant = true,
  invalid_scope = true, access_denied = true, invalid_target = true,
}

local function fail(code, message, status)
  return nil, { code = code, message = message, status = status }
end

local function config_string(config, key)
  local v = config[key]
  if type(v) == "string" and v ~= "" then return v end
  return nil
end

-- The client certificate and key go to TLS only for the mutual-TLS methods: with private_key_jwt a
-- ClientCertificate is there for the assertion's x5t header (Entra), and handing libcurl a
-- certificate without its key fails every https request.
local MTLS_METHODS = { tls_client_auth = true, self_signed_tls_client_auth = true }

-- ClientAuthMethod, else inferred from the credential configured, as the configuration parser does
-- (docs/configuration.md): ClientSecret, else PrivateKeyFile, else ClientCertificate.
local function auth_method(config)
  return config_string(config, "ClientAuthMethod")
    or (config_string(config, "ClientSecret") and "client_secret_post")
    or (config_string(config, "PrivateKeyFile") and "private_key_jwt")
    or (config_string(config, "ClientCertificate") and "tls_client_auth")
    or "client_secret_post"
end

local function tls_options(config)
  local tls = { verify = true }
  local verify = config.VerifySSL
  if verify == false then
    tls.verify = false
  elseif type(verify) == "string" and verify ~= "" then
    tls.ca_file = verify
  end
  tls.ca_file = config_string(config, "CaBundle") or tls.ca_file
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

-- Entra ID without TokenEndpoint: <authority>/<TenantId>/oauth2/v2.0/token, the authority being
-- AuthorityHost, else AZURE_AUTHORITY_HOST (as the Azure SDK reads it; sovereign clouds such as
-- https://login.microsoftonline.us), else the public cloud. https only, except a loopback test host.
local function entra_endpoint(config)
  local tenant = config.TenantId
  if not tenant:match("^[%w%.%-]+$") then return nil, "TenantId has invalid characters" end
  local host = config_string(config, "AuthorityHost") or gw.env.get("AZURE_AUTHORITY_HOST")
  if host == nil or host == "" then host = "https://login.microsoftonline.com" end
  if not host:find("://", 1, true) then host = "https://" .. host end
  host = host:gsub("/+$", "")
  local scheme, hostname = host:match("^(%a+)://([^/:]+)")
  local loopback = hostname == "127.0.0.1" or hostname == "localhost" or hostname == "[::1]"
  if scheme == nil or not (scheme:lower() == "https" or (scheme:lower() == "http" and loopback)) then
    return nil, "AuthorityHost must be an https URL"
  end
  return host .. "/" .. tenant .. "/oauth2/v2.0/token"
end

-- Entra v2 takes scopes, not a resource: without Scope, ask for <Resource>/.default.
local function entra_scope(config, endpoint)
  if config_string(config, "Scope") or not endpoint:find("/oauth2/v2.0/token", 1, true) then return nil end
  local resource = config_string(config, "Resource")
  if resource then return (resource:gsub("/+$", "")) .. "/.default" end
  return nil
end

-- Builds the form, headers and TLS options for the configured client authentication method.
local function build_request(config, endpoint)
  local method = auth_method(config)
  local form = { grant_type = "client_credentials" }
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Accept"] = "application/json",
  }
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
    local pair = gw.url.form_escape(client_id) .. ":" .. gw.url.form_escape(config.ClientSecret)
    headers["Authorization"] = "Basic " .. gw.base64.encode(pair)
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
  return { method = "POST", url = endpoint, headers = headers, body = gw.url.form_encode(form),
           tls = tls_options(config) }
end

local function lifetime_of(body)
  local expires_in = tonumber(body.expires_in)  -- Entra v1 and some IdPs send a string
  if expires_in and expires_in > 0 then return expires_in end
  local decoded = gw.jwt.decode(body.access_token)
  if decoded and type(decoded.claims) == "table" and tonumber(decoded.claims.exp) then
    local remaining = tonumber(decoded.claims.exp) - gw.time.now()
    if remaining > 0 then return remaining end
  end
  return DEFAULT_LIFETIME
end

-- Text from the IdP goes into error messages: bounded, and with the client secret masked in case
-- the IdP echoes the request back.
local MAX_IDP_TEXT = 300

local function idp_text(value, secret)
  if type(value) ~= "string" then return nil end
  local text = value
  if secret and #secret >= 6 then
    local start = text:find(secret, 1, true)
    while start do
      text = text:sub(1, start - 1) .. "***" .. text:sub(start + #secret)
      start = text:find(secret, start + 3, true)
    end
  end
  if #text > MAX_IDP_TEXT then text = text:sub(1, MAX_IDP_TEXT) .. "..." end
  return text
end

local function interpret(response, secret)
  local status = response.status
  local body = nil
  if response.body and response.body ~= "" then
    local ok, decoded = pcall(json.decode, response.body)
    if ok and type(decoded) == "table" then body = decoded end
  end

  if status >= 200 and status < 300 then
    if not body or type(body.access_token) ~= "string" or body.access_token == "" then
      return fail("TOK-004", string_format("token endpoint answered %d without an access_token", status), 502)
    end
    local token_type = body.token_type
    if token_type ~= nil and (type(token_type) ~= "string" or token_type:lower() ~= "bearer") then
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

  local idp_error = body and idp_text(body.error, secret) or nil
  local description = body and idp_text(body.error_description, secret) or nil
  local detail = string_format("token endpoint answered %d", status)
  if idp_error then detail = detail .. " error=" .. idp_error end
  if description then detail = detail .. " (" .. description .. ")" end

  if status == 429 or status >= 500 then return fail("AUTH-005", detail, 503) end
  if (body and CREDENTIAL_ERRORS[body.error]) or status == 401 or status == 403 then
    return fail("AUTH-001", detail, 503)
  end
  return fail("AUTH-002", detail, 503)
end

return {
  name = "client_credentials",
  version = "1.0.0",
  kind = "provider",
  schema = {
    required = { "TokenEndpoint", "ClientId" },
    optional = { "ClientSecret", "ClientAuthMethod", "Scope", "Audience", "Resource",
                 "PrivateKeyFile", "PrivateKeyId", "SigningAlgorithm", "ClientCertificate",
                 "ClientKey", "ClientKeyPassword", "ExtraTokenParameters", "VerifySSL", "CaBundle",
                 "TenantId", "AuthorityHost" },
  },

  -- ctx = { server = <name>, config = <the server's configuration object> }
  acquire = function(ctx)
    local config = ctx.config
    local endpoint = config_string(config, "TokenEndpoint")
    if not endpoint and config_string(config, "TenantId") then
      local err
      endpoint, err = entra_endpoint(config)
      if not endpoint then return fail("CFG-002", err) end
    end
    if not endpoint then return fail("CFG-001", "TokenEndpoint is required by client_credentials") end
    local request, err = build_request(config, endpoint)
    if not request then return nil, err end
    local response, http_err = gw.http.request(request)
    if not response then return nil, http_err end
    return interpret(response, config_string(config, "ClientSecret"))
  end,
}
