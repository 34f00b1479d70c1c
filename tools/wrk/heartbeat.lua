-- heartbeat.lua: wrk script for `POST /user-sessions/heartbeat/<sessionId>`.
--
-- Environment (read in init: every wrk thread has its own Lua state):
--   SESSION_IDS   comma-separated session ids, cycled round-robin; when empty the
--                 nil UUID 00000000-0000-0000-0000-000000000000 is used
--   AUTH_HEADER   value of the Authorization header (e.g. "Bearer eyJ..."); none when unset
--
-- Requests are formatted once in init, so request() costs only a table lookup and wrk
-- spends its CPU on the connections rather than on Lua.
--
-- Usage: SESSION_IDS=a,b,c AUTH_HEADER="Bearer $TOKEN" \
--            wrk -t1 -c64 -d10s --latency -s tools/wrk/heartbeat.lua http://127.0.0.1:8080

local thread_count = 0

-- Runs in the main Lua state once per thread, before init: number the threads so
-- each one starts at a different id.
function setup(thread)
   thread:set("thread_index", thread_count)
   thread_count = thread_count + 1
end

local requests = {}
local next_index = 0

function init(args)
   local ids = {}
   for id in string.gmatch(os.getenv("SESSION_IDS") or "", "[^,%s]+") do
      ids[#ids + 1] = id
   end
   if #ids == 0 then
      ids[1] = "00000000-0000-0000-0000-000000000000"
   end

   local headers = {}
   local auth = os.getenv("AUTH_HEADER")
   if auth ~= nil and auth ~= "" then
      headers["Authorization"] = auth
   end

   for i, id in ipairs(ids) do
      -- An empty body: wrk then sends "Content-Length: 0", as a POST should.
      requests[i] = wrk.format("POST", "/user-sessions/heartbeat/" .. id, headers, "")
   end
   next_index = (thread_index or 0) % #requests
end

function request()
   next_index = next_index % #requests + 1
   return requests[next_index]
end
