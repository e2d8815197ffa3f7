"""Hostile clients (DESIGN.md section 8): each attack in its own test, against a
crier of its own. During every attack a separate connection keeps asking
/health (it must answer each time), and the server's memory (VmRSS) is sampled;
after the attack the RSS must come back near where it was (within
max(8 MiB, 20%); against an AddressSanitizer build, within max(64 MiB, 50%),
with its quarantine made small for these servers), and where the attack opened
connections the server's open descriptors return to what they were.

Attacks: slowloris (headers a byte at a time), trickled bodies (Content-Length
and chunked), oversized heads (431) and bodies (413), a pipelining flood, a
client that pipelines but never reads its answers, SSE subscribers that never
read while a lot is published, half-closed sockets, resets (SO_LINGER 0)
mid-request and mid-stream, and 10,000 connects and disconnects in a burst
from several threads and source addresses.

Each test prints one line "HOSTILE <name>: RSS before/during/after ..." (see it with -s).
Run: CRIER_BIN=$PWD/build/crier /usr/bin/python3 -m pytest -q tests/integration/test_hostile.py
"""
import json
import os
import random
import re
import select
import socket
import struct
import threading
import time

import httpx
import pytest

from clients import assert_json_error, one_response, parse_complete_responses, read_until_closed
from conftest import sanitized_build

HOST = "127.0.0.1"
MiB = 1024 * 1024


# --- measuring the server ------------------------------------------------------------------------------


SANITIZED = sanitized_build()


@pytest.fixture(autouse=True)
def small_asan_quarantine(monkeypatch):
    """Against an AddressSanitizer build, the servers of these tests keep at most
    1 MiB of freed memory in quarantine (the default, 256 MiB, would hide whether
    memory comes back), and give freed pages back to the system at once."""
    if SANITIZED:
        opts = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
        monkeypatch.setenv("ASAN_OPTIONS", opts + ":quarantine_size_mb=1:thread_local_quarantine_size_kb=64"
                                                  ":allocator_release_to_os_interval_ms=200")


def rss(pid):
    """VmRSS of pid, bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_allowed(before):
    if SANITIZED:
        return before + max(64 * MiB, before // 2)
    return before + max(8 * MiB, before // 5)


def wait_for(pred, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


class Probe:
    """While an attack runs: GET /health on a new connection every `interval`,
    each answer within `timeout`; and the server's RSS sampled at the same pace."""

    def __init__(self, srv, interval=0.1, timeout=5.0):
        self.srv = srv
        self.interval = interval
        self.timeout = timeout
        self.ok = 0
        self.failures = []
        self.max_rss = 0
        self.max_latency = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _once(self):
        t = time.monotonic()
        s = socket.create_connection((HOST, self.srv.port), timeout=self.timeout)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            out, _ = read_until_closed(s, self.timeout)
        finally:
            s.close()
        if not out.startswith(b"HTTP/1.1 200") or b'"status":"ok"' not in out:
            raise AssertionError(f"/health answered {out[:200]!r}")
        self.max_latency = max(self.max_latency, time.monotonic() - t)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.max_rss = max(self.max_rss, rss(self.srv.proc.pid))
            except OSError:
                pass
            try:
                self._once()
                self.ok += 1
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                self.failures.append(f"{time.strftime('%H:%M:%S')} {e!r}")
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        # At least two probes, however short the attack was.
        wait_for(lambda: self.ok + len(self.failures) >= 2, 2 * self.timeout)
        self._stop.set()
        self._thread.join(timeout=self.timeout + 2)


def publish_many(port, channel, bodies, batch=100):
    """Publishes bodies in order on one keep-alive connection, pipelined in
    batches; returns the ids. (Raw, because a client that writes head and body
    in two sends can meet delayed ACKs and take 40 ms a request.)"""
    s = connect(port, timeout=30)
    ids = []
    try:
        for k in range(0, len(bodies), batch):
            part = bodies[k:k + batch]
            s.sendall(b"".join(b"POST /pub/%s HTTP/1.1\r\nHost: p\r\nContent-Length: %d\r\n\r\n%s"
                               % (channel.encode(), len(b), b) for b in part))
            buf, got = b"", []
            while len(got) < len(part):
                chunk = s.recv(1 << 20)
                assert chunk, "connection closed while publishing"
                buf += chunk
                rs, buf = parse_complete_responses(buf)
                got += rs
            for r in got:
                assert r.status == 201, r.body
                ids.append(r.json()["id"])
    finally:
        s.close()
    return ids


