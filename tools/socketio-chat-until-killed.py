#!/usr/bin/env python3
"""Members of one watch party chat through python-socketio until the server goes away.

    socketio-chat-until-killed.py URL PARTY_ID TOKEN...

Each token is a member (its user is the token's `sub`): it connects over WebSocket, joins,
and sends a message every 0.45 s (under the gateway's five every two seconds), each with an
ack. Prints one line per fact as it happens, flushed, so that a crash of the server loses
none: `acked ID` for an acknowledged message, `received ID` for a delivered one, `joined
USER` once a member is in. Ends when every member lost its connection, or after 30 s.
"""
import base64
import json
import sys
import threading
import time

import socketio

url, party, tokens = sys.argv[1], sys.argv[2], sys.argv[3:]
NS = "/watch-party"
lock = threading.Lock()


def say(line):
    with lock:
        print(line, flush=True)


def user_of(token):
    claims = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"]


def member(token):
    user = user_of(token)
    sio = socketio.Client(reconnection=False)
    sio.on("new_message", lambda data: say(f"received {data['id']}"), namespace=NS)
    try:
        sio.connect(url, namespaces=[NS], auth={"token": token}, transports=["websocket"], wait_timeout=10)
        joined = sio.call("join_party", {"partyId": party, "userId": user, "username": user}, namespace=NS, timeout=10)
        if not joined.get("ok"):
            say(f"refused {json.dumps(joined)}")
            return
        say(f"joined {user}")
        deadline = time.monotonic() + 30
        count = 0
        while sio.connected and time.monotonic() < deadline:
            count += 1
            answer = sio.call("send_message", {"partyId": party, "message": f"{user} {count}"}, namespace=NS, timeout=5)
            if answer.get("ok"):
                say(f"acked {answer['message']['id']}")
            else:
                say(f"refused {json.dumps(answer)}")
            time.sleep(0.45)
    except Exception as error:  # the server was killed: any of the client's errors ends this member
        say(f"ended {user} {type(error).__name__}")
    finally:
        try:
            sio.disconnect()
        except Exception:
            pass


threads = [threading.Thread(target=member, args=(token,)) for token in tokens]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
