-- get.lua: wrk script for one GET route with a bearer token.
--
-- Environment (read in init):
--   REQUEST_PATH  the path to GET (e.g. /progress/summary/bench-video) [/health]
--   AUTH_HEADER   value of the Authorization header; none when unset
--
-- Usage: REQUEST_PATH=/progress/summary/v AUTH_HEADER="Bearer $TOKEN" \
--            wrk -t1 -c64 -d10s --latency -s tools/wrk/get.lua http://127.0.0.1:8080

local formatted

function init(args)
   local headers = {}
   local auth = os.getenv("AUTH_HEADER")
   if auth ~= nil and auth ~= "" then
      headers["Authorization"] = auth
   end
   formatted = wrk.format("GET", os.getenv("REQUEST_PATH") or "/health", headers)
end

function request()
   return formatted
end
