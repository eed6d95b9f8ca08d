-- Google Cloud credentials (Cloud Healthcare API DICOM stores and any Google API).
--
-- Which credential is used, in the order of Google's Application Default Credentials:
--   1. CredentialsFile (server key), else the file named by GOOGLE_APPLICATION_CREDENTIALS:
--        "type": "service_account"   JWT-bearer grant (RFC 7523) with an RS256 assertion signed
--                                    with the key file's private key, sent to its token_uri
--        "type": "external_account"  workload identity federation: a subject token from a file or
--                                    a URL, exchanged at the STS token_url (RFC 8693), then
--                                    optionally service_account_impersonation_url
--                                    (IAM Credentials generateAccessToken)
--   2. the metadata server (GCE, GKE, Cloud Run): GET .../service-accounts/default/token with
--      Metadata-Flavor: Google; the host is GCE_METADATA_HOST when set, as in Google's libraries.
-- A configured credential file that cannot be read or used fails; it never falls through to the
-- metadata server (Google's libraries behave the same way).
--
-- Scope: the Scope key (space-separated), default https://www.googleapis.com/auth/cloud-healthcare.
-- Returns {access_token, token_type, expires_in} or nil, {code, message, status}:
--   AUTH-001 Google refused the credential or grant (invalid_grant, 401, 403; never retried)
--   AUTH-002 another 4xx answer
--   AUTH-005 429 or 5xx (retried)
--   TOK-004  a 2xx answer without a usable token (retried)
--   CFG-002  the credential file or its settings cannot work
--   NET-xxx  transport failures, as gw.http.request reports them

local gw = gw
local json = gw.json
local oauth = gw.library("oauth")
local fail, nonempty, split_scopes = oauth.fail, oauth.nonempty, oauth.split_scopes
local tls_options, decode_object, remote_text = oauth.tls_options, oauth.decode_object, oauth.remote_text
local string_format = string.format
local tostring, tonumber, type, pairs = tostring, tonumber, type, pairs

local DEFAULT_SCOPE = "https://www.googleapis.com/auth/cloud-healthcare"
-- The STS step of an impersonated federation needs this scope to call IAM Credentials.
local CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
local DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
local METADATA_HOST = "metadata.google.internal"
local METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
local JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
local TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
local ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
local ASSERTION_LIFETIME = 3600  -- the maximum Google accepts
local DEFAULT_LIFETIME = 3600    -- only when Google gives no expires_in

-- An HTTP answer of a Google token service, as a token or an error. `what` names the service.
-- `field`/`expiry` select the answer's shape: OAuth2 (access_token/expires_in) or IAM Credentials
-- (accessToken/expireTime).
local function interpret(response, what, shape)
  local status = response.status
  local body = decode_object(response.body)
  if status >= 200 and status < 300 then
    return body
  end
  local err, description
  if body and type(body.error) == "table" then  -- Google APIs: {"error": {"code":, "message":, "status":}}
    err, description = body.error.status, body.error.message
  end
  local detail, code = oauth.error_detail(what, status, body, nil, err, description)
  return oauth.token_endpoint_error(status, code, detail)
end

local function oauth_token(body, what)
  if not body or not nonempty(body.access_token) then
    return fail("TOK-004", what .. " answered without an access_token", 502)
  end
  if not oauth.is_bearer(body.token_type) then
    return fail("TOK-004", what .. " answered an unsupported token_type", 502)
  end
  local expires_in = tonumber(body.expires_in)
  if not expires_in or expires_in <= 0 then expires_in = DEFAULT_LIFETIME end
  return { access_token = body.access_token, token_type = "Bearer", expires_in = expires_in }
end

-- Seconds since the epoch of an RFC 3339 UTC time ("2026-11-22T18:00:00Z", fractions allowed).
local function parse_rfc3339(text)
  local seconds, zone = oauth.parse_timestamp(text)
  if zone ~= "Z" then return nil end
  return seconds
end

local function post_form(url, form, config, extra_headers)
  return oauth.post_form(url, form, tls_options(config), extra_headers)
end

-- ---- service account key file ----------------------------------------------------------------

local function service_account(creds, config, scope, path)
  local email, key, token_uri = nonempty(creds.client_email), nonempty(creds.private_key),
      nonempty(creds.token_uri) or DEFAULT_TOKEN_URI
  if not email or not key then
    return fail("CFG-002", path .. ": a service_account key file needs client_email and private_key")
  end
  local now = math.floor(gw.time.now())
  local assertion, err = gw.jwt.sign {
    alg = "RS256", key_pem = key, kid = nonempty(creds.private_key_id),
    claims = { iss = email, scope = scope, aud = token_uri, iat = now, exp = now + ASSERTION_LIFETIME },
  }
  if not assertion then
    return fail("CFG-002", path .. ": cannot sign with the key file's private_key (" .. tostring(err) .. ")")
  end
  local response, http_err = post_form(token_uri, { grant_type = JWT_BEARER, assertion = assertion }, config)
  if not response then return nil, http_err end
  local body, e = interpret(response, "Google token endpoint")
  if not body then return nil, e end
  return oauth_token(body, "Google token endpoint")
end

-- ---- workload identity federation (external_account) -----------------------------------------

local function subject_token(source, config, path)
  local format = type(source.format) == "table" and source.format or {}
  local format_type = format.type or "text"
  local raw
  if nonempty(source.file) then
    local ok, content = pcall(gw.file.read, source.file)
    if not ok then
      return fail("CFG-002", path .. ": cannot read credential_source.file " .. source.file)
    end
    raw = content
  elseif nonempty(source.url) then
    local headers = {}
    if type(source.headers) == "table" then
      for k, v in pairs(source.headers) do headers[k] = tostring(v) end
    end
    local response, http_err = gw.http.request { url = source.url, headers = headers, tls = tls_options(config) }
    if not response then return nil, http_err end
    if response.status < 200 or response.status >= 300 then
      return fail(response.status >= 500 and "AUTH-005" or "AUTH-001",
                  string_format("credential_source.url answered %d", response.status), 503)
    end
    raw = response.body
  else
    return fail("CFG-002", path .. ": credential_source must have a file or a url "
                .. "(environment_id and executable sources are not supported)")
  end
  if format_type == "json" then
    local field = nonempty(format.subject_token_field_name)
    if not field then
      return fail("CFG-002", path .. ": credential_source.format json needs subject_token_field_name")
    end
    local decoded = decode_object(raw)
    local token = decoded and nonempty(decoded[field])
    if not token then
      return fail("TOK-004", "the subject token source has no string field '" .. field .. "'", 502)
    end
    return token
  elseif format_type == "text" then
    local token = oauth.trim(raw)
    if token == "" then return fail("TOK-004", "the subject token source is empty", 502) end
    return token
  end
  return fail("CFG-002", path .. ": credential_source.format.type must be text or json")
end

local function impersonate(url, federated, scope, creds, config)
  local lifetime = 3600
  local options = creds.service_account_impersonation
  if type(options) == "table" and tonumber(options.token_lifetime_seconds) then
    lifetime = math.floor(tonumber(options.token_lifetime_seconds))
  end
  local response, http_err = gw.http.request {
    method = "POST", url = url,
    headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json",
                ["Authorization"] = "Bearer " .. federated },
    body = json.encode { scope = split_scopes(scope), lifetime = lifetime .. "s" },
    tls = tls_options(config),
  }
  if not response then return nil, http_err end
  local body, e = interpret(response, "IAM Credentials generateAccessToken")
  if not body then return nil, e end
  local token = body and nonempty(body.accessToken)
  local expires_on = body and parse_rfc3339(body.expireTime)
  if not token or not expires_on then
    return fail("TOK-004", "generateAccessToken answered without accessToken and expireTime", 502)
  end
  return { access_token = token, token_type = "Bearer", expires_on = expires_on }
