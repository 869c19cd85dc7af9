-- redact_body.lua — transform the backend's response body with string functions: mask card
-- numbers and e-mail addresses before they leave the gateway.
--
--   "card": "4111 1111 1111 1234"   ->  "card": "************1234"
--   jane.doe@example.com             ->  j***@example.com
--
-- The response body must be buffered, so use the lua_mediation_response_body component:
--   "handlers": [ { "component": "lua_mediation_response_body",
--                   "config": { "file": "/usr/share/sluice/lua/redact_body.lua" } } ]
-- Only text-like bodies (JSON, XML, text) are touched; the count of masked values goes to the
-- client in X-Redacted and to later handlers in the property "redacted".

local function textual(content_type)
  content_type = (content_type or ""):lower()
  return content_type:find("json", 1, true) or content_type:find("xml", 1, true)
      or content_type:find("^text/")
end

local function mask_card(number)
  local digits = number:gsub("[ %-]", "")
  if #digits < 13 or #digits > 19 then
    return number
  end
  return string.rep("*", #digits - 4) .. digits:sub(-4)
end

function on_response(ctx)
  if not textual(ctx.response.get_header("Content-Type")) then
    return
  end
  local body, err = ctx.response.get_body()
  if body == nil then
    ctx.log("warn", "cannot read the response body:", err)
    return
  end

  local masked = 0
  body = body:gsub("%d[%d %-]+%d", function(number)
    local replacement = mask_card(number)
    if replacement ~= number then
      masked = masked + 1
    end
    return replacement
  end)
  local emails
  body, emails = body:gsub("([%w%.%-_+]+)@([%w%-]+%.[%w%.%-]+)", function(user, domain)
    return user:sub(1, 1) .. "***@" .. domain
  end)
  masked = masked + emails

  ctx.response.set_body(body)
  ctx.response.set_header("X-Redacted", tostring(masked))
  ctx.set_property("redacted", tostring(masked))
end
