-- AWS Signature Version 4 provider (AWS HealthImaging and any SigV4 service), proxy mode only.
--
-- acquire(ctx) finds AWS credentials the way the AWS SDKs do and returns them JSON-encoded as the
-- access_token, with their expiry, so the token engine caches them and refreshes them ahead of
-- expiry like any token. Order (the first source that is configured is used; a configured source
-- that fails is an error, never a silent fall-through to the next one):
--   1. configuration: AccessKeyId + SecretAccessKey [+ SessionToken]
--   2. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN]
--   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE (or WebIdentityTokenFile) + AWS_ROLE_ARN (or
--      RoleArn): STS AssumeRoleWithWebIdentity (EKS IRSA)
--   4. container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS) or
--      AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity, Greengrass), with
--      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE / AWS_CONTAINER_AUTHORIZATION_TOKEN
--   5. EC2 instance metadata, IMDSv2 only (session token first, then the role's credentials);
--      AWS_EC2_METADATA_DISABLED=true skips it, AWS_EC2_METADATA_SERVICE_ENDPOINT moves it.
-- Environment variables are read through gw.env.get: the gateway allowlists the AWS names for
-- servers of this provider.
--
-- sign(ctx) computes the SigV4 headers of one request:
--   ctx = { server=, config=, credential=<acquire's access_token>,
--           request = { method=, url=, headers = { Name = value }, payload_sha256 = <hex> },
--           time = <optional "YYYYMMDDTHHMMSSZ"> }
--   -> { headers = { Authorization=, ["X-Amz-Date"]=, ["X-Amz-Security-Token"]= (session only) } }
-- Like botocore, X-Amz-Content-Sha256 is added only for the s3 service; the payload hash is always
-- part of the signature.
--
-- Errors: CFG-001/CFG-002 configuration, AUTH-001 a credential source refused us, AUTH-005 a
-- credential source failed (retried), TOK-004 an answer without usable credentials, SIG-001 a
-- request that cannot be signed.

local gw = gw
local json = gw.json
local crypto = gw.crypto
local oauth = gw.library("oauth")
local fail, nonempty, env, decode_object = oauth.fail, oauth.nonempty, oauth.env, oauth.decode_object
local string_format, string_byte, string_char = string.format, string.byte, string.char
local table_concat, table_sort = table.concat, table.sort
local tostring, tonumber, type, pairs, ipairs = tostring, tonumber, type, pairs, ipairs
local math_floor = math.floor

local DEFAULT_SERVICE = "medical-imaging"
local STATIC_LIFETIME = 12 * 3600          -- configuration keys: re-read twice a day (cheap)
local ENV_LIFETIME = 3600                  -- environment keys: re-read hourly
local IMDS_TOKEN_TTL = "21600"
local ECS_HOST = "http://169.254.170.2"
local IMDS_HOST = "http://169.254.169.254"
local SOURCE_TIMEOUT_MS = 5000
local ALGORITHM = "AWS4-HMAC-SHA256"

-- Headers never signed (botocore's list: hop-by-hop and headers that proxies rewrite).
local UNSIGNED = {
  authorization = true, connection = true, expect = true, ["keep-alive"] = true,
  ["proxy-authenticate"] = true, ["proxy-authorization"] = true, te = true, trailer = true,
  ["transfer-encoding"] = true, upgrade = true, ["user-agent"] = true, ["x-amzn-trace-id"] = true,
}

-- ---- time -----------------------------------------------------------------------------------

-- The inverse of oauth.days_from_civil (Howard Hinnant's civil_from_days).
local function civil_from_days(z)
  z = z + 719468
  local era = math_floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math_floor((doe - math_floor(doe / 1460) + math_floor(doe / 36524) - math_floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math_floor(yoe / 4) - math_floor(yoe / 100))
  local mp = math_floor((5 * doy + 2) / 153)
  local d = doy - math_floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local function amz_date(unix)
  local secs = math_floor(unix)
  local days = math_floor(secs / 86400)
  local rest = secs - days * 86400
  local y, m, d = civil_from_days(days)
  return string_format("%04d%02d%02dT%02d%02d%02dZ", y, m, d, math_floor(rest / 3600),
                       math_floor(rest % 3600 / 60), rest % 60)
end

-- "2026-11-22T18:00:00Z" (also with fractional seconds or "+00:00") -> Unix seconds.
local function parse_iso8601(text)
  local seconds, zone = oauth.parse_timestamp(text)
  if zone ~= "Z" and zone ~= "+00:00" and zone ~= "" then return nil end
  return seconds
end

-- ---- credentials ----------------------------------------------------------------------------

-- The access_token handed to the token engine: the credentials as JSON, never logged.
local function credentials_result(source, key_id, secret, session, expires_on, lifetime)
  if not (nonempty(key_id) and nonempty(secret)) then
    return fail("TOK-004", source .. ": no AccessKeyId/SecretAccessKey in the answer", 502)
  end
  local result = {
    access_token = json.encode({ AccessKeyId = key_id, SecretAccessKey = secret,
                                 SessionToken = nonempty(session), Source = source }),
    token_type = "AWS4-HMAC-SHA256",
    scope = "source:" .. source,
  }
  if expires_on then
    if expires_on <= gw.time.now() then
      return fail("TOK-004", source .. ": the credentials returned are already expired", 502)
    end
    result.expires_on = expires_on
  else
    result.expires_in = lifetime
  end
  return result
end

local function source_error(source, response, what)
  local status = response.status
  local detail = string_format("%s: %s answered %d", source, what, status)
  if status == 429 or status >= 500 then return fail("AUTH-005", detail, 503) end
  return fail("AUTH-001", detail, 503)
end

-- The first <Name>...</Name> of an XML text (STS answers are flat and never nest a tag in itself).
local function xml_value(text, name)
  local v = text:match("<" .. name .. ">([^<]*)</" .. name .. ">")
  if not v then return nil end
  return (v:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", "\""):gsub("&apos;", "'"):gsub("&amp;", "&"))
end

local function region_of(config)
  return nonempty(config.Region) or env("AWS_REGION") or env("AWS_DEFAULT_REGION")
end

local function sts_endpoint(config)
  local endpoint = nonempty(config.StsEndpoint) or env("AWS_ENDPOINT_URL_STS") or env("AWS_ENDPOINT_URL")
  if endpoint then return endpoint end
  local region = region_of(config)
  if not region then return nil end
  return "https://sts." .. region .. ".amazonaws.com/"
end

local function from_web_identity(config, token_file, role_arn)
  local token = gw.file.read(token_file)
  token = token:gsub("%s+$", "")
  if token == "" then return fail("CFG-002", "web identity: the token file is empty", 500) end
  local endpoint = sts_endpoint(config)
  if not endpoint then return fail("CFG-001", "web identity: Region (or AWS_REGION) is needed for STS", 500) end
  local session = nonempty(config.RoleSessionName) or env("AWS_ROLE_SESSION_NAME")
      or ("dicomweb-oauth-" .. crypto.random_hex(8))
  local response, err = gw.http.request {
    method = "POST", url = endpoint, timeout_ms = SOURCE_TIMEOUT_MS,
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8" },
    body = gw.url.form_encode { Action = "AssumeRoleWithWebIdentity", Version = "2011-06-15",
                                RoleArn = role_arn, RoleSessionName = session, WebIdentityToken = token },
  }
  if not response then return nil, err end
  if response.status ~= 200 then
    -- Only a well-formed error code is quoted (oauth.error_code), never free text of the answer.
    local code = response.body and oauth.error_code(xml_value(response.body, "Code"))
    local r, e = source_error("web-identity", response, "STS AssumeRoleWithWebIdentity")
    if code and e then e.message = e.message .. " (" .. code .. ")" end
    return r, e
  end
  local body = response.body or ""
  local creds = body:match("<Credentials>(.-)</Credentials>")
  if not creds then return fail("TOK-004", "web-identity: STS answer without Credentials", 502) end
  local expires = parse_iso8601(xml_value(creds, "Expiration"))
  if not expires then return fail("TOK-004", "web-identity: STS answer without a valid Expiration", 502) end
  return credentials_result("web-identity", xml_value(creds, "AccessKeyId"), xml_value(creds, "SecretAccessKey"),
                            xml_value(creds, "SessionToken"), expires)
end

-- Hosts the SDKs accept for AWS_CONTAINER_CREDENTIALS_FULL_URI over plain http: loopback and the
-- ECS / EKS link-local agents. Anything else must be https.
local function container_host_allowed(url)
  local scheme, host = url:match("^(%a+)://%[?([^/%]]+)")
  if not scheme then return false end
  scheme = scheme:lower()
  if scheme == "https" then return true end
  if scheme ~= "http" then return false end
  host = host:gsub(":%d+$", ""):lower()
  if host == "localhost" or host == "::1" or host == "169.254.170.2" or host == "169.254.170.23"
      or host == "fd00:ec2::23" then
    return true
  end
  return host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

local function from_container(relative, full)
  local url
  if relative then
    url = ECS_HOST .. relative
  else
    if not container_host_allowed(full) then
      return fail("CFG-002", "container: AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, loopback or the "
                  .. "ECS/EKS agent address", 500)
    end
    url = full
  end
  local headers = { Accept = "application/json" }
  local token_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
  local token = token_file and gw.file.read(token_file) or env("AWS_CONTAINER_AUTHORIZATION_TOKEN")
  if token then
    token = token:gsub("%s+$", "")
    if token:find("[\r\n]") then return fail("CFG-002", "container: the authorization token contains a line break", 500) end
    headers.Authorization = token
  end
  local response, err = gw.http.request { method = "GET", url = url, headers = headers, timeout_ms = SOURCE_TIMEOUT_MS }
  if not response then return nil, err end
  if response.status ~= 200 then return source_error("container", response, "the container credentials endpoint") end
  local body = decode_object(response.body)
  if not body then return fail("TOK-004", "container: the answer is not a JSON object", 502) end
  local expires = parse_iso8601(body.Expiration)
  if not expires then return fail("TOK-004", "container: the answer has no valid Expiration", 502) end
  return credentials_result("container", body.AccessKeyId, body.SecretAccessKey, body.Token, expires)
end

local function from_imds()
  local base = (env("AWS_EC2_METADATA_SERVICE_ENDPOINT") or IMDS_HOST):gsub("/+$", "")
  local response, err = gw.http.request {
    method = "PUT", url = base .. "/latest/api/token", timeout_ms = SOURCE_TIMEOUT_MS,
    headers = { ["X-aws-ec2-metadata-token-ttl-seconds"] = IMDS_TOKEN_TTL },
  }
  if not response then return nil, err end
  if response.status ~= 200 or not nonempty(response.body) then
    return source_error("imds", response, "IMDSv2 PUT /latest/api/token")
  end
  local session = { ["X-aws-ec2-metadata-token"] = response.body }
  local path = base .. "/latest/meta-data/iam/security-credentials/"
  response, err = gw.http.request { method = "GET", url = path, headers = session, timeout_ms = SOURCE_TIMEOUT_MS }
  if not response then return nil, err end
  if response.status ~= 200 then return source_error("imds", response, "the instance role listing") end
  local role = (response.body or ""):match("^%s*([%w+=,.@_-]+)")
  if not role then return fail("AUTH-001", "imds: the instance has no IAM role", 503) end
  response, err = gw.http.request { method = "GET", url = path .. role, headers = session, timeout_ms = SOURCE_TIMEOUT_MS }
  if not response then return nil, err end
  if response.status ~= 200 then return source_error("imds", response, "the instance role credentials") end
  local body = decode_object(response.body)
  if not body then return fail("TOK-004", "imds: the answer is not a JSON object", 502) end
  if body.Code ~= nil and body.Code ~= "Success" then
    return fail("AUTH-001", "imds: credentials not available (" .. (oauth.error_code(body.Code) or "invalid code")
                            .. ")", 503)
  end
  local expires = parse_iso8601(body.Expiration)
  if not expires then return fail("TOK-004", "imds: the answer has no valid Expiration", 502) end
  return credentials_result("imds", body.AccessKeyId, body.SecretAccessKey, body.Token, expires)
end

local function acquire(ctx)
  local config = ctx.config or {}
  local key_id, secret = nonempty(config.AccessKeyId), nonempty(config.SecretAccessKey)
  if key_id or secret then
    if not (key_id and secret) then
      return fail("CFG-001", "AccessKeyId and SecretAccessKey must be configured together", 500)
    end
    return credentials_result("config", key_id, secret, config.SessionToken, nil, STATIC_LIFETIME)
  end
  key_id, secret = env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")
  if key_id and secret then
    return credentials_result("environment", key_id, secret, env("AWS_SESSION_TOKEN"), nil, ENV_LIFETIME)
  end
  local token_file = nonempty(config.WebIdentityTokenFile) or env("AWS_WEB_IDENTITY_TOKEN_FILE")
  if token_file then
    local role_arn = nonempty(config.RoleArn) or env("AWS_ROLE_ARN")
    if not role_arn then return fail("CFG-001", "web identity: RoleArn (or AWS_ROLE_ARN) is required", 500) end
    return from_web_identity(config, token_file, role_arn)
  end
  local relative, full = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
  if relative or full then return from_container(relative, full) end
  local disabled = env("AWS_EC2_METADATA_DISABLED")
  if disabled and disabled:lower() == "true" then
    return fail("AUTH-001", "no AWS credentials: none configured, none in the environment, and instance "
                .. "metadata is disabled (AWS_EC2_METADATA_DISABLED)", 503)
  end
  return from_imds()
end

-- ---- SigV4 ----------------------------------------------------------------------------------

-- RFC 3986 encoding of every byte but the unreserved ones, upper-case hex (SigV4's UriEncode).
-- Explicit ASCII ranges, not %w: character classes follow the C locale of the host process.
local function uri_encode(text, keep_slash)
  return (text:gsub("[^A-Za-z0-9%-_%.~/]", function(c)
    return string_format("%%%02X", string_byte(c))
  end):gsub("/", keep_slash and "/" or "%%2F"))
end

local function uri_decode(text)
  return (text:gsub("%%(%x%x)", function(h) return string_char(tonumber(h, 16)) end))
end

-- Path as sent -> canonical URI: dot segments resolved and empty segments dropped (as AWS does for
-- every service but S3), then each byte encoded once more (so "%2F" sent becomes "%252F").
local function canonical_uri(path, service)
  if path == "" then return "/" end
  if service == "s3" then return uri_encode(path, true) end
  local out = {}
  for segment in path:gmatch("[^/]+") do
    if segment == ".." then
      out[#out] = nil
    elseif segment ~= "." then
      out[#out + 1] = uri_encode(segment, false)
    end
  end
  local text = "/" .. table_concat(out, "/")
  if #out > 0 and path:sub(-1) == "/" then text = text .. "/" end
  return text
end

-- Query as sent -> canonical query: each name and value decoded, encoded again with the
-- unreserved set only, sorted by name then value (byte order).
local function canonical_query(query)
  if query == nil or query == "" then return "" end
  local pairs_list = {}
  for item in query:gmatch("[^&]+") do
    local name, value = item:match("^([^=]*)=?(.*)$")
    pairs_list[#pairs_list + 1] = { uri_encode(uri_decode(name), false), uri_encode(uri_decode(value), false) }
  end
  table_sort(pairs_list, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local parts = {}
  for i, p in ipairs(pairs_list) do parts[i] = p[1] .. "=" .. p[2] end
  return table_concat(parts, "&")
end

local function trim_all(value)
  return (value:gsub("^%s+", ""):gsub("%s+$", ""):gsub("%s+", " "))
end

-- "https://Host:443/a/b?x=1" -> host header value ("Host" without a default port), path, query.
local function split_url(url)
  local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme then return nil end
  scheme = scheme:lower()
  authority = authority:gsub("^.*@", "")
  local host, port = authority:match("^(.*):(%d+)$")
  if not host or host:find(":") and not host:find("^%[") then host, port = authority, nil end
  if port and ((scheme == "https" and port == "443") or (scheme == "http" and port == "80")) then
    authority = host
  end
  rest = rest:gsub("#.*$", "")
  local path, query = rest:match("^([^?]*)%??(.*)$")
  return authority, path, query
end

-- Signing keys are the same for a whole day: one per state is kept (a cache, nothing more).
local key_cache = { id = nil, key = nil }

local function signing_key(secret, date, region, service)
  local id = crypto.sha256_hex(secret) .. "/" .. date .. "/" .. region .. "/" .. service
  if key_cache.id == id then return key_cache.key end
  local k = crypto.hmac_sha256("AWS4" .. secret, date)
  k = crypto.hmac_sha256(k, region)
  k = crypto.hmac_sha256(k, service)
  k = crypto.hmac_sha256(k, "aws4_request")
  key_cache.id, key_cache.key = id, k
  return k
end

local function sign(ctx)
  local config = ctx.config or {}
  local request = ctx.request
  if type(request) ~= "table" or type(request.url) ~= "string" or type(request.method) ~= "string" then
    return fail("SIG-001", "sign: no request to sign", 500)
  end
  local creds = type(ctx.credential) == "string" and json.decode(ctx.credential) or nil
  if type(creds) ~= "table" or not nonempty(creds.AccessKeyId) or not nonempty(creds.SecretAccessKey) then
    return fail("SIG-001", "sign: no AWS credentials (acquire must run first)", 500)
  end
  local region = region_of(config)
  if not region then return fail("CFG-001", "Region is required to sign AWS requests", 500) end
  local service = nonempty(config.SigningService) or DEFAULT_SERVICE
  local payload = request.payload_sha256
  if type(payload) ~= "string" or not payload:match("^%x+$") or #payload ~= 64 then
    return fail("SIG-001", "sign: the payload SHA-256 is required (the body must be hashed before signing)", 500)
  end
  local stamp = ctx.time
  if stamp ~= nil and (type(stamp) ~= "string" or not stamp:match("^%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ$")) then
    return fail("SIG-001", "sign: time must be YYYYMMDDTHHMMSSZ", 400)
  end
  stamp = stamp or amz_date(gw.time.now())
  local date = stamp:sub(1, 8)

  local host, path, query = split_url(request.url)
  if not host then return fail("SIG-001", "sign: not an absolute http(s) URL", 400) end

  local added = { ["X-Amz-Date"] = stamp }
  local session = nonempty(creds.SessionToken)
  if session then added["X-Amz-Security-Token"] = session end
  if service == "s3" then added["X-Amz-Content-Sha256"] = payload end

  -- lower-case name -> values; the request's headers (already final) plus ours and host.
  local signed = { host = { host } }
  local function add(name, value)
    local lname = name:lower()
    if UNSIGNED[lname] then return end
    local list = signed[lname]
    if not list then
      list = {}
      signed[lname] = list
    end
    list[#list + 1] = trim_all(tostring(value))
  end
  for name, value in pairs(request.headers or {}) do
    local lname = name:lower()
    if lname == "host" or lname == "x-amz-date" or lname == "x-amz-security-token"
        or lname == "x-amz-content-sha256" then
      return fail("SIG-001", "sign: the request already carries '" .. name .. "'", 400)
    end
    add(name, value)
  end
  for name, value in pairs(added) do add(name, value) end

  local names = {}
  for lname in pairs(signed) do names[#names + 1] = lname end
  table_sort(names)
  local canonical_headers = {}
  for i, lname in ipairs(names) do
    canonical_headers[i] = lname .. ":" .. table_concat(signed[lname], ",") .. "\n"
  end
  local signed_headers = table_concat(names, ";")

  local canonical_request = table_concat({
    request.method:upper(), canonical_uri(path, service), canonical_query(query),
    table_concat(canonical_headers), signed_headers, payload:lower(),
  }, "\n")
  local scope = date .. "/" .. region .. "/" .. service .. "/aws4_request"
  local string_to_sign = ALGORITHM .. "\n" .. stamp .. "\n" .. scope .. "\n" .. crypto.sha256_hex(canonical_request)
  local signature = crypto.hmac_sha256_hex(signing_key(creds.SecretAccessKey, date, region, service), string_to_sign)

  added.Authorization = ALGORITHM .. " Credential=" .. creds.AccessKeyId .. "/" .. scope
      .. ", SignedHeaders=" .. signed_headers .. ", Signature=" .. signature
  return { headers = added }
end

return {
  name = "aws_sigv4",
  version = "1.0.0",
  kind = "provider",
  -- The AWS SDKs' variables stand in for absent keys (docs/providers/aws.md).
  schema = {
    type = "object",
    properties = {
      Region = { type = "string", env = "AWS_REGION" },
      SigningService = { type = "string" },
      AccessKeyId = { type = "string", env = "AWS_ACCESS_KEY_ID" },
      SecretAccessKey = { type = "string", secret = true, env = "AWS_SECRET_ACCESS_KEY" },
      SessionToken = { type = "string", secret = true, env = "AWS_SESSION_TOKEN" },
      RoleArn = { type = "string", env = "AWS_ROLE_ARN" },
      RoleSessionName = { type = "string", env = "AWS_ROLE_SESSION_NAME" },
      WebIdentityTokenFile = { type = "string", file = true, appears_later = true, env = "AWS_WEB_IDENTITY_TOKEN_FILE" },
      StsEndpoint = { type = "string", env = "AWS_ENDPOINT_URL_STS" },
    },
    env = {
      AWS_DEFAULT_REGION = {},
      AWS_ENDPOINT_URL = {},
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = {},
      AWS_CONTAINER_CREDENTIALS_FULL_URI = {},
      AWS_CONTAINER_AUTHORIZATION_TOKEN = { secret = true },
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = { file = true },
      AWS_EC2_METADATA_SERVICE_ENDPOINT = {},
      AWS_EC2_METADATA_DISABLED = {},
    },
  },
  acquire = acquire,
  sign = sign,

  -- The AWS test suite's get-vanilla vector: a broken signer never gets published.
  self_test = function()
    local out = sign {
      config = { Region = "us-east-1", SigningService = "service" },
      credential = json.encode({ AccessKeyId = "AKIDEXAMPLE",
                                 SecretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" }),
      request = { method = "GET", url = "https://example.amazonaws.com/", headers = {},
                  payload_sha256 = crypto.sha256_hex("") },
      time = "20150830T123600Z",
    }
    return out ~= nil and out.headers.Authorization:sub(-64)
        == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
  end,
}