end

local function external_account(creds, config, scope, path)
  local audience, token_url = nonempty(creds.audience), nonempty(creds.token_url)
  local token_type = nonempty(creds.subject_token_type)
  if not audience or not token_url or not token_type or type(creds.credential_source) ~= "table" then
    return fail("CFG-002", path .. ": an external_account file needs audience, subject_token_type, "
                .. "token_url and credential_source")
  end
  local subject, err = subject_token(creds.credential_source, config, path)
  if not subject then return nil, err end

  local impersonation_url = nonempty(creds.service_account_impersonation_url)
  local form = {
    grant_type = TOKEN_EXCHANGE, audience = audience,
    scope = impersonation_url and CLOUD_PLATFORM_SCOPE or scope,
    requested_token_type = ACCESS_TOKEN_TYPE,
    subject_token = subject, subject_token_type = token_type,
  }
  local headers = {}
  if nonempty(creds.client_id) and nonempty(creds.client_secret) then
    -- RFC 8693 client authentication, HTTP Basic as in RFC 6749 2.3.1.
    headers["Authorization"] = oauth.basic_auth(creds.client_id, creds.client_secret)
  end
  local response, http_err = post_form(token_url, form, config, headers)
  if not response then return nil, http_err end
  local body, e = interpret(response, "Google STS")
  if not body then return nil, e end
  local sts, sts_err = oauth_token(body, "Google STS")
  if not sts then return nil, sts_err end
  if not impersonation_url then return sts end
  return impersonate(impersonation_url, sts.access_token, scope, creds, config)
