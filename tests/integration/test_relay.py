"""The raw TCP relay (--relay-listen): plain sockets speaking its line
protocol. The server says "hello <client-id>" first; "sub CH [since CURSOR]",
"unsub CH" and "ping [TOKEN]" lines are answered in order; messages arrive as
"msg CHANNEL ID LEN\\n" + LEN bytes + "\\n". Bad lines get "err ..." and the
connection goes on; a line over the limit gets a last "err" and the close.
"""
import json
import resource
import socket
import time

import pytest

from clients import Publisher, proc_status
from conftest import Server, free_port


class Relay:
    """One relay client on a blocking socket with a timeout."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        hello = self.line()
        assert hello.startswith("hello c"), hello
        self.client = hello.split()[1]

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("relay closed")
        self.buf += chunk

    def line(self):
        while b"\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def msg(self):
        """The next message: (channel, id, payload bytes)."""
        head = self.line()
        kind, ch, mid, n = head.split(" ")
        assert kind == "msg", head
        payload = self.take(int(n))
        assert self.take(1) == b"\n"
        return ch, mid, payload

    def cmd(self, line):
        """Sends one command line and returns the reply line."""
        self.send(line + "\n")
        return self.line()

    def closed(self):
        """True once the server has closed (after what it still had to say)."""
        try:
            while True:
                self._fill()
        except EOFError:
            return True

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def srv():
    rport = free_port()
    s = Server("--relay-listen", f"127.0.0.1:{rport}", "--history", "4", "--max-channels", "4")
    s.relay = rport
    yield s
    s.stop()


def test_hello_sub_and_messages_with_any_bytes(srv):
    r = Relay(srv.relay)
    assert r.cmd("sub news") == "ok sub news"
    payloads = [b"plain", b"two\nlines\n", b"\r\n\x00\xff binary", b"", b"msg fake 1-1 3\nabc"]
    with Publisher(srv.url) as pub:
        ids = [pub.publish("news", p)["id"] for p in payloads]
    got = [r.msg() for _ in payloads]
    assert got == [("news", i, p) for i, p in zip(ids, payloads)]
    assert r.cmd("ping done") == "pong done"
    r.close()


def test_unsub_stops_delivery_and_ping_orders_replies(srv):
    r = Relay(srv.relay)
    assert r.cmd("sub a1") == "ok sub a1"
    assert r.cmd("SUB\tb1") == "ok sub b1"
    assert r.cmd("unsub a1") == "ok unsub a1"
    with Publisher(srv.url) as pub:
        assert pub.publish("a1", "not for r")["subscribers"] == 0
        bid = pub.publish("b1", "for r")["id"]
    assert r.msg() == ("b1", bid, b"for r")
    assert r.cmd("ping") == "pong"
    r.close()


def test_bad_lines_get_err_and_the_connection_goes_on(srv):
    r = Relay(srv.relay)
    bad = ["bogus", "sub", "sub a b", "sub bad/name", "sub ok since nonsense", "unsub never-subscribed",
           "ping a b", "sub caf\u00e9", "unsub", "\x1b[2J"]
    for line in bad:
        reply = r.cmd(line)
        assert reply.startswith("err "), (line, reply)
    assert r.cmd("sub dup") == "ok sub dup"
    assert r.cmd("sub dup").startswith("err ")
    # --max-channels 4: the fifth channel is refused, the four stay.
    for ch in ("m2", "m3", "m4"):
        assert r.cmd(f"sub {ch}") == f"ok sub {ch}"
    assert "too many channels" in r.cmd("sub m5")
    # Empty lines are ignored: the next reply is the pong's.
    assert r.cmd("\n \r\nping still-here") == "pong still-here"
    with Publisher(srv.url) as pub:
        mid = pub.publish("m4", "x")["id"]
    assert r.msg() == ("m4", mid, b"x")
    r.close()


def test_line_too_long_gets_a_last_err_then_close(srv):
    r = Relay(srv.relay)
    assert r.cmd("sub fine") == "ok sub fine"
    r.send("sub " + "x" * 5000 + "\n")
    assert r.line().startswith("err line too long")
    assert r.closed()
    r.close()
    # A long line without any newline, sent in pieces, is cut off the same way.
    r = Relay(srv.relay)
    for _ in range(4):
        r.send("y" * 400)
    assert r.line().startswith("err line too long")
    assert r.closed()
    r.close()
    with Publisher(srv.url) as pub:
        assert pub.publish("fine", "nobody left")["subscribers"] == 0


def test_sub_since_resumes_and_tells_gaps(srv):
    with Publisher(srv.url) as pub:
        ids = pub.publish_many("hist", [f"m{i}" for i in range(6)])
    # --history 4: m2..m5 are retained.
    r = Relay(srv.relay)
    assert r.cmd(f"sub hist since {ids[3]}") == "ok sub hist"
    assert [r.msg() for _ in range(2)] == [("hist", ids[4], b"m4"), ("hist", ids[5], b"m5")]
    assert r.cmd("unsub hist") == "ok unsub hist"
    # From m0: m1 is lost to retention -> told with the cursor it resumed from, then m2..m5.
    assert r.cmd(f"sub hist since {ids[0]}") == "ok sub hist"
    assert r.line() == f"gap hist {ids[0]}"
    assert [r.msg()[2] for _ in range(4)] == [b"m2", b"m3", b"m4", b"m5"]
    assert r.cmd("unsub hist") == "ok unsub hist"
    assert r.cmd("sub hist since all") == "ok sub hist"
    assert [r.msg()[2] for _ in range(4)] == [b"m2", b"m3", b"m4", b"m5"]
    with Publisher(srv.url) as pub:
        live = pub.publish("hist", "live")["id"]
    assert r.msg() == ("hist", live, b"live")
    r.close()


def test_deleted_channel_is_told_and_the_connection_stays(srv):
    r = Relay(srv.relay)
    assert r.cmd("sub doomed") == "ok sub doomed"
    assert r.cmd("sub keeper") == "ok sub keeper"
    with Publisher(srv.url) as pub:
        status, _, body = pub.request("DELETE", "/pub/doomed")
        assert status == 200 and json.loads(body)["subscribers"] == 1
        assert r.line() == "gone doomed"
        kid = pub.publish("keeper", "k")["id"]
        assert r.msg() == ("keeper", kid, b"k")
        # It can join the channel again.
        assert r.cmd("sub doomed") == "ok sub doomed"
        did = pub.publish("doomed", "back")["id"]
    assert r.msg() == ("doomed", did, b"back")
    r.close()


def test_addressed_to_a_relay_client(srv):
    r = Relay(srv.relay)
    other = Relay(srv.relay)
    assert r.client != other.client
    with Publisher(srv.url) as pub:
        status, _, body = pub.request("GET", f"/pub/@{r.client}")
        assert status == 200 and json.loads(body) == {"client": r.client, "transport": "relay", "channels": []}
        ans = pub.publish(f"@{r.client}", "only you\n")
        assert r.msg() == (f"@{r.client}", ans["id"], b"only you\n")
        assert other.cmd("ping") == "pong"  # got nothing before its pong
        r.close()
        deadline = time.monotonic() + 10
        while pub.request("GET", f"/pub/@{r.client}")[0] != 404:
            assert time.monotonic() < deadline, "relay client still registered after closing"
            time.sleep(0.02)
        assert pub.request("POST", f"/pub/@{r.client}", b"late")[0] == 404
    other.close()


def test_half_closed_client_gets_its_answers(srv):
    r = Relay(srv.relay)
    r.send("sub half\nping bye\n")
    r.sock.shutdown(socket.SHUT_WR)
    assert r.line() == "ok sub half"
    assert r.line() == "pong bye"
    assert r.closed()
    r.close()


def test_relay_off_by_default_and_in_help(make_server):
    s = make_server()
    assert "relay" not in s.log()
    import subprocess
    from conftest import CRIER
    out = subprocess.run([CRIER, "serve", "--help"], capture_output=True, text=True).stdout
    assert "--relay-listen HOST:PORT" in out
    bad = subprocess.run([CRIER, "serve", "--relay-listen", "nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--relay-listen" in bad.stderr


def test_relay_client_that_does_not_read_is_cut_off(make_server):
    rport = free_port()
    s = make_server("--relay-listen", f"127.0.0.1:{rport}", "--history", "2", "--queue-hard", "256k",
                    "--queue-soft", "128k", "--queue-soft-time", "1s")
    sleeper = socket.socket()
    sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sleeper.connect(("127.0.0.1", rport))
    sleeper.sendall(b"sub firehose\n")
    healthy = Relay(rport)
    assert healthy.cmd("sub firehose") == "ok sub firehose"
    # The sleeper's "ok" comes before the healthy client's, so it is subscribed by now.
    payload = b"z" * 65536
    got = 0
    with Publisher(s.url) as pub:
        for i in range(200):
            pub.publish("firehose", payload)
            # The healthy client keeps up (so only the sleeper is over its queue limit).
            assert healthy.msg()[2] == payload
            got += 1
        deadline = time.monotonic() + 20
        while json.loads(pub.request("GET", "/pub/firehose")[2])["subscribers"] != 1:
            assert time.monotonic() < deadline, "the sleeping relay client was never cut off"
            pub.publish("firehose", payload)
            assert healthy.msg()[2] == payload
            got += 1
    assert "cut off" in s.log()
    assert healthy.cmd("ping") == "pong"
    sleeper.close()
    healthy.close()


def test_relay_connection_limit(make_server):
    rport = free_port()
    s = make_server("--relay-listen", f"127.0.0.1:{rport}", "--max-conns", "3")
    pub = Publisher(s.url)
    # The start-up probes must be gone: then this publisher is the one connection open.
    deadline = time.monotonic() + 10
    while json.loads(pub.request("GET", "/health")[2])["connections"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    a = Relay(rport)
    b = Relay(rport)
    c = socket.create_connection(("127.0.0.1", rport), timeout=10)
    data = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    assert data == b"err too many connections\n"
    c.close()
    assert a.cmd("ping") == "pong" and b.cmd("ping") == "pong"
    a.close()
    b.close()
    pub.close()


def test_thousands_of_idle_relay_clients(srv):
    n = 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 500), hard))
    pid = srv.proc.pid
    before = proc_status(pid)["VmRSS"]
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", srv.relay), timeout=20)
            s.sendall(b"sub crowd\n")
            socks.append(s)
        # Each has its hello and its ok: all are subscribed.
        for s in socks:
            buf = b""
            while buf.count(b"\n") < 2:
                chunk = s.recv(4096)
                assert chunk
                buf += chunk
            assert buf.startswith(b"hello c") and buf.endswith(b"ok sub crowd\n")
        after = proc_status(pid)["VmRSS"]
        per = (after - before) * 1024 / n
        print(f"\nrelay: {n} idle clients subscribed, server RSS {before} -> {after} KiB, "
              f"{per:.0f} bytes per client")
        assert per < 8 * 1024, per
        with Publisher(srv.url) as pub:
            ans = pub.publish("crowd", "to all")
        assert ans["subscribers"] == n
        want = f"msg crowd {ans['id']} 6\nto all\n".encode()
        for s in socks:
            buf = b""
            while len(buf) < len(want):
                chunk = s.recv(4096)
                assert chunk
                buf += chunk
            assert buf == want
    finally:
        for s in socks:
            s.close()
    with Publisher(srv.url) as pub:
        deadline = time.monotonic() + 20
        while True:
            status, _, body = pub.request("GET", "/pub/crowd")
            if json.loads(body)["subscribers"] == 0:
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
