-- Azure identity without a configured secret: the credential chain of the Azure SDK's
-- DefaultAzureCredential, as the Python plugin's `ProviderType: azuremanagedidentity` used it.
--
-- Credentials, tried in this order (AzureCredential "default"), or one of them alone:
--   environment        AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET: Entra ID v2 client
--                      credentials with the secret from the environment
--   workload_identity  AKS workload identity: the projected service-account token in
--                      AZURE_FEDERATED_TOKEN_FILE (re-read at every acquisition, the kubelet rotates
--                      it) sent as a jwt-bearer client assertion to Entra ID v2
--   managed_identity   App Service / Container Apps (IDENTITY_ENDPOINT + IDENTITY_HEADER, api-version
--                      2019-08-01), else the VM / VMSS / AKS node Instance Metadata Service (IMDS,
--                      api-version 2018-02-01)
-- A credential is chosen when its settings are present; the chain does not fall through to the next
-- one when the chosen credential fails (a failing identity is reported, never silently replaced).
--
-- Server keys (all optional): Scope (default https://dicom.healthcareapis.azure.com/.default, the
-- Python plugin's), Resource, ClientId (user-assigned identity; else AZURE_CLIENT_ID), ObjectId,
-- ManagedIdentityResourceId, TenantId, AuthorityHost, FederatedTokenFile, ImdsEndpoint,
-- AzureCredential, ImdsRetry {MaxRetries, InitialDelay, MaxDelay, GoneRetrySeconds,
-- GoneRetryInterval}, VerifySSL, CaBundle. Configuration keys win over environment variables.
-- Environment variables (read through gw.env; the gateway allowlists them for servers using this
-- script): AZURE_AUTHORITY_HOST, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
-- AZURE_FEDERATED_TOKEN_FILE, IDENTITY_ENDPOINT, IDENTITY_HEADER, AZURE_POD_IDENTITY_AUTHORITY_HOST.
--
-- Managed identity retries as the Azure SDK does: 404 (identity not yet assigned, IMDS updating),
-- 408, 429 and 5xx with exponential back-off; 410 (host maintenance) every GoneRetryInterval until
-- at least GoneRetrySeconds (70) have passed. Every wait stays inside the call's time budget: what
-- does not fit ends the call with AUTH-005, which the token engine retries on its own schedule.
--
-- Returns {access_token, token_type, expires_on | expires_in} or nil, {code, message, status}:
--   AUTH-001 the identity or its credential was refused (never retried)
--   AUTH-002 another 4xx answer
--   AUTH-005 429 / 5xx / retries exhausted (retried by the engine)
--   TOK-004  a 2xx answer without a usable token
--   CFG-001 / CFG-002 missing or invalid settings

local gw = gw
local oauth = gw.library("oauth")
local fail, config_string, env = oauth.fail, oauth.config_string, oauth.env
local tls_options, decode_object = oauth.tls_options, oauth.decode_object
local string_format = string.format
local tostring, tonumber, type, pairs = tostring, tonumber, type, pairs
local math_floor, math_min, math_max = math.floor, math.min, math.max

local DEFAULT_SCOPE = "https://dicom.healthcareapis.azure.com/.default"
local IMDS_HOST = "http://169.254.169.254"
local IMDS_PATH = "/metadata/identity/oauth2/token"
local IMDS_API_VERSION = "2018-02-01"
local APP_SERVICE_API_VERSION = "2019-08-01"
local ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
-- Time kept back for the request that follows a wait (ms).
local REQUEST_RESERVE_MS = 1000

-- The Azure SDK's IMDS policy: 5 retries, exponential from 0.8 s; 410 for at least 70 s.
local RETRY_DEFAULTS = {
  MaxRetries = 5, InitialDelay = 0.8, MaxDelay = 60, GoneRetrySeconds = 70, GoneRetryInterval = 10,
}

-- Entra's refusals (oauth.token_endpoint_error): Entra answers invalid_request and
-- invalid_resource for a client or resource that cannot work.
local CREDENTIAL_ERRORS = {
  invalid_client = true, unauthorized_client = true, invalid_grant = true,
  invalid_scope = true, access_denied = true, invalid_request = true, invalid_resource = true,
}

-- The error detail of an answer: the validated error code and a bounded, masked description
-- only (oauth.error_detail), never the rest of the body, which the service may fill with an echo
-- of the request.
local function describe(what, response, body, secret)
  if not body then return string_format("%s answered %d", what, response.status) end
  -- IMDS and Entra: {error, error_description}; App Service: {error={code, message}},
  -- {statusCode, message} or {Message}.
  local e = body.error
  if type(e) == "table" then
    return (oauth.error_detail(what, response.status, nil, secret, e.code, e.message))
  end
  return (oauth.error_detail(what, response.status, nil, secret, e,
                             body.error_description or body.message or body.Message))
end

-- The resource a managed identity token is for: Resource, else the Scope without "/.default".
local function resource_of(config)
  local resource = config_string(config, "Resource")
  if resource then return resource end
  local scope = config_string(config, "Scope") or DEFAULT_SCOPE
  if scope:find(" ", 1, true) then return nil, "managed identity takes one scope (got several)" end
  local stripped = scope:gsub("/%.default$", "")
  return stripped
end

-- Entra v2 wants scopes: Scope, else Resource + "/.default".
local function scope_of(config)
  local scope = config_string(config, "Scope")
  if scope then return scope end
  local resource = config_string(config, "Resource")
  if resource then return (resource:gsub("/+$", "")) .. "/.default" end
  return DEFAULT_SCOPE
end

-- A successful token answer (Entra, IMDS or App Service) into the engine's token table.
local function token_result(what, response, body)
  if not body or type(body.access_token) ~= "string" or body.access_token == "" then
    return fail("TOK-004", string_format("%s answered %d without an access_token", what, response.status), 502)
  end
  local token_type = body.token_type
  if not oauth.is_bearer(token_type) then
    return fail("TOK-004", what .. " returned an unsupported token_type '" .. tostring(token_type) .. "'", 502)
  end
  local result = { access_token = body.access_token, token_type = "Bearer" }
  -- IMDS and App Service send numbers as strings ("1506484173"); expires_on is absolute.
  local expires_on = tonumber(body.expires_on)
  local expires_in = tonumber(body.expires_in)
  if expires_on and expires_on > gw.time.now() then
    result.expires_on = expires_on
  elseif expires_in and expires_in > 0 then
    result.expires_in = expires_in
  else
    return fail("TOK-004", what .. " returned a token without a usable expires_on/expires_in", 502)
  end
  -- Entra may send refresh_in (seconds): refresh earlier than the engine would.
  result.refresh_in = tonumber(body.refresh_in)
  if type(body.scope) == "string" then result.scope = body.scope end
  return result
end

-- ---- Entra ID v2 (environment and workload identity credentials) ---------------------------------

local function tenant_of(config)
  local tenant = config_string(config, "TenantId") or env("AZURE_TENANT_ID")
  if tenant and not tenant:match("^[%w%.%-]+$") then return nil, "TenantId has invalid characters" end
  return tenant
end

local function entra_request(config, what, tenant, form, secret)
  local endpoint, err = oauth.entra_token_endpoint(config, tenant)
  if not endpoint then return fail("CFG-002", err) end
  form.grant_type = "client_credentials"
  form.scope = scope_of(config)
  local response, http_err = oauth.post_form(endpoint, form, tls_options(config))
  if not response then return nil, http_err end
  local body = decode_object(response.body)
  local status = response.status
  if status >= 200 and status < 300 then return token_result(what, response, body) end
  return oauth.token_endpoint_error(status, body and body.error, describe(what, response, body, secret),
                                    CREDENTIAL_ERRORS)
end

local function environment_settings(config)
  local secret = env("AZURE_CLIENT_SECRET")
  local tenant = tenant_of(config)
  local client_id = config_string(config, "ClientId") or env("AZURE_CLIENT_ID")
  if secret and tenant and client_id then return { secret = secret, tenant = tenant, client_id = client_id } end
  return nil
end

local function acquire_environment(config, settings)
  return entra_request(config, "Entra ID (environment credential)", settings.tenant,
                       { client_id = settings.client_id, client_secret = settings.secret }, settings.secret)
end

local function workload_settings(config)
  local file = config_string(config, "FederatedTokenFile") or env("AZURE_FEDERATED_TOKEN_FILE")
  local tenant = tenant_of(config)
  local client_id = config_string(config, "ClientId") or env("AZURE_CLIENT_ID")
  if file and tenant and client_id then return { file = file, tenant = tenant, client_id = client_id } end
  return nil, file, tenant, client_id
end

local function acquire_workload(config, settings)
  -- Re-read at every acquisition: the kubelet replaces the projected token before it expires.
  local ok, content = pcall(gw.file.read, settings.file)
  if not ok then
    return fail("CFG-002", "cannot read the federated token file " .. settings.file .. ": " .. tostring(content))
  end
  local assertion = oauth.trim(content)
  if assertion == "" then return fail("AUTH-001", "the federated token file " .. settings.file .. " is empty", 503) end
  return entra_request(config, "Entra ID (workload identity)", settings.tenant, {
    client_id = settings.client_id, client_assertion_type = ASSERTION_TYPE, client_assertion = assertion,
  }, assertion)
end

-- ---- managed identity (App Service / Container Apps, IMDS) ---------------------------------------

local function retry_settings(config)
  local r = {}
  for k, v in pairs(RETRY_DEFAULTS) do r[k] = v end
  local given = config.ImdsRetry
  if given == nil then return r end
  if type(given) ~= "table" then return nil, "ImdsRetry must be an object" end
  for k, v in pairs(given) do
    if RETRY_DEFAULTS[k] == nil then return nil, "ImdsRetry." .. tostring(k) .. " is not a known setting" end
    if type(v) ~= "number" or v < 0 or v ~= v then return nil, "ImdsRetry." .. k .. " must be a number >= 0" end
    r[k] = v
  end
  r.MaxRetries = math_floor(r.MaxRetries)
  return r
end

local function retryable(status)
  return status == 404 or status == 408 or status == 410 or status == 429 or status >= 500
end

-- Runs `send` until it gives a final answer, waiting between attempts as the Azure SDK does.
-- Returns the last response (or nil, transport error) and the number of attempts.
local function with_retries(send, policy)
  local started = gw.time.monotonic_ms()
  local retries = 0
  local attempts = 0
  while true do
    attempts = attempts + 1
    local response, err = send()
    if not response then return nil, err, attempts end
    if not retryable(response.status) then return response, nil, attempts end
    local delay
    if response.status == 410 then
      -- Host maintenance: keep asking until GoneRetrySeconds have passed since the first attempt.
      -- 1 ms less than measured: whole milliseconds may overstate the real time by up to 1 ms.
      local elapsed = (gw.time.monotonic_ms() - started - 1) / 1000
      if elapsed >= policy.GoneRetrySeconds then return response, nil, attempts end
      delay = math_min(policy.GoneRetryInterval, math_max(0, policy.GoneRetrySeconds - elapsed))
    else
      if retries >= policy.MaxRetries then return response, nil, attempts end
      delay = math_min(policy.InitialDelay * (2 ^ retries), policy.MaxDelay)
      local after = tonumber(response.headers and response.headers["retry-after"])
      if after and after > delay then delay = math_min(after, policy.MaxDelay) end
    end
    retries = retries + 1
    if gw.time.remaining_ms() < delay * 1000 + REQUEST_RESERVE_MS then
      response.budget_exhausted = true
      return response, nil, attempts
    end
    gw.time.sleep(delay)
  end
end

-- User-assigned identity selector: at most one of ClientId, ObjectId, ManagedIdentityResourceId.
local function user_assigned(config)
  local chosen = {}
  local client_id = config_string(config, "ClientId")
  local object_id = config_string(config, "ObjectId")
  local resource_id = config_string(config, "ManagedIdentityResourceId")
  local n = (client_id and 1 or 0) + (object_id and 1 or 0) + (resource_id and 1 or 0)
  if n > 1 then return nil, "set only one of ClientId, ObjectId, ManagedIdentityResourceId" end
  if n == 0 then client_id = env("AZURE_CLIENT_ID") end
  chosen.client_id, chosen.object_id, chosen.resource_id = client_id, object_id, resource_id
  return chosen
end

local function managed_identity_result(what, response, err, attempts, secret)
  if not response then return nil, err end
  local body = decode_object(response.body)
  local status = response.status
  if status >= 200 and status < 300 then return token_result(what, response, body) end
  local detail = describe(what, response, body, secret)
  if attempts > 1 then
    detail = detail .. string_format(" after %d attempts", attempts)
    if response.budget_exhausted then detail = detail .. " (time budget exhausted)" end
  end
  if retryable(status) then return fail("AUTH-005", detail, 503) end
  if status == 400 or status == 401 or status == 403 then return fail("AUTH-001", detail, 503) end
  return fail("AUTH-002", detail, 503)
end

local function imds_url(config)
  local explicit = config_string(config, "ImdsEndpoint")
  if explicit then return explicit end
  -- The Azure SDK's override of the IMDS host (pod identity, tests).
  local host = env("AZURE_POD_IDENTITY_AUTHORITY_HOST") or IMDS_HOST
  return (host:gsub("/+$", "")) .. IMDS_PATH
end

local function acquire_managed_identity(config)
  local resource, rerr = resource_of(config)
  if not resource then return fail("CFG-002", rerr) end
  local identity, ierr = user_assigned(config)
  if not identity then return fail("CFG-002", ierr) end
  local policy, perr = retry_settings(config)
  if not policy then return fail("CFG-002", perr) end

  local endpoint, header = env("IDENTITY_ENDPOINT"), env("IDENTITY_HEADER")
  local request, what
  if endpoint and header then
    -- App Service and Container Apps (api-version 2019-08-01).
    what = "the App Service identity endpoint"
    local query = { ["api-version"] = APP_SERVICE_API_VERSION, resource = resource,
                    client_id = identity.client_id, principal_id = identity.object_id,
                    mi_res_id = identity.resource_id }
    local sep = endpoint:find("?", 1, true) and "&" or "?"
    request = { method = "GET", url = endpoint .. sep .. gw.url.form_encode(query),
                headers = { ["X-IDENTITY-HEADER"] = header, ["Accept"] = "application/json" },
                tls = tls_options(config) }
  else
    what = "IMDS"
    local query = { ["api-version"] = IMDS_API_VERSION, resource = resource,
                    client_id = identity.client_id, object_id = identity.object_id,
                    msi_res_id = identity.resource_id }
    local base = imds_url(config)
    local sep = base:find("?", 1, true) and "&" or "?"
    request = { method = "GET", url = base .. sep .. gw.url.form_encode(query),
                headers = { ["Metadata"] = "true", ["Accept"] = "application/json" },
                tls = tls_options(config), timeout_ms = 10000 }
  end
  local response, err, attempts = with_retries(function() return gw.http.request(request) end, policy)
  -- The App Service identity header is a secret: masked if the endpoint echoes it.
  return managed_identity_result(what, response, err, attempts, header)
end

-- ---- the chain -----------------------------------------------------------------------------------

local CREDENTIALS = { default = true, environment = true, workload_identity = true, managed_identity = true }

local function credential_kind(config)
  local kind = config_string(config, "AzureCredential")
  if kind then
    kind = kind:lower()
    if not CREDENTIALS[kind] then
      return nil, "AzureCredential must be one of: default, environment, workload_identity, managed_identity"
    end
    return kind
  end
  local provider_type = config_string(config, "ProviderType")
  if provider_type and provider_type:lower() == "azureworkloadidentity" then return "workload_identity" end
  return "default"
end

local function acquire(ctx)
  local config = ctx.config
  local kind, err = credential_kind(config)
  if not kind then return fail("CFG-002", err) end

  if kind == "default" or kind == "environment" then
    local settings = environment_settings(config)
    if settings then return acquire_environment(config, settings) end
    if kind == "environment" then
      return fail("CFG-001", "the environment credential needs AZURE_TENANT_ID (or TenantId), AZURE_CLIENT_ID "
                             .. "(or ClientId) and AZURE_CLIENT_SECRET")
    end
  end
  if kind == "default" or kind == "workload_identity" then
    local settings, file, tenant, client_id = workload_settings(config)
    if settings then return acquire_workload(config, settings) end
    if kind == "workload_identity" then
      local missing = {}
      if not file then missing[#missing + 1] = "AZURE_FEDERATED_TOKEN_FILE (or FederatedTokenFile)" end
      if not tenant then missing[#missing + 1] = "AZURE_TENANT_ID (or TenantId)" end
      if not client_id then missing[#missing + 1] = "AZURE_CLIENT_ID (or ClientId)" end
      return fail("CFG-001", "workload identity needs " .. table.concat(missing, ", "))
    end
  end
  return acquire_managed_identity(config)
end

return {
  name = "azure_managed_identity",
  version = "1.0.0",
  kind = "provider",
  -- The Azure SDK's variables stand in for absent keys (docs/providers/azure.md).
  schema = {
    type = "object",
    properties = {
      Scope = { type = "string" },
      Resource = { type = "string" },
      ClientId = { type = "string", env = "AZURE_CLIENT_ID" },
      ObjectId = { type = "string" },
      ManagedIdentityResourceId = { type = "string" },
      TenantId = { type = "string", env = "AZURE_TENANT_ID" },
      AuthorityHost = { type = "string", env = "AZURE_AUTHORITY_HOST" },
      -- Projected by the kubelet (AKS workload identity), so it may appear after start-up.
      FederatedTokenFile = { type = "string", file = true, appears_later = true, env = "AZURE_FEDERATED_TOKEN_FILE" },
      ImdsEndpoint = { type = "string" },
      AzureCredential = { type = "string" },
      ImdsRetry = { type = "object" },
    },
    env = {
      AZURE_CLIENT_SECRET = { secret = true },
      IDENTITY_ENDPOINT = {},
      IDENTITY_HEADER = { secret = true },
      AZURE_POD_IDENTITY_AUTHORITY_HOST = {},
    },
  },

  -- ctx = { server = <name>, config = <the server's configuration object> }
  acquire = acquire,

  self_test = function()
    local r = resource_of({ Scope = "https://dicom.healthcareapis.azure.com/.default" })
    return r == "https://dicom.healthcareapis.azure.com" and scope_of({ Resource = "https://x.example/" })
      == "https://x.example/.default" and retryable(410) and not retryable(400)
  end,
}
