-- interactions-track.lua: wrk script for `POST /interactions/track`.
--
-- Environment (read in init: every wrk thread has its own Lua state):
--   TRACK_USER    the userId in the bodies (the token's user) [bench-user]
--   CONTENTS      how many content ids the interactions go round-robin over [1000]
--   AUTH_HEADER   value of the Authorization header; none when unset
--
-- The bodies are the spec's example with the content and type varied, so that most
-- requests update an interaction already tracked (the unique user, content and type)
-- once the first CONTENTS have been sent. Requests are formatted once in init.
--
-- Usage: AUTH_HEADER="Bearer $TOKEN" wrk -t1 -c64 -d10s --latency -s tools/wrk/interactions-track.lua http://127.0.0.1:8080

local thread_count = 0

function setup(thread)
   thread:set("thread_index", thread_count)
   thread_count = thread_count + 1
end

local requests = {}
local next_index = 0
local types = { "like", "dislike", "save", "share", "skip", "play", "complete", "rate", "view" }

function init(args)
   local user = os.getenv("TRACK_USER") or "bench-user"
   local contents = tonumber(os.getenv("CONTENTS") or "1000") or 1000
   local headers = { ["Content-Type"] = "application/json" }
   local auth = os.getenv("AUTH_HEADER")
   if auth ~= nil and auth ~= "" then
      headers["Authorization"] = auth
   end
   for i = 1, contents do
      local body = string.format(
         '{"userId":"%s","contentId":"content-%d","interactionType":"%s","interactionValue":%d,'
            .. '"moodAtInteraction":"happy","moodIntensityAtInteraction":8,"interactionDurationSeconds":120,'
            .. '"context":"evening relaxation","notes":"Really enjoyed this content"}',
         user, i, types[(i % #types) + 1], (i % 10) + 1)
      requests[i] = wrk.format("POST", "/interactions/track", headers, body)
   end
   next_index = (thread_index or 0) % #requests
end

function request()
   next_index = next_index % #requests + 1
   return requests[next_index]
end
