-- rewrite_request.lua — adapt a request for a legacy backend using path parameters and the query.
--
-- For a resource "/customers/{id}/orders" the backend wants the customer in X-Customer-ID and the
-- paging in X-Page / X-Page-Size headers instead of ?page=&size= (the query still goes along).
-- Input is checked first: a malformed id or paging answers 400 right here and the backend never
-- sees the request. The checked values are shared as properties for later handlers.
--
-- Configure it on the resource (or the API) whose template names {id}:
--   "resources": [ { "uri_template": "/customers/{id}/orders", "methods": ["GET"],
--     "handlers": [ { "component": "lua_mediation",
--                     "config": { "file": "/usr/share/sluice/lua/rewrite_request.lua" } } ] } ]

local MAX_PAGE_SIZE = 100

local function bad_request(ctx, what)
  ctx.respond(400, '{"code":400100,"message":"Bad Request","description":"' .. what .. '"}',
              { ["Content-Type"] = "application/json" })
end

function on_request(ctx)
  local id = ctx.request.get_path_param("id")
  if id == nil or not id:match("^%d+$") then
    return bad_request(ctx, "The customer id must be a number.")
  end

  local page = tonumber(ctx.request.get_query_arg("page") or "1")
  local size = tonumber(ctx.request.get_query_arg("size") or "20")
  if page == nil or page < 1 or page ~= math.floor(page) then
    return bad_request(ctx, "page must be a positive integer.")
  end
  if size == nil or size < 1 or size ~= math.floor(size) then
    return bad_request(ctx, "size must be a positive integer.")
  end
  size = math.min(size, MAX_PAGE_SIZE)

  ctx.request.set_header("X-Customer-ID", id)
  ctx.request.set_header("X-Page", string.format("%d", page))
  ctx.request.set_header("X-Page-Size", string.format("%d", size))
  ctx.set_property("customer.id", id)
  ctx.log("debug", "customer request for page", page)
end
