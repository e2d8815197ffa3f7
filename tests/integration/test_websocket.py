"""WebSocket (RFC 6455) subscribers: the handshake and its errors, delivery in order with
resume, text and binary frames, ping/pong both ways, the closing handshake, every malformed
input closed with its code while another subscriber keeps receiving, permessage-deflate,
publishing from a WebSocket client (--ws-publish) and channel deletion.

Clients: Python's `websockets` (Debian's python3-websockets) for what a real client does,
and a raw-socket client (below) for the frames no real client would send. Run with
/usr/bin/python3 -m pytest (the pyenv python on PATH cannot see the Debian packages).
"""
import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import zlib

import pytest
import websockets

from clients import Publisher

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RawWS:
    """A WebSocket client on a plain socket: it sends any frame, well-formed or not."""

    def __init__(self, port, path, headers=None, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {self.key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "server closed during the handshake"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        assert self.status == 101, head
        want = base64.b64encode(hashlib.sha1((self.key + GUID).encode()).digest()).decode()
        assert self.headers["sec-websocket-accept"] == want

    def send_frame(self, b0, payload=b"", masked=True, length=None):
        n = len(payload) if length is None else length
        m = 0x80 if masked else 0
        if n < 126:
            head = bytes([b0, m | n])
        elif n < 65536:
            head = bytes([b0, m | 126]) + struct.pack(">H", n)
        else:
            head = bytes([b0, m | 127]) + struct.pack(">Q", n)
        if masked:
            key = os.urandom(4)
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
            head += key
        self.sock.sendall(head + payload)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk

    def recv_frame(self):
        """(first byte, payload) of the next server frame; server frames are never masked."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "a server frame was masked"
        n, pos = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, pos = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, pos = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(pos + n)
        payload, self.buf = self.buf[pos:pos + n], self.buf[pos + n:]
        return b0, payload

    def recv_json(self):
        b0, payload = self.recv_frame()
        assert b0 == 0x81, (b0, payload)
        return json.loads(payload)

    def recv_until_close(self):
        """Reads frames up to the server's close frame; returns (code, reason, frames before it)."""
        before = []
        while True:
            b0, payload = self.recv_frame()
            if b0 & 0x0F == 0x8:
                assert b0 == 0x88
                if not payload:
                    return 1005, "", before
                return struct.unpack(">H", payload[:2])[0], payload[2:].decode(), before
            before.append((b0, payload))

    def wait_eof(self):
        """Returns once the server has closed the TCP connection (data before it is dropped)."""
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            pass

    def close(self):
        self.sock.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def ws_url(srv, path):
    return srv.url.replace("http://", "ws://") + path


@pytest.fixture(scope="module")
def srv():
    from conftest import Server
    s = Server("--memory", "--ws-publish", "--ws-max-message", "4k", "--max-body", "2k",
               "--ws-origin", "https://app.example, http://localhost:3000")
    yield s
    s.stop()


# --- handshake -----------------------------------------------------------------------------------------


def raw_head(port, lines):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(("\r\n".join(["GET /sub/hs HTTP/1.1", f"Host: 127.0.0.1:{port}", *lines]) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    sock.close()
    return int(lines[0].split()[1]), hdrs, rest[:n]


UPGRADE = ["Upgrade: websocket", "Connection: Upgrade"]
KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="


def test_handshake_rfc_example_accept(srv):
    status, hdrs, _ = raw_head(srv.port, UPGRADE + [KEY, "Sec-WebSocket-Version: 13",
                                                    "Sec-WebSocket-Protocol: chat, crier"])
    assert status == 101
    assert hdrs["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert hdrs["upgrade"].lower() == "websocket" and hdrs["connection"].lower() == "upgrade"
    assert hdrs["sec-websocket-protocol"] == "crier"
    assert hdrs["x-crier-client"].startswith("c")


@pytest.mark.parametrize("lines,status,what", [
    (UPGRADE + [KEY], 426, "Sec-WebSocket-Version is missing"),
    (UPGRADE + [KEY, "Sec-WebSocket-Version: 8"], 426, "version 13"),
    (UPGRADE + ["Sec-WebSocket-Version: 13"], 400, "Sec-WebSocket-Key is missing"),
    (UPGRADE + ["Sec-WebSocket-Key: c2hvcnQ=", "Sec-WebSocket-Version: 13"], 400, "base64 of 16 bytes"),
    (["Upgrade: websocket", "Connection: keep-alive", KEY, "Sec-WebSocket-Version: 13"], 400, "upgrade token"),
    (UPGRADE + [KEY, "Sec-WebSocket-Version: 13", "Origin: https://evil.example"], 403, "Origin"),
])
def test_handshake_errors(srv, lines, status, what):
    got, hdrs, body = raw_head(srv.port, lines)
    assert got == status, body
    assert hdrs["content-type"] == "application/json"
    assert what in json.loads(body)["error"]
    if status == 426:
        assert hdrs["sec-websocket-version"] == "13"
        assert hdrs["upgrade"] == "websocket"
    # The server goes on serving.
    assert raw_head(srv.port, UPGRADE + [KEY, "Sec-WebSocket-Version: 13", "Origin: https://app.example"])[0] == 101


def test_handshake_bad_channel_is_http_error(srv):
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.sendall(("GET /sub/bad%20name HTTP/1.1\r\nHost: x\r\n" + "\r\n".join(UPGRADE) + f"\r\n{KEY}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    data = sock.recv(65536)
    sock.close()
    assert data.startswith(b"HTTP/1.1 400"), data
    assert b'"error"' in data


# --- delivery ------------------------------------------------------------------------------------------


def test_order_resume_text_binary_multiline(srv):
    async def main():
        pub = Publisher(srv.url)
        async with websockets.connect(ws_url(srv, "/sub/order")) as ws:
            hello = json.loads(await ws.recv())
            assert hello["event"] == "crier-hello" and hello["channels"] == ["order"]
            assert hello["client"].startswith("c")
            ids = [pub.publish("order", f"m{i}")["id"] for i in range(5)]
            assert [await ws.recv() for _ in range(5)] == [f"m{i}" for i in range(5)]
            # A payload that is not UTF-8 arrives as a binary frame, byte for byte; text with
            # every kind of line break arrives intact in one text frame.
            pub.publish("order", b"\xff\x00\x80bin", content_type="application/octet-stream")
            got = await ws.recv()
            assert isinstance(got, bytes) and got == b"\xff\x00\x80bin"
            pub.publish("order", "line1\nline2\r\nline3\rend \u20ac")
            got = await ws.recv()
            assert isinstance(got, str) and got == "line1\nline2\r\nline3\rend \u20ac"
        more = [pub.publish("order", f"late{i}")["id"] for i in range(3)]
        # Resume with ?since=<the 5th id>: the two after it, then the three published while away.
        async with websockets.connect(ws_url(srv, f"/sub/order?since={ids[4]}")) as ws:
            assert json.loads(await ws.recv())["event"] == "crier-hello"
            got = [await ws.recv() for _ in range(5)]
            assert got == [b"\xff\x00\x80bin", "line1\nline2\r\nline3\rend \u20ac", "late0", "late1", "late2"]
        # Resume with Last-Event-ID (a header, as EventSource sends it).
        async with websockets.connect(ws_url(srv, "/sub/order"), extra_headers={"Last-Event-ID": more[0]}) as ws:
            assert json.loads(await ws.recv())["cursor"] == more[0]
            assert [await ws.recv() for _ in range(2)] == ["late1", "late2"]
            pub.publish("order", "live")
            assert await ws.recv() == "live"
        pub.close()
    run(main())


def test_gap_notice(make_server):
    s = make_server("--memory", "--history", "2")
    pub = Publisher(s.url)
    ids = [pub.publish("gap", f"g{i}")["id"] for i in range(5)]
    ws = RawWS(s.port, f"/sub/gap?since={ids[0]}")
    assert ws.headers["x-crier-gap"] == "gap"
    assert ws.recv_json()["event"] == "crier-hello"
    gap = ws.recv_json()
    assert gap == {"event": "crier-gap", "channels": ["gap"], "cursor": ids[0]}
    assert [ws.recv_frame()[1] for _ in range(2)] == [b"g3", b"g4"]
    ws.close()
    pub.close()


# --- ping, pong, close ---------------------------------------------------------------------------------


def test_client_ping_and_close_handshake(srv):
    async def main():
        async with websockets.connect(ws_url(srv, "/sub/pp")) as ws:
            await ws.recv()
            pong = await ws.ping(b"are you there")
            await pong
            await ws.close(code=1000, reason="done")
            assert ws.close_code == 1000  # the server answered the close
        ws = RawWS(srv.port, "/sub/pp")
        ws.recv_json()
        ws.send_frame(0x89, b"raw ping")
        assert ws.recv_frame() == (0x8A, b"raw ping")
        ws.send_frame(0x88, struct.pack(">H", 4000) + b"bye now")
        code, reason, _ = ws.recv_until_close()
        assert (code, reason) == (4000, "bye now")
        ws.wait_eof()
        # A close with no status code is answered with none.
        ws = RawWS(srv.port, "/sub/pp")
        ws.recv_json()
        ws.send_frame(0x88, b"")
        assert ws.recv_until_close()[:2] == (1005, "")
        ws.wait_eof()
    run(main())


def test_server_pings_and_closes_a_silent_peer(make_server):
    s = make_server("--memory", "--ws-ping", "300ms")
    # A peer that never answers is closed when the next ping is due.
    silent = RawWS(s.port, "/sub/ping")
    silent.recv_json()
    code, reason, before = silent.recv_until_close()
    assert code == 1001 and "pong" in reason
    assert [b0 for b0, _ in before] == [0x89]
    silent.wait_eof()
    # One that answers stays: it sees ping after ping, then the next message.
    good = RawWS(s.port, "/sub/ping")
    good.recv_json()
    for _ in range(3):
        b0, payload = good.recv_frame()
        assert b0 == 0x89
        good.send_frame(0x8A, payload)
    Publisher(s.url).publish("ping", "still here")
    while True:
        b0, payload = good.recv_frame()
        if b0 == 0x89:
            good.send_frame(0x8A, payload)
            continue
        assert (b0, payload) == (0x81, b"still here")
        break
    good.close()
    # The python client answers pings by itself and stays connected.
    async def main():
        async with websockets.connect(ws_url(s, "/sub/ping")) as ws:
            await ws.recv()
            for i in range(3):
                await asyncio.sleep(0.3)
                Publisher(s.url).publish("ping", f"p{i}")
                assert await ws.recv() == f"p{i}"
    run(main())


# --- malformed input -----------------------------------------------------------------------------------


def bad_cases():
    big = b"x" * 126
    return [
        ("unmasked frame", [(0x81, b"hi", False)], 1002),
        ("reserved opcode", [(0x83, b"x", True)], 1002),
        ("reserved control opcode", [(0x8B, b"", True)], 1002),
        ("RSV1 without an extension", [(0xC1, b"x", True)], 1002),
        ("RSV2", [(0xA1, b"x", True)], 1002),
        ("fragmented control frame", [(0x09, b"p", True)], 1002),
        ("control frame over 125 bytes", [(0x89, big, True)], 1002),
        ("continuation without a message", [(0x80, b"x", True)], 1002),
        ("invalid UTF-8 text", [(0x81, b"ok\xc0\xaf", True)], 1007),
        ("invalid UTF-8 across fragments", [(0x01, b"\xe2\x82", True), (0x80, b"A", True)], 1007),
        ("close code 1005", [(0x88, struct.pack(">H", 1005), True)], 1002),
        ("close code 999", [(0x88, struct.pack(">H", 999), True)], 1002),
        ("close with 1 byte", [(0x88, b"\x03", True)], 1002),
        ("oversized message", [(0x82, b"y" * 5000, True)], 1009),
        ("oversized across fragments", [(0x02, b"y" * 3000, True), (0x80, b"y" * 3000, True)], 1009),
    ]


@pytest.mark.parametrize("name,frames,code", bad_cases(), ids=[c[0] for c in bad_cases()])
def test_malformed_input_closes_with_its_code(srv, name, frames, code):
    ch = "bad-" + "".join(c if c.isalnum() else "-" for c in name)
    good = RawWS(srv.port, f"/sub/{ch}")
    good.recv_json()
    bad = RawWS(srv.port, f"/sub/{ch}")
    bad.recv_json()
    for b0, payload, masked in frames:
        bad.send_frame(b0, payload, masked=masked)
    got, reason, _ = bad.recv_until_close()
    assert got == code, (name, got, reason)
    assert reason
    bad.wait_eof()
    bad.close()
    # The other subscriber of the channel keeps receiving.
    Publisher(srv.url).publish(ch, "after " + name)
    assert good.recv_frame() == (0x81, ("after " + name).encode())
    good.close()


def test_ping_flood_without_reading_is_cut_off(make_server):
    """A client that sends pings but never reads the pongs fills its output queue; it is cut
    off at the queue's hard cap, and the server goes on serving."""
    s = make_server("--memory", "--queue-hard", "64k", "--queue-soft", "16k")
    other = RawWS(s.port, "/sub/flood")
    other.recv_json()
    flood = RawWS(s.port, "/sub/flood")
    flood.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    flood.recv_json()
    mask = b"\x00\x00\x00\x00"
    ping = bytes([0x89, 0x80 | 125]) + mask + b"p" * 125
    # Pongs first fill the kernel's buffers (megabytes on loopback), then the server's queue.
    sent, cut = 0, False
    try:
        while sent < 64 << 20:
            flood.sock.sendall(ping * 1000)
            sent += len(ping) * 1000
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        cut = True
    assert cut, "the server never cut the flooding client off"
    flood.close()
    assert f"closed: WebSocket client sends without reading the answers" in s.log()
    Publisher(s.url).publish("flood", "others still served")
    assert other.recv_frame() == (0x81, b"others still served")
    other.close()


def test_frames_right_behind_the_handshake_and_in_tiny_pieces(srv):
    """Frames sent in the same packet as the upgrade request, and a frame sent one byte at a
    time, are both read."""
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    mask = b"\x01\x02\x03\x04"
    ping = bytes([0x89, 0x80 | 4]) + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(b"eager"[:4]))
    req = (f"GET /sub/eager HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    sock.sendall(req + ping)
    data = b""
    while data.count(b"\x8a\x04eage") == 0:
        chunk = sock.recv(65536)
        assert chunk
        data += chunk
    assert data.startswith(b"HTTP/1.1 101")
    ping2 = bytes([0x89, 0x80 | 3]) + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(b"one"))
    for i in range(len(ping2)):
        sock.sendall(ping2[i:i + 1])
    data = b""
    while b"\x8a\x03one" not in data:
        chunk = sock.recv(65536)
        assert chunk
        data += chunk
    sock.close()


# --- permessage-deflate --------------------------------------------------------------------------------


def test_permessage_deflate_with_the_python_client(srv):
    async def main():
        pub = Publisher(srv.url)
        async with websockets.connect(ws_url(srv, "/sub/zip")) as ws:  # offers permessage-deflate
            assert [e.name for e in ws.extensions] == ["permessage-deflate"]
            await ws.recv()
            big = ("crier compresses this line once for every subscriber\n" * 30).strip()
            pub.publish("zip", big)
            pub.publish("zip", "tiny")
            pub.publish("zip", b"\x00\xff" * 500, content_type="application/octet-stream")
            assert await ws.recv() == big
            assert await ws.recv() == "tiny"
            assert await ws.recv() == b"\x00\xff" * 500
            # The client's own messages are compressed too; the server inflates and publishes them.
            await ws.send("z" * 1500)
            assert await ws.recv() == "z" * 1500
        pub.close()
    run(main())


def test_permessage_deflate_frames_on_the_wire(srv):
    ws = RawWS(srv.port, "/sub/zipraw", headers={
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"})
    assert ws.headers["sec-websocket-extensions"] == "permessage-deflate; server_no_context_takeover"
    ws.recv_json()
    text = "a compressible message " * 40
    Publisher(srv.url).publish("zipraw", text)
    b0, payload = ws.recv_frame()
    assert b0 == 0xC1  # FIN + RSV1 + text
    assert len(payload) < len(text)
    assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff").decode() == text
    # A compressed client message that inflates past --ws-max-message (4k) is closed with 1009.
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = c.compress(b"q" * 100000) + c.flush(zlib.Z_SYNC_FLUSH)
    ws.send_frame(0xC1, bomb[:-4])
    assert ws.recv_until_close()[0] == 1009
    ws.wait_eof()


# --- publishing from a WebSocket -----------------------------------------------------------------------


def test_ws_publish_and_its_validation(srv):
    async def main():
        pub = Publisher(srv.url)
        async with websockets.connect(ws_url(srv, "/sub/talk")) as a, \
                websockets.connect(ws_url(srv, "/sub/talk"), compression=None) as b:
            await a.recv()
            await b.recv()
            await a.send("hello from a")
            assert await b.recv() == "hello from a"
            assert await a.recv() == "hello from a"  # a subscriber of the channel too
            await b.send(b"\x01\x02binary")
            assert await a.recv() == b"\x01\x02binary"
            assert await b.recv() == b"\x01\x02binary"
            # Over --max-body (2k) but under --ws-max-message (4k): refused like an HTTP publish,
            # and the connection stays.
            await a.send("x" * 3000)
            err = json.loads(await a.recv())
            assert err["event"] == "crier-error" and "size limit" in err["error"]
            await a.send("still fine")
            assert await a.recv() == "still fine"
            assert await b.recv() == "still fine"
        status, _, body = pub.request("GET", "/pub/talk")
        stats = json.loads(body)
        assert status == 200 and stats["messages"] == 3
        # HTTP GET /sub with ?since=all sees what WebSocket clients published, with content types.
        status, _, body = pub.request("GET", "/sub/talk?transport=poll&since=all")
        assert status == 200 and b"hello from a" in body and b"still fine" in body
        pub.close()
    run(main())


def test_ws_publish_off_by_default(make_server):
    s = make_server("--memory")
    async def main():
        async with websockets.connect(ws_url(s, "/sub/quiet")) as ws:
            await ws.recv()
            await ws.send("may I?")
            err = json.loads(await ws.recv())
            assert err["event"] == "crier-error" and "--ws-publish" in err["error"]
            # Nothing was published, and the connection goes on.
            Publisher(s.url).publish("quiet", "from http")
            assert await ws.recv() == "from http"
    run(main())


def test_channel_deleted_closes_1000(srv):
    async def main():
        async with websockets.connect(ws_url(srv, "/sub/doomed")) as ws:
            await ws.recv()
            pub = Publisher(srv.url)
            status, _, _ = pub.request("DELETE", "/pub/doomed")
            assert status == 200
            with pytest.raises(websockets.ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1000 and ws.close_reason == "channel deleted: doomed"
            pub.close()
    run(main())


def test_multi_channel_subscription(srv):
    async def main():
        pub = Publisher(srv.url)
        async with websockets.connect(ws_url(srv, "/sub/mc1,mc2")) as ws:
            hello = json.loads(await ws.recv())
            assert hello["channels"] == ["mc1", "mc2"] and "," in hello["cursor"]
            pub.publish("mc2", "two")
            pub.publish("mc1", "one")
            assert [await ws.recv(), await ws.recv()] == ["two", "one"]
        pub.close()
    run(main())


# --- Node's ws package -----------------------------------------------------------------------------------


def test_node_ws_package(make_server):
    import shutil
    import subprocess
    from conftest import ROOT
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed")
    node_dir = os.path.join(ROOT, "tests", "node")
    if not os.path.isdir(os.path.join(node_dir, "node_modules", "ws")):
        pytest.skip("tests/node/node_modules/ws is missing: run `npm install` in tests/node")
    s = make_server("--memory", "--ws-publish", "--ws-ping", "300ms")
    p = subprocess.run([node, os.path.join(node_dir, "ws_test.mjs"), s.url], cwd=node_dir,
                       capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"node exited {p.returncode}:\n{out}\n--- server log ---\n{s.log()[-3000:]}"
    assert out.count("ok - ") == 4, out
    assert s.alive()


# --- the crier.json subprotocol: messages with their ids, so a client can resume -------------------


def test_crier_json_subprotocol_and_resume_from_the_last_id(srv):
    async def main():
        pub = Publisher(srv.url)
        url = ws_url(srv, "/sub/js1,js2")
        async with websockets.connect(url, subprotocols=["crier.json"]) as ws:
            assert ws.subprotocol == "crier.json"
            hello = json.loads(await ws.recv())
            assert hello["event"] == "crier-hello" and "id" not in hello
            a = pub.publish("js1", "one", event="upd")
            b = pub.publish("js2", b"\xff\xfe", content_type="application/octet-stream")
            m1, m2 = json.loads(await ws.recv()), json.loads(await ws.recv())
            assert (m1["id"], m1["channel"], m1["data"], m1["event"]) == (a["id"], "js1", "one", "upd")
            assert (m2["id"], m2["channel"], base64.b64decode(m2["data_base64"])) == (b["id"], "js2", b"\xff\xfe")
            last = {"js1": m1["id"], "js2": m2["id"]}
        # Away: one more on each channel. The compound cursor is the last id of each channel,
        # in subscription order, joined by ','.
        pub.publish("js2", "two-later")
        pub.publish("js1", "one-later")
        cursor = f"{last['js1']},{last['js2']}"
        async with websockets.connect(url + f"?since={cursor}", subprotocols=["crier.json"]) as ws:
            assert json.loads(await ws.recv())["cursor"] == cursor
            got = [json.loads(await ws.recv()) for _ in range(2)]
            assert sorted((g["channel"], g["data"]) for g in got) == [("js1", "one-later"), ("js2", "two-later")]
        pub.close()
    run(main())


def test_crier_json_frames_are_compressed_with_permessage_deflate(srv):
    ws = RawWS(srv.port, "/sub/jszip", headers={
        "Sec-WebSocket-Protocol": "crier.json", "Sec-WebSocket-Extensions": "permessage-deflate"})
    assert ws.headers["sec-websocket-protocol"] == "crier.json"
    assert ws.headers["sec-websocket-extensions"].startswith("permessage-deflate")
    ws.recv_json()  # crier-hello
    text = "a compressible message " * 40
    sent = Publisher(srv.url).publish("jszip", text)
    b0, payload = ws.recv_frame()
    assert b0 == 0xC1  # FIN + RSV1 + text: the JSON object, compressed
    m = json.loads(zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff"))
    assert (m["id"], m["channel"], m["data"]) == (sent["id"], "jszip", text)
    assert len(payload) < len(text)
    # No context takeover: the next frame inflates on its own too.
    Publisher(srv.url).publish("jszip", text, event="again")
    b0, payload = ws.recv_frame()
    m = json.loads(zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff"))
    assert b0 == 0xC1 and (m["data"], m["event"]) == (text, "again")
