#!/usr/bin/env python3
"""Two members of one watch party, each on another node, chat through python-socketio.

    socketio-cross-node-chat.py URL_A URL_B PARTY_ID TOKEN_A TOKEN_B COUNT

The first member connects to node A, the second to node B (over WebSocket), and both join.
The member on A sends COUNT messages, each with an ack; the member on B listens. Prints one
line per fact, flushed: `joined USER`, `acked ID` (A's acknowledged messages), `received ID`
(what B was delivered). Ends once B received every acknowledged message, or after 30 s.
"""
import base64
import json
import sys
import threading
import time

import socketio

url_a, url_b, party, token_a, token_b, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
NS = "/watch-party"
lock = threading.Lock()
received = set()


def say(line):
    with lock:
        print(line, flush=True)


def user_of(token):
    claims = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"]


def on_message(data):
    with lock:
        received.add(data["id"])
    say(f"received {data['id']}")


def connect(url, token, listen):
    client = socketio.Client(reconnection=False)
    if listen:
        client.on("new_message", on_message, namespace=NS)
    client.connect(url, namespaces=[NS], auth={"token": token}, transports=["websocket"], wait_timeout=10)
    user = user_of(token)
    joined = client.call("join_party", {"partyId": party, "userId": user, "username": user}, namespace=NS, timeout=10)
    if not joined.get("ok"):
        say(f"refused {json.dumps(joined)}")
        sys.exit(1)
    say(f"joined {user}")
    return client


listener = connect(url_b, token_b, listen=True)
sender = connect(url_a, token_a, listen=False)
acked = set()
for index in range(count):
    answer = sender.call("send_message", {"partyId": party, "message": f"message {index}"}, namespace=NS, timeout=10)
    if answer.get("ok"):
        acked.add(answer["message"]["id"])
        say(f"acked {answer['message']['id']}")
    else:
        say(f"refused {json.dumps(answer)}")
    time.sleep(0.45)  # under the gateway's five messages every two seconds
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    with lock:
        if acked <= received:
            break
    time.sleep(0.05)
sender.disconnect()
listener.disconnect()
