#!/usr/bin/env python3
"""bench-party-peer.py: python-socketio's own server doing the watch-party gateway's work in memory.

The peer that tools/bench-party measures Playhead's gateway against: `socketio.AsyncServer`
on aiohttp (async_mode="aiohttp"), namespace /watch-party under /socket.io/, the same client
events and server events, payloads of the same shape; rooms in memory, nothing stored.

Differences, all in the peer's favour: it authenticates nobody (any auth is taken), checks
no ticket, no lobby window, no room size and no rate limit, validates nothing but the
message's type and length, and acknowledges a message at once (Playhead acknowledges only
once the entry is durable, and delivers it from its log's live feed).

Usage (tools/bench-party starts it with its own virtual environment's python):
  bench-party-peer.py --port PORT [--host 127.0.0.1]

Also answers GET /health with 200, as `playhead serve` does, so that the bench waits for it
the same way. Stops on SIGTERM or SIGINT.
"""

import argparse
import datetime
import time
import uuid

import socketio
from aiohttp import web

NAMESPACE = "/watch-party"


def iso_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main():
    parser = argparse.ArgumentParser(description="python-socketio's server doing the watch-party gateway's work in memory.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()

    # The same Engine.IO settings as Playhead's gateway (ping 25 s, 20 s to answer, 1 MB).
    sio = socketio.AsyncServer(
        async_mode="aiohttp", ping_interval=25, ping_timeout=20, max_http_buffer_size=1_000_000, cors_allowed_origins="*"
    )
    app = web.Application()
    sio.attach(app)

    async def health(request):
        return web.json_response({"status": "ok"})

    app.router.add_get("/health", health)

    # partyId -> {sid: (userId, username)}; sid -> set of partyIds.
    rooms = {}
    joined = {}
    started = time.monotonic()

    def participant_list(party):
        users = {}
        for user, name in rooms.get(party, {}).values():
            users[user] = name
        return [{"userId": user, "username": users[user]} for user in sorted(users)]

    def entry(party, user, name, event_type, message=None):
        body = {"id": str(uuid.uuid4()), "partyId": party, "userId": user, "username": name, "event_type": event_type}
        if message is not None:
            body["message"] = message
        body.update({"real_time": iso_now(), "event_time": round(time.monotonic() - started, 3), "video_time": 0})
        return body

    async def leave_room(sid, party):
        members = rooms.get(party)
        if not members or sid not in members:
            return
        user, name = members.pop(sid)
        await sio.leave_room(sid, party, namespace=NAMESPACE)
        if not members:
            del rooms[party]
            return
        await sio.emit("user_left", entry(party, user, name, "leave"), room=party, namespace=NAMESPACE)
        await sio.emit("participant_list", participant_list(party), room=party, namespace=NAMESPACE)

    @sio.on("connect", namespace=NAMESPACE)
    async def connect(sid, environ, auth=None):
        joined[sid] = set()
        return True

    @sio.on("disconnect", namespace=NAMESPACE)
    async def disconnect(sid, reason=None):
        for party in joined.pop(sid, set()):
            await leave_room(sid, party)

    @sio.on("join_party", namespace=NAMESPACE)
    async def join_party(sid, data):
        if not isinstance(data, dict) or not isinstance(data.get("partyId"), str):
            return {"error": "partyId must be a UUID", "code": "invalid", "field": "partyId"}
        party = data["partyId"]
        user = str(data.get("userId") or sid)
        name = str(data.get("username") or user)
        if party in joined.setdefault(sid, set()):
            return {"error": "this connection is in the watch party already", "code": "conflict"}
        joined[sid].add(party)
        rooms.setdefault(party, {})[sid] = (user, name)
        await sio.enter_room(sid, party, namespace=NAMESPACE)
        body = entry(party, user, name, "join")
        await sio.emit("user_joined", body, room=party, skip_sid=sid, namespace=NAMESPACE)
        await sio.emit("participant_list", participant_list(party), room=party, namespace=NAMESPACE)
        await sio.emit(
            "sync_player",
            {"partyId": party, "action": "play", "videoTime": 0, "playing": True, "serverTime": iso_now()},
            to=sid,
            namespace=NAMESPACE,
        )
        return {"ok": True, "entry": body}

    @sio.on("leave_party", namespace=NAMESPACE)
    async def leave_party(sid, data):
        party = data.get("partyId") if isinstance(data, dict) else None
        if party not in joined.get(sid, set()):
            return {"error": "this connection is not in the watch party", "code": "conflict"}
        joined[sid].discard(party)
        await leave_room(sid, party)
        return {"ok": True}

    @sio.on("send_message", namespace=NAMESPACE)
    async def send_message(sid, data):
        party = data.get("partyId") if isinstance(data, dict) else None
        member = rooms.get(party, {}).get(sid)
        if member is None:
            return {"error": "join the watch party first", "code": "conflict"}
        message = data.get("message")
        if not isinstance(message, str) or not 1 <= len(message) <= 2000:
            return {"error": "message must have 1 to 2000 characters", "code": "invalid", "field": "message"}
        body = entry(party, member[0], member[1], "message", message)
        await sio.emit("new_message", body, room=party, namespace=NAMESPACE)
        return {"ok": True, "message": body}

    # Open WebSockets would hold a graceful shutdown for a minute: a second is enough here.
    web.run_app(app, host=options.host, port=options.port, print=None, access_log=None, handle_signals=True, shutdown_timeout=1)


if __name__ == "__main__":
    main()
