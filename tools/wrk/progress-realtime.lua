-- progress-realtime.lua: wrk script for `POST /progress/realtime`.
--
-- Environment (read in init: every wrk thread has its own Lua state):
--   PROGRESS_USER   the userId in the bodies (the token's user) [bench-user]
--   VIDEOS          how many videos the reports go round-robin over [64]
--   AUTH_HEADER     value of the Authorization header; none when unset
--
-- The bodies are the spec's: userId, videoId, watchedDuration (no lastWatched: the server's
-- clock is used, so that no report is refused as coming from the future). Requests are
-- formatted once in init, so request() costs only a table lookup.
--
-- Usage: AUTH_HEADER="Bearer $TOKEN" wrk -t1 -c64 -d10s --latency -s tools/wrk/progress-realtime.lua http://127.0.0.1:8080

local thread_count = 0

function setup(thread)
   thread:set("thread_index", thread_count)
   thread_count = thread_count + 1
end

local requests = {}
local next_index = 0

function init(args)
   local user = os.getenv("PROGRESS_USER") or "bench-user"
   local videos = tonumber(os.getenv("VIDEOS") or "64") or 64
   local headers = { ["Content-Type"] = "application/json" }
   local auth = os.getenv("AUTH_HEADER")
   if auth ~= nil and auth ~= "" then
      headers["Authorization"] = auth
   end
   for i = 1, videos do
      local body = string.format('{"userId":"%s","videoId":"video-%d","watchedDuration":%d}', user, i, 30 * i)
      requests[i] = wrk.format("POST", "/progress/realtime", headers, body)
   end
   next_index = (thread_index or 0) % #requests
end

function request()
   next_index = next_index % #requests + 1
   return requests[next_index]
end
