-- Helpers shared by the identity providers (lua/providers/) and available to custom ones:
--   local oauth = gw.library("oauth")
--
-- Errors:       fail, token_endpoint_error, error_code, error_detail, CREDENTIAL_ERRORS
-- Settings:     nonempty, config_string, env, tls_options, entra_token_endpoint
-- Answers:      decode_object, remote_text, is_bearer, jwt_remaining
-- Requests:     post_form, basic_auth, split_scopes, trim
-- Time:         days_from_civil, parse_timestamp
-- Every function is plain (call it as oauth.fail(...), not oauth:fail(...)) and keeps no state.

local gw = gw
local json = gw.json
local tonumber, type, pairs, pcall = tonumber, type, pairs, pcall

local M = {
  name = "oauth",
  version = "1.0.0",
  kind = "library",
}

-- Text from a remote service that goes into an error message is cut after this many bytes.
M.MAX_REMOTE_TEXT = 300
-- An OAuth `error` code longer than this is not one (the registered codes are under 30 bytes).
M.MAX_ERROR_CODE = 64
-- An error_description is cut after this many bytes: enough for a human, too short to carry a
-- whole echoed request.
M.MAX_ERROR_DESCRIPTION = 200

-- OAuth2 error codes (RFC 6749 5.2, RFC 8707 invalid_target) that mean "these credentials or this
-- grant will not work": retrying cannot help.
M.CREDENTIAL_ERRORS = {
  invalid_client = true, unauthorized_client = true, invalid_grant = true,
  invalid_scope = true, access_denied = true, invalid_target = true,
}

local DEFAULT_AUTHORITY = "https://login.microsoftonline.com"

-- ---- errors ---------------------------------------------------------------------------------

-- The provider's error return: `return oauth.fail("AUTH-001", "refused", 503)`.
function M.fail(code, message, status)
  return nil, { code = code, message = message, status = status }
end
local fail = M.fail

-- The error of a token endpoint's non-2xx answer: 429 and 5xx are AUTH-005 (the engine retries),
-- a credential error code (`idp_error`, looked up in `credential_errors`, default
-- CREDENTIAL_ERRORS) or 401/403 is AUTH-001 (never retried), any other answer AUTH-002.
-- `detail` is the message; every one of them is served as 503.
function M.token_endpoint_error(status, idp_error, detail, credential_errors)
  if status == 429 or status >= 500 then return fail("AUTH-005", detail, 503) end
  local refused = (credential_errors or M.CREDENTIAL_ERRORS)[idp_error]
  if refused or status == 401 or status == 403 then return fail("AUTH-001", detail, 503) end
  return fail("AUTH-002", detail, 503)
end