def warm_up(srv):
    """A few ordinary requests so that the allocator's arenas exist before the baseline."""
    publish_many(srv.port, "warmup", [b"w" * 100] * 50)
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        for i in range(20):
            assert c.get("/health").status_code == 200
        assert c.get("/sub/warmup", params={"transport": "poll", "since": "all"}).status_code == 200
        assert c.delete("/pub/warmup").status_code == 200


class Attack:
    """Baseline before, the probe during, the checks after."""

    def __init__(self, srv, name, check_fds=True, probe_interval=0.1):
        self.srv = srv
        self.name = name
        self.check_fds = check_fds
        warm_up(srv)
        time.sleep(0.2)
        self.rss_before = rss(srv.proc.pid)
        self.fds_before = fds(srv.proc.pid)
        self.probe = Probe(srv, probe_interval)

    def __enter__(self):
        self.probe.__enter__()
        return self

    def __exit__(self, *exc):
        self.probe.__exit__(*exc)
        if exc[0] is not None:
            return False
        self.finish()
        return False

    def finish(self):
        srv, pid = self.srv, self.srv.proc.pid
        assert srv.alive(), f"crier died during {self.name}:\n" + srv.log()[-4000:]
        p = self.probe
        assert p.ok >= 2 and not p.failures, \
            f"{self.name}: /health failed during the attack ({p.ok} ok): {p.failures[:5]}"
        limit = rss_allowed(self.rss_before)
        after = wait_for(lambda: rss(pid) if rss(pid) <= limit else 0, 10) or rss(pid)
        fds_after = wait_for(lambda: fds(pid) if fds(pid) <= self.fds_before else 0, 15) or fds(pid)
        print(f"HOSTILE {self.name}: RSS before {self.rss_before / MiB:.1f} MiB, during (max) "
              f"{max(p.max_rss, after) / MiB:.1f} MiB, after {after / MiB:.1f} MiB; fds before {self.fds_before}, "
              f"after {fds_after}; /health ok {p.ok} times, slowest {p.max_latency * 1000:.0f} ms")
        assert after <= limit, (f"{self.name}: RSS {after / MiB:.1f} MiB after the attack, "
                                f"{self.rss_before / MiB:.1f} MiB before (allowed {limit / MiB:.1f} MiB)")
        if self.check_fds:
            assert fds_after <= self.fds_before, \
                f"{self.name}: {fds_after} fds open after the attack, {self.fds_before} before"
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            h = c.get("/health").json()
        assert h["status"] == "ok"


# --- raw HTTP helpers ------------------------------------------------------------------------------------


