"""Client-addressed push: each subscriber is told its client id (SSE: a first
crier-hello event; HTTP streams: X-Crier-Client), POST /pub/@{id} reaches that
one connection in its own framing, and answers 404 JSON once it is gone.
"""
import json
import socket
import time

import pytest

from clients import NDJSONClient, Publisher, RawClient, SSEClient
from conftest import raw_request
from conftest import Server


@pytest.fixture(scope="module")
def srv():
    s = Server("--heartbeat", "1s")
    yield s
    s.stop()


def sse_with_id(port, ch):
    c = SSEClient(port, ch).open()
    res = c.read(until=lambda r: r.client is not None)
    assert res.client and res.client.startswith("c"), res
    assert res.headers["x-crier-client"] == res.client
    return c


def wait_gone(pub, client, timeout=10.0):
    """Waits until the server has noticed the client left (GET /pub/@id says 404)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, _ = pub.request("GET", f"/pub/@{client}")
        if status == 404:
            return
        time.sleep(0.02)
    raise AssertionError(f"client {client} still registered")


def test_sse_hello_then_addressed_message_only_to_that_client(srv):
    a = sse_with_id(srv.port, "room")
    b = sse_with_id(srv.port, "room")
    assert a.result.client != b.result.client
    with Publisher(srv.url) as pub:
        ans = pub.publish(f"@{a.result.client}", "just for a\nsecond line", event="note")
        assert ans["channel"] == f"@{a.result.client}" and ans["subscribers"] == 1
        first = pub.publish("room", "for everyone")
    ra = a.read(n=2)
    rb = b.read(n=1)
    assert [(m.event, m.data) for m in ra.messages] == [("note", "just for a\nsecond line"), (None, "for everyone")]
    # The addressed event has no id line: Last-Event-ID stays the channel's cursor.
    assert ra.messages[0].id is None
    assert ra.cursor == first["id"]
    assert [m.data for m in rb.messages] == ["for everyone"]
    a.close()
    b.close()


def test_hello_is_the_first_event(srv):
    with Publisher(srv.url) as pub:
        pub.publish("first", "retained")
    c = SSEClient(srv.port, "first", since="all").open()
    body = b""
    deadline = time.monotonic() + 10
    while b"retained" not in body:
        piece = c.stream.read_body(deadline)
        assert piece, body
        body += piece
    # Preamble (comment, retry), then the hello, then the replayed message.
    events = [e for e in body.split(b"\n\n") if e.strip()]
    assert events[0].startswith(b": crier\nretry: ")
    assert events[1] == b'event: crier-hello\ndata: {"client":"%s"}' % c.result.headers["x-crier-client"].encode()
    assert b"data: retained" in events[2]
    c.close()


def test_addressed_push_over_ndjson_and_raw(srv):
    nd = NDJSONClient(srv.port, "feed").open()
    raw = RawClient(srv.port, "feed").open()
    nid, rid = nd.result.headers["x-crier-client"], raw.result.headers["x-crier-client"]
    with Publisher(srv.url) as pub:
        status, _, body = pub.request("GET", f"/pub/@{nid}")
        assert status == 200
        assert json.loads(body) == {"client": nid, "transport": "ndjson", "channels": ["feed"]}
        a1 = pub.publish(f"@{nid}", b"\xff\x00binary", content_type="application/octet-stream")
        pub.publish(f"@{rid}", "raw line")
    res = nd.read(n=1)
    m = res.messages[0]
    assert m.channel == f"@{nid}" and m.id == a1["id"]
    assert m.raw["data_base64"] == "/wBiaW5hcnk=" and m.raw["content_type"] == "application/octet-stream"
    assert raw.read(n=1).datas == ["raw line"]
    nd.close()
    raw.close()


def test_gone_client_is_404_and_its_id_is_never_reused(srv):
    c = sse_with_id(srv.port, "leaving")
    cid = c.result.client
    c.close()
    with Publisher(srv.url) as pub:
        wait_gone(pub, cid)
        status, hdrs, body = pub.request("POST", f"/pub/@{cid}", b"anyone there?")
        assert status == 404 and hdrs["content-type"] == "application/json"
        assert cid in json.loads(body)["error"]
        again = sse_with_id(srv.port, "leaving")
        assert again.result.client != cid
        assert pub.request("POST", f"/pub/@{cid}", b"x")[0] == 404
        again.close()


@pytest.mark.parametrize("target", ["@", "@c", "@c0", "@xyz", "@c1g", "@c11111111111111111", "@c%0a1",
                                    "@ffff", "@c1,news"])
def test_bad_client_ids_are_404_json(srv, target):
    with Publisher(srv.url) as pub:
        status, hdrs, body = pub.request("POST", f"/pub/{target}", b"x")
        assert status == 404, (target, body)
        assert "error" in json.loads(body)
        assert pub.publish("still-serving", "ok")["subscribers"] == 0


def test_bad_requests_to_a_live_client(srv):
    c = sse_with_id(srv.port, "strict")
    cid = c.result.client
    with Publisher(srv.url) as pub:
        for headers, why in (({"X-Delay": "10"}, "X-Delay"), ({"X-Event": ""}, "X-Event"),
                             ({"X-Event": "e" * 65}, "X-Event")):
            status, _, body = pub.request("POST", f"/pub/@{cid}", b"x", headers)
            assert status == 400, (headers, body)
            assert why in json.loads(body)["error"]
        status, hdrs, body = pub.request("DELETE", f"/pub/@{cid}")
        assert status == 405 and "error" in json.loads(body)
        assert "POST" in hdrs["allow"]
        # None of that reached the client; a good one still does.
        pub.publish(f"@{cid}", "after the bad ones")
    assert c.read(n=1).datas == ["after the bad ones"]
    c.close()


def test_long_poll_client_is_addressable_while_it_waits(srv):
    """A long poll's id lives for one request: it is told in the answer, so the
    publisher here learns it from GET /pub/@… on the ids handed out next."""
    with Publisher(srv.url) as pub:
        probe = sse_with_id(srv.port, "lp-probe")
        next_id = int(probe.result.client[1:], 16) + 1
        probe.close()
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(b"GET /sub/lp HTTP/1.1\r\nHost: x\r\n\r\n")
        cid = None
        deadline = time.monotonic() + 10
        while cid is None and time.monotonic() < deadline:
            for cand in range(next_id, next_id + 8):
                status, _, body = pub.request("GET", f"/pub/@c{cand:x}")
                if status == 200 and json.loads(body)["transport"] == "longpoll":
                    cid = f"c{cand:x}"
                    break
        assert cid, "the long poll was never registered"
        ans = pub.publish(f"@{cid}", "your answer")
    data = b""
    while b"your answer" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head = data.split(b"\r\n\r\n")[0].decode()
    assert f"X-Crier-Channel: @{cid}" in head and f"X-Crier-Id: {ans['id']}" in head
    assert f"X-Crier-Client: {cid}" in head
    sock.close()


def test_server_still_serves(srv):
    assert raw_request(srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 200")


def test_addressed_push_over_websocket(srv):
    import asyncio

    import websockets

    async def run():
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/sub/wsroom") as a, \
                websockets.connect(f"ws://127.0.0.1:{srv.port}/sub/wsroom") as b:
            ha, hb = json.loads(await a.recv()), json.loads(await b.recv())
            assert ha["event"] == hb["event"] == "crier-hello" and ha["client"] != hb["client"]
            with Publisher(srv.url) as pub:
                status, _, body = pub.request("GET", f"/pub/@{ha['client']}")
                assert status == 200 and json.loads(body)["transport"] == "websocket"
                pub.publish(f"@{ha['client']}", "only a")
                pub.publish("wsroom", "both")
            assert [await a.recv(), await a.recv()] == ["only a", "both"]
            assert await b.recv() == "both"
        return ha["client"]

    cid = asyncio.run(asyncio.wait_for(run(), 20))
    with Publisher(srv.url) as pub:
        wait_gone(pub, cid)
