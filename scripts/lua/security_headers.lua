-- security_headers.lua — add and strip headers on the way in and out.
--
-- Request:  drops every client header starting with "X-Internal-" (only the gateway may send
--           those), also spelt with '_' or '.' ("X_Internal_User": PHP, WSGI and Rack read it as
--           X-Internal-User), tells the backend who called (X-Client-Address, X-Request-ID) and
--           passes on the correlation ID that the correlation_id handler shared as a property.
-- Response: removes headers that reveal the backend (Server, X-Powered-By) and adds common
--           security headers unless the backend already set them.
--
-- Configure it in an API (conf/apis/*.json), after correlation_id (a global handler by default):
--   "handlers": [
--     { "component": "lua_mediation",
--       "config": { "file": "/usr/share/sluice/lua/security_headers.lua" } }
--   ]
-- No body is needed, so the plain lua_mediation component keeps bodies streaming.

local INTERNAL_PREFIX = "x-internal-"

local SECURITY_HEADERS = {
  ["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains",
  ["X-Content-Type-Options"] = "nosniff",
  ["X-Frame-Options"] = "DENY",
  ["Referrer-Policy"] = "no-referrer",
}

function on_request(ctx)
  -- get_headers() gives lower-case names; collect first, then remove. '_' and '.' are read as
  -- '-', as CGI-style backends do.
  local internal = {}
  for name in pairs(ctx.request.get_headers()) do
    if name:gsub("[_.]", "-"):sub(1, #INTERNAL_PREFIX) == INTERNAL_PREFIX then
      internal[#internal + 1] = name
    end
  end
  for _, name in ipairs(internal) do
    ctx.request.remove_header(name)
  end

  ctx.request.set_header("X-Client-Address", ctx.get_client_address())
  ctx.request.set_header("X-Request-ID", ctx.get_request_id())
  local correlation = ctx.get_property("correlation_id")
  if correlation then
    ctx.request.set_header("X-Trace-ID", correlation)
  end
end

function on_response(ctx)
  ctx.response.remove_header("Server")
  ctx.response.remove_header("X-Powered-By")
  for name, value in pairs(SECURITY_HEADERS) do
    if ctx.response.get_header(name) == nil then
      ctx.response.set_header(name, value)
    end
  end
end
