#!/usr/bin/env python3
"""A live watch party recorded through python-socketio, then replayed: for PythonSocketIOTests.

    socketio-replay-check.py URL PARTY_ID ALICE_TOKEN BOB_TOKEN CAROL_TOKEN ADMIN_TOKEN

Alice joins first and records every event she receives (the asyncio client runs handlers
in the order the events came). Bob and Carol join, chat, play, pause and seek; Carol
leaves and Bob's connection drops. An administrator then replays the party at speed 10000
(an administrator may replay a party that is still on). Prints one JSON object: Alice's
live events, the replayed events (until `replay_finished`), and the acks.
"""
import asyncio
import json
import sys

import socketio

url, party, alice_token, bob_token, carol_token, admin_token = sys.argv[1:7]
NS = "/watch-party"
EVENTS = ["user_joined", "user_left", "participant_list", "new_message", "sync_player", "replay_finished", "error"]


async def client(token, record=None):
    sio = socketio.AsyncClient(reconnection=False)
    if record is not None:
        for name in EVENTS:
            sio.on(name, (lambda name: lambda data: record.append([name, data]))(name), namespace=NS)
    await sio.connect(url, namespaces=[NS], auth={"token": token}, transports=["websocket"], wait_timeout=10)
    return sio


async def call(sio, event, data):
    answer = await sio.call(event, data, namespace=NS, timeout=10)
    if not answer.get("ok"):
        raise SystemExit(f"{event} {data} was refused: {answer}")
    return answer


async def main():
    live = []
    alice = await client(alice_token, live)
    await call(alice, "join_party", {"partyId": party, "userId": "alice", "username": "Alice"})
    bob = await client(bob_token)
    carol = await client(carol_token)
    await call(bob, "join_party", {"partyId": party, "userId": "bob", "username": "Bob"})
    await call(carol, "join_party", {"partyId": party, "userId": "carol", "username": "Carol"})
    await call(bob, "send_message", {"partyId": party, "message": "popcorn ready"})
    await call(carol, "player_action", {"partyId": party, "action": "play", "videoTime": 0})
    await call(alice, "send_message", {"partyId": party, "message": "here we go ✨"})
    await call(bob, "player_action", {"partyId": party, "action": "pause"})
    await call(carol, "player_action", {"partyId": party, "action": "seek", "videoTime": 42.5})
    await call(carol, "send_message", {"partyId": party, "message": "line one\nline two"})
    await call(bob, "player_action", {"partyId": party, "action": "play"})
    await call(carol, "leave_party", {"partyId": party})
    await bob.disconnect()
    await asyncio.sleep(0.5)
    await carol.disconnect()

    replayed = []
    done = asyncio.Event()
    admin = await client(admin_token, replayed)
    admin.on("replay_finished", lambda data: (replayed.append(["replay_finished", data]), done.set()), namespace=NS)
    started = await call(admin, "replay_party", {"partyId": party, "speed": 10000})
    await asyncio.wait_for(done.wait(), 20)
    await admin.disconnect()
    await alice.disconnect()
    print(json.dumps({"live": live, "replayed": replayed, "started": started}))


asyncio.run(main())
