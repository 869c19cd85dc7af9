-- mock_response.lua — answer from the gateway without calling the backend (a mock / stub).
--
-- GET requests to a resource "/pets/{id}" get a canned JSON pet built from the path parameter,
-- with X-Mock: true, so front-end teams can work before the backend exists. Id 0 gives a 404 in
-- the gateway's error style; anything other than GET passes through to the backend unchanged.
--
-- Configure it on the API (or only on the resources to mock):
--   "handlers": [ { "component": "lua_mediation",
--                   "config": { "file": "/usr/share/sluice/lua/mock_response.lua" } } ]

local NAMES = { "Rex", "Tom", "Kitty", "Goldie", "Polly" }

function on_request(ctx)
  if ctx.request.get_method() ~= "GET" then
    return
  end
  local id = tonumber(ctx.request.get_path_param("id") or "")
  if id == nil then
    return
  end
  if id == 0 then
    return ctx.respond(404, '{"code":404001,"message":"Not Found","description":"No pet with id 0."}',
                { ["Content-Type"] = "application/json", ["X-Mock"] = "true" })
  end
  local name = NAMES[(math.floor(id) - 1) % #NAMES + 1]
  local body = string.format('{"id":%d,"name":"%s","status":"available"}', math.floor(id), name)
  return ctx.respond(200, body, { ["Content-Type"] = "application/json", ["X-Mock"] = "true" })
end
