-- Benchmark provider: hands out the server's configured `Token` with a one-hour lifetime, so the
-- data-path benchmark measures the data path (every mode sends the same token to an upstream that
-- checks it) and not an identity provider. Also a minimal example of a custom provider.
local M = { name = "bench_static_token", version = "1.0.0", kind = "provider" }

function M.acquire(ctx)
  local token = ctx.config.Token
  if type(token) ~= "string" or token == "" then
    return nil, { code = "CFG-002", message = "bench_static_token needs Token", status = 500 }
  end
  return { access_token = token, token_type = "Bearer", expires_in = 3600 }
end

return M
