-- The policy of the bench's "mediated" scenario, as a Lua step: an API-key check against a table
-- (401 without a known key), a fixed-window rate limit per worker (never reached in a run), the
-- application passed to the backend in place of the key, and a response header from a property.
local applications = {
  ["bench-key-1"] = { name = "bench-app", tier = "Gold" },
  ["bench-key-2"] = { name = "other-app", tier = "Bronze" },
}
local limits = { Gold = 1e9, Bronze = 10 }  -- requests per second and worker
local window, counts = 0, {}

function on_request(ctx)
  local app = applications[ctx.request.get_header("X-Api-Key") or ""]
  if app == nil then
    ctx.respond(401, '{"code":900901,"message":"Invalid Credentials"}',
                { ["Content-Type"] = "application/json", ["WWW-Authenticate"] = 'ApiKey realm="bench"' })
  end
  local now = os.time()
  if now ~= window then
    window, counts = now, {}
  end
  local used = (counts[app.name] or 0) + 1
  counts[app.name] = used
  if used > limits[app.tier] then
    ctx.respond(429, '{"code":900802,"message":"Message throttled out"}',
                { ["Content-Type"] = "application/json", ["Retry-After"] = "1" })
  end
  ctx.request.remove_header("X-Api-Key")
  ctx.request.set_header("X-Application", app.name)
  ctx.set_property("bench.tier", app.tier)
end

function on_response(ctx)
  ctx.response.set_header("X-Tier", ctx.get_property("bench.tier") or "none")
end