end

-- ---- metadata server --------------------------------------------------------------------------

local function metadata(config, explicit_scope)
  local host = nonempty(gw.env.get("GCE_METADATA_HOST")) or METADATA_HOST
  local url = "http://" .. host .. METADATA_TOKEN_PATH
  if explicit_scope then
    url = url .. "?scopes=" .. gw.url.escape(table.concat(split_scopes(explicit_scope), ","))
  end
  local response, http_err = gw.http.request {
    url = url, headers = { ["Metadata-Flavor"] = "Google", ["Accept"] = "application/json" },
  }
  if not response then
    return fail(http_err.code, "no Google credentials: CredentialsFile and GOOGLE_APPLICATION_CREDENTIALS "
                .. "are not set and the metadata server " .. host .. " cannot be reached ("
                .. tostring(http_err.message) .. ")", 503)
  end
  local body, e = interpret(response, "metadata server " .. host)
  if not body then return nil, e end
  -- Only a real metadata server answers with this header (a captive proxy would not).
  if (response.headers["metadata-flavor"] or "") ~= "Google" then
    return fail("TOK-004", "metadata server " .. host .. " answered without Metadata-Flavor: Google", 502)
  end
  return oauth_token(body, "metadata server " .. host)
end

-- ---- entry point ------------------------------------------------------------------------------

local function from_file(path, config, scope)
  local ok, text = pcall(gw.file.read, path)
  if not ok then return fail("CFG-002", "cannot read Google credential file " .. path) end
  local creds = decode_object(text)
  if not creds then return fail("CFG-002", path .. ": not a JSON object") end
  if creds.type == "service_account" then return service_account(creds, config, scope, path) end
  if creds.type == "external_account" then return external_account(creds, config, scope, path) end
  return fail("CFG-002", path .. ": unsupported credential type '" .. tostring(remote_text(creds.type))
              .. "' (service_account or external_account)")
end

return {
  name = "google",
  version = "1.0.0",
  kind = "provider",
  schema = {
    type = "object",
    properties = {
      -- Else the file GOOGLE_APPLICATION_CREDENTIALS names; an external_account file names the
      -- subject-token file the script reads too.
      CredentialsFile = { type = "string", file = true, env = "GOOGLE_APPLICATION_CREDENTIALS",
                          file_refs = { "credential_source.file" } },
      Scope = { type = "string" },
    },
    env = { GCE_METADATA_HOST = {} },
  },

  -- ctx = { server = <name>, config = <the server's configuration object> }
  acquire = function(ctx)
    local config = ctx.config
    local explicit_scope = nonempty(config.Scope)
    local scope = explicit_scope or DEFAULT_SCOPE
    local file = nonempty(config.CredentialsFile) or nonempty(gw.env.get("GOOGLE_APPLICATION_CREDENTIALS"))
    if file then return from_file(file, config, scope) end
    return metadata(config, explicit_scope)
  end,

  self_test = function()
    return parse_rfc3339("1970-01-01T00:00:00Z") == 0
       and parse_rfc3339("2026-11-22T18:30:15.123456Z") == 1795372215
       and parse_rfc3339("2000-02-29T00:00:00Z") == 951782400
       and parse_rfc3339("2026-11-22 18:30:15") == nil
  end,
}
