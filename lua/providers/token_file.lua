-- A bearer token read from a file that something else keeps current (ProviderType file): a
-- sidecar, a Kubernetes projected volume, a cron job writing a token.
--
-- How a change of the file is noticed: every answer carries refresh_in =
-- TokenFileRefreshSeconds (default 30), so the token engine calls acquire again that often and
-- the file is re-read; when its content has changed, the new token replaces the cached one from
-- that moment (the inject mode rewrites the server definition). Re-reading a small local file is
-- cheap; no file watch is needed, and a file replaced by rename (how Kubernetes updates volumes)
-- is handled like an in-place write.
--
-- Lifetime: the JWT exp claim when the token is a JWT (an expired token in the file is refused,
-- TOK-004); otherwise 300 s; in both cases at most 10 x TokenFileRefreshSeconds, because the token
-- engine refreshes no sooner than a tenth of a lifetime (RefreshSchedule.cpp). A file that
-- disappears or becomes empty is an error at the next re-read; the last good token is served
-- until that lifetime ends, never after.
--
-- Returns {access_token, token_type, expires_in, refresh_in} or nil, {code, message, status}.

local gw = gw
local oauth = gw.library("oauth")
local fail, jwt_remaining, trim = oauth.fail, oauth.jwt_remaining, oauth.trim
local type, pcall, math_floor = type, pcall, math.floor

local OPAQUE_LIFETIME = 300
local DEFAULT_REFRESH = 30

local function refresh_seconds(config)
  local v = config.TokenFileRefreshSeconds
  if v == nil then return DEFAULT_REFRESH end
  if math.type(v) ~= "integer" and not (type(v) == "number" and v == math_floor(v)) then
    return nil
  end
  if v < 1 or v > 3600 then return nil end
  return v
end

return {
  name = "token_file",
  version = "1.0.0",
  kind = "provider",
  schema = {
    type = "object",
    properties = {
      -- Something else writes it, maybe only after Orthanc has started.
      TokenFile = { type = "string", file = true, appears_later = true },
      TokenFileRefreshSeconds = { type = "integer", minimum = 1, maximum = 3600 },
    },
    required = { "TokenFile" },
  },

  acquire = function(ctx)
    local config = ctx.config
    local path = config.TokenFile
    if type(path) ~= "string" or path == "" then
      return fail("CFG-001", "TokenFile is required by the token_file provider")
    end
    local refresh = refresh_seconds(config)
    if not refresh then
      return fail("CFG-002", "TokenFileRefreshSeconds must be an integer between 1 and 3600")
    end
    local ok, content = pcall(gw.file.read, path)
    if not ok then
      return fail("TOK-004", "cannot read TokenFile " .. path, 502)
    end
    -- Trailing newlines and surrounding spaces are how editors and `echo` write files.
    local token = trim(content)
    if token == "" then return fail("TOK-004", "TokenFile " .. path .. " is empty", 502) end
    if token:find("[%s%c]") then
      return fail("TOK-004", "TokenFile " .. path .. " holds more than one token-like word", 502)
    end
    local lifetime = jwt_remaining(token) or OPAQUE_LIFETIME
    if lifetime <= 0 then
      return fail("TOK-004", "TokenFile " .. path .. " holds a JWT that has expired", 502)
    end
    -- The token engine never refreshes sooner than a tenth of a token's lifetime: report at most
    -- ten re-read periods so that refresh_in is honoured.
    lifetime = math.min(lifetime, 10 * refresh)
    return { access_token = token, token_type = "Bearer", expires_in = lifetime,
             refresh_in = math.min(refresh, lifetime / 2) }
  end,
}
