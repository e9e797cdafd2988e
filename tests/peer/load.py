"""Creates tickets through django-helpdesk's REST API, as the conversion
bench converts chats: 300 one at a time, then 1,000 with 8 clients, each
with a 5 KB description (20 lines of 235 bytes, the bench's chat). Prints
the server's CPU per ticket (user + system time of the given processes,
from /proc, and on PostgreSQL of the backends serving the peer's
database), the rate and the latencies.

usage: load.py PORT PIDS (comma-separated: gunicorn's master and workers)"""
import http.client
import json
import os
import subprocess
import sys
import threading
import time

port, pids = int(sys.argv[1]), [int(p) for p in sys.argv[2].split(",")]
token = open(os.path.join(os.environ["PEER_WORK"], "token")).read().strip()
line = "[2026-11-25 10:01:02 UTC] Grace Hopper: " + "x" * 194 + "\n"
assert len(line) == 235
body = json.dumps({"queue": 1, "title": "Refund for order 42", "description": line * 20,
                   "submitter_email": "grace@navy.mil", "priority": 3})
headers = {"Content-Type": "application/json", "Authorization": "Token " + token}


def backends():
    if os.environ.get("PEER_DB") != "postgres":
        return []
    sql = "SELECT pid FROM pg_stat_activity WHERE datname = 'peerbench'"
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-d", "postgres", "-Atc", sql],
                         capture_output=True, text=True, check=True).stdout
    return [int(p) for p in out.split()]


def cpu():
    ticks = 0
    for pid in pids + backends():
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run(n, clients, report=True):
    lock, left, latencies = threading.Lock(), [n], []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port)
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            started = time.perf_counter()
            conn.request("POST", "/helpdesk/api/tickets/", body, headers)
            reply = conn.getresponse()
            reply.read()
            took = time.perf_counter() - started
            assert reply.status == 201, reply.status
            with lock:
                latencies.append(took)

    before, started = cpu(), time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, spent = time.perf_counter() - started, cpu() - before
    latencies.sort()
    if not report:
        return
    pct = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000
    print(f"{os.environ.get('PEER_DB', 'sqlite'):<9} {clients} client(s): CPU/ticket {spent / n * 1000:.2f} ms, "
          f"{n / wall:.1f}/s, p50 {pct(50):.1f} ms, p99 {pct(99):.1f} ms")


run(20, 1, report=False)  # warm-up: imports, connections
run(300, 1)
run(1000, 8)