def connect(port, src=None, timeout=10.0, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((HOST, port))
    return s


def reset(s):
    """Close with a TCP reset (SO_LINGER 0)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def channel_messages(srv, ch):
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.get(f"/pub/{ch}")
    return 0 if r.status_code == 404 else r.json()["messages"]


def run_threads(n, target, *args):
    errors = []

    def wrap(i):
        try:
            target(i, *args)
        except Exception as e:  # noqa: BLE001
            errors.append(f"thread {i}: {e!r}")

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]


# --- slow clients ----------------------------------------------------------------------------------------


def trickle(port, n, first, drip, header_timeout, duration):
    """n connections send `first`, then one byte of `drip` per connection every
    0.25 s, round-robin, reading whatever comes back. Returns per connection
    (answer bytes, seconds from connect to the server's close or None)."""
    socks = []
    for _ in range(n):
        s = connect(port)
        s.sendall(first)
        s.setblocking(False)
        socks.append(s)
    t0 = time.monotonic()
    opened = [t0] * n
    got = [b""] * n
    closed = [None] * n
    pos = [0] * n
    next_drip = t0
    while time.monotonic() - t0 < duration and None in closed:
        now = time.monotonic()
        if now >= next_drip:
            for i, s in enumerate(socks):
                if closed[i] is None:
                    try:
                        s.send(drip[pos[i] % len(drip):pos[i] % len(drip) + 1])
                        pos[i] += 1
                    except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                        pass
            next_drip = now + 0.25
        live = [s for i, s in enumerate(socks) if closed[i] is None]
        r, _, _ = select.select(live, [], [], 0.05)
        for s in r:
            i = socks.index(s)
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            except BlockingIOError:
                continue
            if chunk:
                got[i] += chunk
            else:
                closed[i] = time.monotonic() - opened[i]
    for s in socks:
        reset(s)
    return list(zip(got, closed, pos))


def test_slowloris(make_server):
    """200 connections send a request head a byte at a time (a header line that
    never ends). With --header-timeout 2s each gets 408 and is closed within the
    timeout (plus the 100 ms sweep and some slack) though it keeps trickling."""
    srv = make_server("--header-timeout", "2s", "--log-level", "warn")
    with Attack(srv, "slowloris"):
        res = trickle(srv.port, 200, b"GET /health HTTP/1.1\r\nHost: slow\r\n",
                      b"X-Slowloris: " + b"a" * 200, 2.0, 12)
    late = [(i, c) for i, (g, c, _) in enumerate(res) if c is None or c > 5.0]
    assert not late, f"connections not closed within 5 s: {late[:10]}"
    for got, closed, sent in res:
        assert_json_error(got, 408)
        assert sent >= 2  # it really trickled
    assert all(c >= 1.5 for _, c, _ in res), "closed before the header timeout"


def test_trickled_bodies(make_server):
    """100 publishes whose heads are complete but whose bodies come a byte at a
    time (half with Content-Length, half chunked): 408 within the timeout,
    nothing published."""
    srv = make_server("--header-timeout", "2s", "--log-level", "warn")
    with Attack(srv, "trickled bodies"):
        res_cl = trickle(srv.port, 50, b"POST /pub/trickle HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n",
                         b"b" * 1000, 2.0, 12)
        res_ch = trickle(srv.port, 50, b"POST /pub/trickle HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
                         b"1\r\nx\r\n" * 200, 2.0, 12)
    for got, closed, sent in res_cl + res_ch:
        assert closed is not None and 1.5 <= closed <= 5.0, closed
        assert_json_error(got, 408)
    assert channel_messages(srv, "trickle") == 0


# --- oversized -----------------------------------------------------------------------------------------------


def test_oversized_heads(make_server):
    """With --max-head 8k: heads of 64 KiB in one send, heads that keep growing
    (1 MiB sent as fast as the server takes it), and heads with 100 headers all
    get 431 with a JSON error and a close; 4 threads at once, 300 requests."""
    srv = make_server("--max-head", "8k", "--log-level", "warn")

    def one(i, kind):
        s = connect(srv.port)
        try:
            if kind == "big-line":
                s.sendall(b"GET /health HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
            elif kind == "many":
                s.sendall(b"GET /health HTTP/1.1\r\nHost: h\r\n" +
                          b"".join(b"X-H%d: v\r\n" % k for k in range(100)) + b"\r\n")
            else:
                try:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: h\r\n")
                    for _ in range(256):
                        s.sendall(b"X-Grow: " + b"g" * 4086 + b"\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
            data, _ = read_until_closed(s, 10)
        finally:
            s.close()
        assert_json_error(data, 431)

    def worker(t):
        for i in range(75):
            one(i, ("big-line", "many", "growing")[(i + t) % 3])

    with Attack(srv, "oversized heads"):
        run_threads(4, worker)


def test_oversized_bodies(make_server):
    """With --max-body 64k: a Content-Length of 10 GB (413 before any body), a
    1 MiB body sent whole without waiting (413, the rest drained, no reset), and
    a chunked body of 2 MiB (413); 4 threads, 120 requests; nothing published."""
    srv = make_server("--max-body", "64k", "--log-level", "warn")

    def one(i, kind):
        s = connect(srv.port)
        try:
            try:
                if kind == "huge-length":
                    s.sendall(b"POST /pub/big HTTP/1.1\r\nHost: b\r\nContent-Length: 10000000000\r\n\r\n")
                elif kind == "sent-body":
                    s.sendall(b"POST /pub/big HTTP/1.1\r\nHost: b\r\nContent-Length: 1048576\r\n\r\n" + b"x" * MiB)
                else:
                    s.sendall(b"POST /pub/big HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n")
                    for _ in range(32):
                        s.sendall(b"10000\r\n" + b"c" * 65536 + b"\r\n")
                    s.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            data, _ = read_until_closed(s, 10)
        finally:
            s.close()
        assert_json_error(data, 413)

    def worker(t):
        for i in range(30):
            one(i, ("huge-length", "sent-body", "chunked")[(i + t) % 3])

    with Attack(srv, "oversized bodies"):
        run_threads(4, worker)
    assert channel_messages(srv, "big") == 0


# --- pipelining --------------------------------------------------------------------------------------------------


def test_pipelining_flood(make_server):
    """5,000 GET /health and then 3,000 publishes, each batch in one send on one
    connection: every answer comes, in order; the 3,000 messages are stored in
    order."""
    srv = make_server("--history", "10000", "--log-level", "warn")
    with Attack(srv, "pipelining flood"):
        s = connect(srv.port, timeout=30)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: p\r\n\r\n" * 5000)
            buf, got = b"", []
            deadline = time.monotonic() + 30
            while len(got) < 5000 and time.monotonic() < deadline:
                buf += s.recv(1 << 20)
                rs, buf = parse_complete_responses(buf)
                got += rs
            assert len(got) == 5000 and all(r.status == 200 for r in got), len(got)
            s.sendall(b"".join(b"POST /pub/flood HTTP/1.1\r\nHost: p\r\nContent-Length: %d\r\n\r\n%d"
                               % (len(str(i)), i) for i in range(3000)))
            buf, got = b"", []
            while len(got) < 3000 and time.monotonic() < deadline:
                buf += s.recv(1 << 20)
                rs, buf = parse_complete_responses(buf)
                got += rs
        finally:
            s.close()
        assert len(got) == 3000 and all(r.status == 201 for r in got), len(got)
        ids = [r.json()["id"] for r in got]
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            msgs = c.get("/sub/flood", params={"transport": "poll", "since": "all"}).json()
        assert [m["data"] for m in msgs] == [str(i) for i in range(3000)]
        assert [m["id"] for m in msgs] == ids


def test_pipelining_client_that_never_reads_is_cut_off(make_server):
    """A client pipelines GET /metrics (about 1.3 KB of answer for 37 bytes of
    request) with a 4 KiB receive buffer and never reads. With --queue-hard 1m
    the server must cut it off (close the connection) before its memory grows
    by much more than the queue limit. The client stops on its own when it has
    sent 16 MB or when the server's RSS has grown by 160 MiB."""
    srv = make_server("--queue-hard", "1m", "--queue-soft", "256k", "--queue-soft-time", "1s",
                      "--log-level", "warn")
    pid = srv.proc.pid
    cut_off = False
    with Attack(srv, "pipelining, never reading") as a:
        s = connect(srv.port, rcvbuf=4096, timeout=5)
        batch = b"GET /metrics HTTP/1.1\r\nHost: n\r\n\r\n" * 1000
        sent = 0
        try:
            while sent < 16 * MiB and rss(pid) < a.rss_before + 160 * MiB:
                s.sendall(batch)
                sent += len(batch)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            cut_off = True
        peak = rss(pid)
        reset(s)
        grown = (peak - a.rss_before) / MiB
        # Checked before the attack's own checks, so that this is what fails while the bug lasts.
        assert cut_off, f"never cut off: sent {sent / MiB:.1f} MiB of requests, server RSS grew by {grown:.0f} MiB"
        assert grown < 32, f"server RSS grew by {grown:.0f} MiB before the cut"


# --- subscribers that never read ----------------------------------------------------------------------------------


def test_sse_subscribers_that_never_read_are_cut_off(make_server):
    """20 SSE subscribers with a 4 KiB receive buffer never read while 12 MB is
    published to their channel (the history keeps only the last 100); one
    subscriber reads. With --queue-hard 1m the 20 are cut off (the log says so),
    the reader gets every message in order, and memory and descriptors come back."""
    # The memory store: what is measured is the output queues' bound, not the durable
    # store's page cache (which grows, bounded, with what is published).
    srv = make_server("--memory", "--queue-hard", "1m", "--queue-soft", "256k", "--queue-soft-time", "1s",
                      "--history", "100", "--log-level", "info")
    n_msgs, size = 6000, 2048
    with Attack(srv, "SSE never reading") as a:
        sleepers = []
        for _ in range(20):
            s = connect(srv.port, rcvbuf=4096)
            s.sendall(b"GET /sub/firehose HTTP/1.1\r\nHost: s\r\nAccept: text/event-stream\r\n\r\n")
            sleepers.append(s)
        reader = connect(srv.port, timeout=30)
        reader.sendall(b"GET /sub/firehose HTTP/1.1\r\nHost: s\r\nAccept: text/event-stream\r\n\r\n")
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            assert wait_for(lambda: c.get("/pub/firehose").json()["subscribers"] == 21, 5)
        received = []

        def read_stream():
            buf = b""
            deadline = time.monotonic() + 60
            while len(received) < n_msgs and time.monotonic() < deadline:
                chunk = reader.recv(1 << 20)
                if not chunk:
                    break
                buf += chunk
                *blocks, buf = buf.split(b"\n\n")
                for b in blocks:
                    if b.startswith(b"event: crier-hello"):
                        continue  # the client id, told first
                    for line in b.split(b"\n"):
                        if line.startswith(b"data: "):
                            received.append(int(line[6:].split(b" ")[0]))

        t = threading.Thread(target=read_stream)
        t.start()
        pub = connect(srv.port, timeout=30)
        pad = b" " + b"p" * (size - 10)
        for k in range(0, n_msgs, 100):
            pub.sendall(b"".join(b"POST /pub/firehose HTTP/1.1\r\nHost: s\r\nContent-Length: %d\r\n\r\n%d%s"
                                 % (len(b"%d" % i) + len(pad), i, pad) for i in range(k, k + 100)))
            buf, got = b"", 0
            while got < 100:
                buf += pub.recv(1 << 20)
                rs, buf = parse_complete_responses(buf)
                assert all(r.status == 201 for r in rs)
                got += len(rs)
        pub.close()
        t.join(70)
        reader.close()
        during = rss(srv.proc.pid)
        cut = wait_for(lambda: srv.log().count("cut off") >= 20, 15)
        for s in sleepers:
            reset(s)
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            assert wait_for(lambda: c.get("/pub/firehose").json()["subscribers"] == 0, 5)
    assert received == list(range(n_msgs)), f"reader got {len(received)} of {n_msgs}"
    assert cut, f"{srv.log().count('cut off')} of 20 cut off"
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        metrics = c.get("/metrics").text
    assert re.search(r"^crier_slow_subscribers_total 20$", metrics, re.M), metrics
    assert during - a.rss_before < 20 * 2 * MiB + 32 * MiB


# --- half-closed sockets -------------------------------------------------------------------------------------------


def half_close(port, data, timeout=10.0):
    s = connect(port, timeout=timeout)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return read_until_closed(s, timeout)[0]
    finally:
        s.close()


def test_half_closed_sockets(make_server):
    """A client sends its request(s) and at once shuts down its sending side
    (shutdown(SHUT_WR)): the answers still arrive whole, then the close. Health,
    a publish, 100 pipelined requests, a poll whose answer is 2 MB (many writes
    after the client's FIN), and a long poll with a message waiting; 20 rounds."""
    srv = make_server("--history", "5000", "--log-level", "warn")
    publish_many(srv.port, "half-big", [(b"%04d" % i) + b"h" * 1020 for i in range(2000)])
    with Attack(srv, "half-closed sockets"):
        for rnd in range(20):
            r = one_response(half_close(srv.port, b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n"))
            assert r.status == 200 and r.json()["status"] == "ok"
            r = one_response(half_close(
                srv.port, b"POST /pub/half HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nhalf%02d" % rnd))
            assert r.status == 201, r.body
            rs, rest = parse_complete_responses(
                half_close(srv.port, b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n" * 100))
            assert [r.status for r in rs] == [200] * 100 and rest == b""
            r = one_response(half_close(
                srv.port, b"GET /sub/half-big?transport=poll&since=all HTTP/1.1\r\nHost: h\r\n\r\n"))
            assert r.status == 200 and len(r.body) == int(r.header("content-length"))
            msgs = r.json()
            assert [m["data"][:4] for m in msgs] == ["%04d" % i for i in range(2000)]
            r = one_response(half_close(
                srv.port, b"GET /sub/half?since=all HTTP/1.1\r\nHost: h\r\n\r\n"))
            assert r.status == 200 and r.body == b"half00", (r.status, r.body)
    assert channel_messages(srv, "half") == 20


# --- resets ------------------------------------------------------------------------------------------------


def test_abrupt_resets(make_server):
    """Clients that vanish with a reset (SO_LINGER 0) mid-head, mid-body, while a
    long poll is held, mid-stream (SSE and NDJSON, while messages are published)
    and mid-response (a pipelined batch half read): 4 threads, 600 resets. After:
    no subscriber left on the channel, descriptors and memory back, and a new
    subscriber gets every message published in order."""
    srv = make_server("--history", "100000", "--hold", "5s", "--log-level", "warn")
    stop = threading.Event()
    published = []

    def publisher():
        s = connect(srv.port, timeout=10)
        i = 0
        buf = b""
        while not stop.is_set():
            body = b"%d" % i
            s.sendall(b"POST /pub/rst HTTP/1.1\r\nHost: r\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            rs = []
            while not rs:
                buf += s.recv(65536)
                rs, buf = parse_complete_responses(buf)
            assert rs[0].status == 201
            published.append(i)
            i += 1
            time.sleep(0.002)
        s.close()

    def one(kind, rng):
        s = connect(srv.port, timeout=10)
        if kind == "mid-head":
            s.sendall(b"GET /sub/rst HTTP/1.1\r\nHost: r\r\nAcc")
        elif kind == "mid-body":
            s.sendall(b"POST /pub/rst-body HTTP/1.1\r\nHost: r\r\nContent-Length: 10000\r\n\r\n" + b"x" * 100)
        elif kind == "held-long-poll":
            s.sendall(b"GET /sub/rst-quiet HTTP/1.1\r\nHost: r\r\n\r\n")
        elif kind == "sse":
            s.sendall(b"GET /sub/rst?since=all HTTP/1.1\r\nHost: r\r\nAccept: text/event-stream\r\n\r\n")
            s.recv(rng.randint(1, 20000))
        elif kind == "ndjson":
            s.sendall(b"GET /sub/rst?since=all HTTP/1.1\r\nHost: r\r\nAccept: application/x-ndjson\r\n\r\n")
            s.recv(rng.randint(1, 20000))
        elif kind == "mid-response":
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: r\r\n\r\n" * 300)
            s.recv(rng.randint(1, 5000))
        time.sleep(rng.uniform(0, 0.02))
        reset(s)

    kinds = ["mid-head", "mid-body", "held-long-poll", "sse", "ndjson", "mid-response"]

    def worker(t):
        rng = random.Random(t)
        for i in range(150):
            one(kinds[(i + t) % len(kinds)], rng)

    with Attack(srv, "abrupt resets"):
        pt = threading.Thread(target=publisher)
        pt.start()
        try:
            run_threads(4, worker)
        finally:
            stop.set()
            pt.join(10)
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            assert wait_for(lambda: c.get("/pub/rst").json()["subscribers"] == 0, 5), c.get("/pub/rst").json()
            assert wait_for(lambda: c.get("/pub/rst-quiet").json()["subscribers"] == 0, 5)
            msgs = c.get("/sub/rst", params={"transport": "poll", "since": "all"}).json()
    assert len(published) > 100
    assert [int(m["data"]) for m in msgs] == published
    assert channel_messages(srv, "rst-body") == 0


# --- a burst of connections --------------------------------------------------------------------------------------


def test_connect_burst(make_server):
    """10,000 connections opened and closed in a burst by 10 threads, each from
    its own source addresses (127.0.0.2 .. 127.0.0.20), 50 open at a time per
    thread: some close at once, some reset, some send a request and read the
    answer, some send half a request and close. The server's descriptors and
    connection count return to the baseline."""
    srv = make_server("--log-level", "warn")
    n_threads, per_thread, wave = 10, 1000, 50
    answered = [0] * n_threads
    opened = [0] * n_threads

    def worker(t):
        rng = random.Random(t)
        srcs = [f"127.0.0.{2 + (t * 2 + k) % 19}" for k in range(2)]
        done = 0
        while done < per_thread:
            socks = []
            for k in range(wave):
                socks.append(connect(srv.port, src=srcs[k % 2], timeout=10))
                opened[t] += 1
            for s in socks:
                what = rng.random()
                if what < 0.25:
                    s.close()
                elif what < 0.5:
                    reset(s)
                elif what < 0.75:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                    assert one_response(read_until_closed(s, 10)[0]).status == 200
                    answered[t] += 1
                    s.close()
                else:
                    s.sendall(b"GET /health HTTP/1.1\r\nHo")
                    reset(s) if rng.random() < 0.5 else s.close()
            done += wave

    with Attack(srv, "10,000 connects", probe_interval=0.05):
        t0 = time.monotonic()
        run_threads(n_threads, worker)
        took = time.monotonic() - t0
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            conns = wait_for(lambda: c.get("/health").json()["connections"] <= 2, 10)
        assert conns, "connections did not return to the baseline"
    print(f"HOSTILE 10,000 connects took {took:.1f} s; {sum(answered)} answered")
    assert sum(opened) == n_threads * per_thread
    assert sum(answered) > 2000