-- The OAuth `error` code of an answer (RFC 6749 5.2: error = 1*NQSCHAR, NQSCHAR = %x20-21 /
-- %x23-5B / %x5D-7E), or nil when `value` is not a string of 1..MAX_ERROR_CODE such characters,
-- or holds a secret (the client secret `secret`, or any the gateway registered): an IdP that
-- echoes the request may put anything there, and a code is quoted whole or not at all.
function M.error_code(value, secret)
  if type(value) ~= "string" or #value == 0 or #value > M.MAX_ERROR_CODE then return nil end
  if value:find("[^\32-\126]") or value:find("[\"\\]") then return nil end
  if (secret and #secret >= 6 and value:find(secret, 1, true)) or gw.http.mask(value) ~= value then return nil end
  return value
end

-- "<what> answered <status>[ error=<code>][ (<description>)]" for a token endpoint's error answer
-- `body` (decoded JSON or nil): only the validated `error` code (error_code) and error_description
-- (remote_text, cut after MAX_ERROR_DESCRIPTION bytes), never the rest of the body. `err` and
-- `description` override body.error and body.error_description (services with another shape).
-- Returns the detail and the code (nil when absent or invalid).
function M.error_detail(what, status, body, secret, err, description)
  if body then
    err = err or body.error
    description = description or body.error_description
  end
  local code = M.error_code(err, secret)
  local detail = what .. " answered " .. tostring(status)
  if code then
    detail = detail .. " error=" .. code
  elseif err ~= nil then
    detail = detail .. " (error code not shown: not an RFC 6749 error code)"
  end
  local text = M.remote_text(description, secret, M.MAX_ERROR_DESCRIPTION)
  if text and text ~= "" then detail = detail .. " (" .. text .. ")" end
  return detail, code
end

-- ---- settings -------------------------------------------------------------------------------

-- `v` if it is a non-empty string, else nil.
function M.nonempty(v)
  if type(v) == "string" and v ~= "" then return v end
  return nil
end
local nonempty = M.nonempty

-- A string setting of the server's configuration, nil when absent or empty.
function M.config_string(config, key)
  return nonempty(config[key])
end

-- An environment variable (through gw.env.get, so only allowlisted names), nil when unset or empty.
function M.env(name)
  return nonempty(gw.env.get(name))
end

-- gw.http.request's tls table from the usual server keys: VerifySSL false turns verification off,
-- a string VerifySSL names a CA file, CaBundle names one too (and wins).
function M.tls_options(config)
  local tls = { verify = true }
  if config.VerifySSL == false then
    tls.verify = false
  elseif nonempty(config.VerifySSL) then
    tls.ca_file = config.VerifySSL
  end
  tls.ca_file = nonempty(config.CaBundle) or tls.ca_file
  return tls
end

-- Entra ID's v2 token endpoint of `tenant`: <authority>/<tenant>/oauth2/v2.0/token, the authority
-- being AuthorityHost, else AZURE_AUTHORITY_HOST (as the Azure SDK reads it; sovereign clouds such
-- as https://login.microsoftonline.us), else the public cloud. https only, except a loopback test
-- host. Returns the URL, or nil and the reason.
function M.entra_token_endpoint(config, tenant)
  if not tenant:match("^[%w%.%-]+$") then return nil, "TenantId has invalid characters" end
  local host = nonempty(config.AuthorityHost) or M.env("AZURE_AUTHORITY_HOST") or DEFAULT_AUTHORITY
  if not host:find("://", 1, true) then host = "https://" .. host end
  host = host:gsub("/+$", "")
  local scheme, hostname = host:match("^(%a+)://([^/:]+)")
  if scheme == nil then return nil, "AuthorityHost is not a URL" end
  scheme = scheme:lower()
  local loopback = hostname == "127.0.0.1" or hostname == "localhost" or hostname == "[::1]"
  if scheme ~= "https" and not (scheme == "http" and loopback) then
    return nil, "AuthorityHost must be an https URL"
  end
  return host .. "/" .. tenant .. "/oauth2/v2.0/token"
end

-- ---- answers --------------------------------------------------------------------------------

-- The JSON object (or array) in `text`, or nil when it is empty, not JSON or a scalar.
function M.decode_object(text)
  if type(text) ~= "string" or text == "" then return nil end
  local ok, decoded = pcall(json.decode, text)
  if ok and type(decoded) == "table" then return decoded end
  return nil
end

-- Text from a remote service for an error message: nil unless a string; `secret` (when given and
-- at least 6 bytes long) and every secret the gateway registered, in any encoded form
-- (gw.http.mask), masked as *** in case the service echoes the request; every byte outside
-- printable ASCII as "?"; cut after `limit` (default MAX_REMOTE_TEXT) bytes. Masking comes
-- first: a cut through an echoed secret would leave a prefix that no mask matches.
function M.remote_text(value, secret, limit)
  if type(value) ~= "string" then return nil end
  local text = value
  if secret and #secret >= 6 then
    local start = text:find(secret, 1, true)
    while start do
      text = text:sub(1, start - 1) .. "***" .. text:sub(start + #secret)
      start = text:find(secret, start + 3, true)
    end
  end
  text = gw.http.mask(text):gsub("[^\32-\126]", "?")
  limit = limit or M.MAX_REMOTE_TEXT
  if #text > limit then text = text:sub(1, limit) .. "..." end
  return text
end

-- Whether an answer's token_type is acceptable for a bearer token: absent, or "Bearer" in any case.
function M.is_bearer(token_type)
  return token_type == nil or (type(token_type) == "string" and token_type:lower() == "bearer")
end

-- Seconds until the exp claim of `token` if it is a JWT with one (negative once expired), else
-- nil. The signature is not checked: this only schedules refreshes.
function M.jwt_remaining(token)
  local decoded = gw.jwt.decode(token)
  if decoded and type(decoded.claims) == "table" and tonumber(decoded.claims.exp) then
    return tonumber(decoded.claims.exp) - gw.time.now()
  end
  return nil
end

-- ---- requests -------------------------------------------------------------------------------

-- POSTs `form` (gw.url.form_encode) to `url` asking for JSON, with `tls` and any `extra_headers`.
-- Returns what gw.http.request returns.
function M.post_form(url, form, tls, extra_headers)
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Accept"] = "application/json",
  }
  for k, v in pairs(extra_headers or {}) do headers[k] = v end
  return gw.http.request { method = "POST", url = url, headers = headers, body = gw.url.form_encode(form),
                           tls = tls }
end

-- The Authorization value of HTTP Basic client authentication (RFC 6749 2.3.1: id and secret are
-- form-encoded before base64). gw.http.basic_auth registers the credential as a secret, so an IdP
-- that echoes the header is masked everywhere.
function M.basic_auth(id, secret)
  return gw.http.basic_auth(gw.url.form_escape(id), gw.url.form_escape(secret))
end

-- "a b  c" -> { "a", "b", "c" }
function M.split_scopes(text)
  local out = {}
  for s in text:gmatch("%S+") do out[#out + 1] = s end
  return out
end

-- `text` without leading and trailing white space.
function M.trim(text)
  return (text:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- ---- time -----------------------------------------------------------------------------------

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
function M.days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- "2026-11-22T18:00:00.5Z" -> Unix seconds of the date and time (fractions dropped) and what
-- follows the seconds and their fraction ("Z" here; "+00:00", "" ...), for the caller to accept
-- or refuse. nil when `text` does not start with such a date and time.
function M.parse_timestamp(text)
  if type(text) ~= "string" then return nil end
  local y, mo, d, h, mi, s = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)")
  if not y then return nil end
  local tail = text:sub(20):gsub("^%.%d+", "")
  local seconds = M.days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400 + tonumber(h) * 3600
      + tonumber(mi) * 60 + tonumber(s)
  return seconds, tail
end

function M.self_test()
  local masked = M.remote_text("bad secret s3cr3t-value and s3cr3t-value", "s3cr3t-value")
  local _, refused = M.token_endpoint_error(400, "invalid_grant", "x")
  local _, other = M.token_endpoint_error(400, "invalid_request", "x")
  local _, busy = M.token_endpoint_error(503, "invalid_grant", "x")
  local when, tail = M.parse_timestamp("2026-11-22T18:30:15.123Z")
  return masked == "bad secret *** and ***"
    and #M.remote_text(string.rep("x", 400)) == M.MAX_REMOTE_TEXT + 3
    and refused.code == "AUTH-001" and other.code == "AUTH-002" and busy.code == "AUTH-005"
    and M.is_bearer(nil) and M.is_bearer("bearer") and not M.is_bearer("MAC") and not M.is_bearer(1)
    and M.trim(" \ttoken\n") == "token"
    and #M.split_scopes(" a  b c ") == 3
    and M.days_from_civil(1970, 1, 1) == 0 and M.days_from_civil(2000, 3, 1) == 11017
    and when == 1795372215 and tail == "Z"
    and M.decode_object("[1]") ~= nil and M.decode_object("1") == nil and M.decode_object("{") == nil
    and M.entra_token_endpoint({ AuthorityHost = "login.example/" }, "t1")
        == "https://login.example/t1/oauth2/v2.0/token"
    and M.entra_token_endpoint({ AuthorityHost = "http://login.example" }, "t1") == nil
    and M.basic_auth("a b", "c") == "Basic " .. gw.base64.encode("a+b:c")
    and M.error_code("invalid_client") == "invalid_client" and M.error_code("a\"b") == nil
    and M.error_code(string.rep("e", M.MAX_ERROR_CODE + 1)) == nil and M.error_code("x s3cr3t-value", "s3cr3t-value") == nil
    and M.remote_text("a\0b\200c") == "a?b?c"
end

return M
