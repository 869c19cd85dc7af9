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
-- Its time grows with the body (up to about 0.7 s per MiB, for a body of '@' alone), and the call holds
-- its worker: bound what it may take with the component's "max_time_ms" (and the body with
-- http.max_body_bytes) to what your answers need, e.g. "max_time_ms": 100.

local function textual(content_type)
  content_type = (content_type or ""):lower()
  return content_type:find("json", 1, true) or content_type:find("xml", 1, true)
      or content_type:find("^text/")
end

-- user@domain.example -> u***@domain.example. The '@' signs are found first and each address
-- is read around one: a pattern that began with the user part would be tried at every letter of
-- a long word and rescan it to its end each time (quadratic: 50 KB of text took seconds).
local function mask_emails(body)
  local out, count, pos = {}, 0, 1
  while true do
    local at = body:find("@", pos, true)
    if at == nil then
      break
    end
    -- A local part has at most 64 characters (RFC 5321), so that is as far back as it is looked for.
    local user = body:sub(math.max(pos, at - 64), at - 1):match("[%w%.%-_+]+$")
    local domain = body:match("^[%w%-]+%.[%w%.%-]+", at + 1)
    if user ~= nil and domain ~= nil then
      out[#out + 1] = body:sub(pos, at - #user - 1)
      out[#out + 1] = user:sub(1, 1) .. "***@" .. domain
      count = count + 1
      pos = at + 1 + #domain
    else
      out[#out + 1] = body:sub(pos, at)
      pos = at + 1
    end
  end
  out[#out + 1] = body:sub(pos)
  return table.concat(out), count
end

local function mask_card(number)
  local digits = number:gsub("[ %-]", "")
  if #digits < 13 or #digits > 19 then
    return number
  end
  return string.rep("*", #digits - 4) .. digits:sub(-4)
end

function on_response(ctx)
  -- The answer to a HEAD has no body to mask (and none to read).
  if ctx.request.get_method() == "HEAD" or not textual(ctx.response.get_header("Content-Type")) then
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
  body, emails = mask_emails(body)
  masked = masked + emails

  ctx.response.set_body(body)
  ctx.response.set_header("X-Redacted", tostring(masked))
  ctx.set_property("redacted", tostring(masked))
end
