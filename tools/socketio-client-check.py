#!/usr/bin/env python3
"""A watch party through the stock python-socketio client, for PythonSocketIOTests.

    socketio-client-check.py URL PARTY_ID ALICE_TOKEN BOB_TOKEN ADMIN_TOKEN

Alice connects with the client's default transports (long-polling, then the upgrade to
WebSocket), Bob with WebSocket only. Both join, Alice chats, Bob seeks, an administrator is
refused as the room is full (two seats), a bad token is refused at connect, Bob reports his
player's position (a sync_hint answers). Bob's connection drops; Alice plays the film and
chats; Bob comes back with the id of the last entry he saw (he catches up, and joins late:
the film's position is extrapolated), then leaves. Prints one JSON object: what each side
was answered and received.
"""
import json
import sys
import time

import socketio

url, party, alice_token, bob_token, admin_token = sys.argv[1:6]
NS = "/watch-party"
EVENTS = ["user_joined", "user_left", "participant_list", "new_message", "sync_player", "sync_hint", "error"]


def client(token, transports=None):
    sio = socketio.Client(reconnection=False)
    received = []
    for name in EVENTS:
        sio.on(name, (lambda name: lambda data: received.append([name, data]))(name), namespace=NS)
    sio.connect(url, namespaces=[NS], auth={"token": token}, transports=transports, wait_timeout=10)
    return sio, received


result = {}
alice, alice_received = client(alice_token)
bob, bob_received = client(bob_token, ["websocket"])
result["alice_join"] = alice.call("join_party", {"partyId": party, "userId": "alice", "username": "Alice"}, namespace=NS, timeout=10)
result["bob_join"] = bob.call("join_party", {"partyId": party, "userId": "bob", "username": "Bob"}, namespace=NS, timeout=10)
result["message"] = alice.call("send_message", {"partyId": party, "message": "hello from python"}, namespace=NS, timeout=10)
# 1,500 emoji: within the 2,000-character limit, about 18 KB once the client's JSON escapes
# them, so more than one WebSocket frame's worth under hummingbird-websocket's default.
result["emoji"] = bob.call("send_message", {"partyId": party, "message": "\U0001F600" * 1500}, namespace=NS, timeout=10)
result["seek"] = bob.call("player_action", {"partyId": party, "action": "seek", "videoTime": 42}, namespace=NS, timeout=10)
admin, _ = client(admin_token)
result["full"] = admin.call("join_party", {"partyId": party, "userId": "root", "username": "Root"}, namespace=NS, timeout=10)
admin.disconnect()
try:
    bad = socketio.Client(reconnection=False)
    bad.on("connect_error", lambda data: result.__setitem__("bad_token_error", data), namespace=NS)
    bad.connect(url, namespaces=[NS], auth={"token": "not-a-token"}, wait_timeout=5)
    result["bad_token"] = "connected"
except socketio.exceptions.ConnectionError as error:
    result["bad_token"] = str(error)
result["status"] = bob.call("player_status", {"partyId": party, "videoTime": 45}, namespace=NS, timeout=10)
result["alice_transport"] = alice.transport()
result["bob_transport"] = bob.transport()
time.sleep(0.5)
# The last entry Bob saw is his own seek (what came after it logged nothing).
last_seen = result["seek"]["sync"]["id"]
bob.disconnect()
result["play"] = alice.call("player_action", {"partyId": party, "action": "play"}, namespace=NS, timeout=10)
result["away_message"] = alice.call("send_message", {"partyId": party, "message": "while you were away"}, namespace=NS, timeout=10)
time.sleep(1)
back, back_received = client(bob_token, ["websocket"])
result["back_join"] = back.call(
    "join_party", {"partyId": party, "userId": "bob", "username": "Bob", "lastEntryId": last_seen}, namespace=NS, timeout=10
)
time.sleep(0.5)
result["back_leave"] = back.call("leave_party", {"partyId": party}, namespace=NS, timeout=10)
time.sleep(0.5)
back.disconnect()
alice.disconnect()
result["alice_received"] = alice_received
result["bob_received"] = bob_received
result["back_received"] = back_received
print(json.dumps(result))
