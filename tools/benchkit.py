"""benchkit: what the Socket.IO benches (tools/bench-party, tools/bench-replay) share: their
virtual environment with python-socketio and aiohttp, JWTs, a release build of playhead, and
the servers they start and stop.

Each bench sets NAME (its messages' prefix) and calls ensure_environment(__file__) first.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".build", "bench-party-venv")
VENV_PYTHON = os.path.join(VENV, "bin", "python")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The bench's name, for its messages.
NAME = "bench"
# Every server process the bench started and has not stopped yet: killed on the way out.
CHILDREN = []


def log(message):
    print(f"{NAME}: {message}", file=sys.stderr, flush=True)


def ensure_environment(script):
    """Re-executes SCRIPT under the benches' virtual environment unless socketio and aiohttp import here."""
    try:
        import aiohttp  # noqa: F401
        import socketio  # noqa: F401

        if hasattr(socketio, "AsyncClient") and hasattr(socketio, "AsyncServer"):
            return
    except ImportError:
        pass
    if os.environ.get("BENCHKIT_REEXEC"):
        raise SystemExit(f"{NAME}: {sys.executable} can't import socketio and aiohttp; remove {VENV} and run again")
    probe = [VENV_PYTHON, "-c", "import aiohttp, socketio; socketio.AsyncClient; socketio.AsyncServer"]
    if not os.path.exists(VENV_PYTHON) or subprocess.run(probe, capture_output=True).returncode != 0:
        log(f"making {VENV} (python-socketio, aiohttp)")
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run(
            [VENV_PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "python-socketio>=5.11,<6", "aiohttp"],
            check=True,
            stdout=sys.stderr,
        )
    os.environ["BENCHKIT_REEXEC"] = "1"
    os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(script)] + sys.argv[1:])


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(secret, user, admin=False):
    """An HS256 JWT with the claims playhead checks (sub, exp, role)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"sub": user, "exp": int(time.time()) + 3600}
    if admin:
        claims["role"] = "admin"
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(signature)}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(connection, method, path, bearer, body=None, headers=None):
    all_headers = {"Authorization": f"Bearer {bearer}"}
    if body is not None:
        all_headers["Content-Type"] = "application/json"
    all_headers.update(headers or {})
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=all_headers)
    response = connection.getresponse()
    data = response.read()
    return response.status, (json.loads(data) if data else {})


def playhead_binary():
    if os.environ.get("PLAYHEAD_BIN"):
        return os.environ["PLAYHEAD_BIN"]
    subprocess.run([os.path.join(ROOT, "tools", "install-dependencies")], check=True)
    log("swift build -c release --product playhead")
    subprocess.run(["swift", "build", "-c", "release", "--product", "playhead"], cwd=ROOT, check=True, stdout=sys.stderr)
    path = subprocess.run(
        ["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    return os.path.join(path, "playhead")


def wait_for_health(server, port, what, log_path):
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit(f"{NAME}: {what} exited with status {server.returncode} before it answered /health:\n{tail(log_path)}")
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            probe.request("GET", "/health")
            if probe.getresponse().status == 200:
                probe.close()
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{NAME}: {what} did not answer /health within 30 s")


def start(command, log_path):
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
    CHILDREN.append(server)
    return server


def stop(server):
    """SIGTERM, then SIGKILL after 10 s; returns how long it took to stop."""
    started = time.perf_counter()
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log(f"pid {server.pid} did not stop within 10 s of SIGTERM: killed")
            server.kill()
            server.wait(timeout=10)
    if server in CHILDREN:
        CHILDREN.remove(server)
    return time.perf_counter() - started


def kill_children():
    for server in list(CHILDREN):
        if server.poll() is None:
            server.kill()
    CHILDREN.clear()


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def machine_busy_seconds():
    """CPU seconds used on all cores, from /proc/stat: (processes' user + system, interrupts
    + softirqs, which include much of loopback networking and are charged to no process)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + steal) / CLOCK_TICKS, (irq + softirq) / CLOCK_TICKS


def wait_for_quiet(limit):
    """Waits up to LIMIT seconds for the other processes to use less than a quarter of a core."""
    deadline = time.monotonic() + limit
    said = False
    while True:
        before, _ = machine_busy_seconds()
        time.sleep(1)
        busy = machine_busy_seconds()[0] - before
        if busy < 0.25:
            return
        if time.monotonic() >= deadline:
            log(f"the machine is still busy ({100 * busy:.0f} % of a core) after {limit:g} s: running anyway")
            return
        if not said:
            log(f"waiting up to {limit:g} s for the machine to be quiet (other processes use {100 * busy:.0f} % of a core)")
            said = True


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]
