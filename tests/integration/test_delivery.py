"""Live delivery over every push mechanism crier has so far: Server-Sent
Events, long polling, polling, NDJSON and raw streaming; one channel and
several; payloads with line breaks; event names; publish order under a burst
with many subscribers of every kind at once; fan-out to 200 subscribers; a
subscriber that never reads is cut off while the others get everything;
heartbeats; the long-poll hold timeout.

Clients are in clients.py (real ones: sockets and httpx).
Run: CRIER_BIN=$PWD/build/crier /usr/bin/python3 -m pytest -q tests/integration/test_delivery.py
"""
import base64
import os
import re
import selectors
import socket
import time

import httpx
import pytest

from clients import (Background, HTTPStream, LongPoller, NDJSONClient, Poller, Publisher, RawClient,
                     SSEClient, SSEParser, proc_status, unique, wait_subscribers)

CLIENT_ID = re.compile(r"^c[0-9a-f]+$")
MSG_ID = re.compile(r"^\d+-\d+$")


def chan(prefix="d"):
    return unique(prefix)


def assert_ids_increasing(ids):
    keys = [tuple(int(x) for x in i.split("-")) for i in ids]
    assert keys == sorted(keys) and len(set(keys)) == len(keys), ids


# --- SSE ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["accept", "transport-param"])
def test_sse_live_one_channel(server, pub, how):
    ch = chan()
    c = SSEClient(server.port, ch, use_transport_param=(how == "transport-param"),
                  headers={} if how == "accept" else {"Accept": "*/*"}).open()
    try:
        res = c.result
        assert res.status == 200
        assert res.headers["content-type"].startswith("text/event-stream")
        assert CLIENT_ID.match(res.headers["x-crier-client"]), res.headers
        wait_subscribers(server.url, ch, 1)
        ids = pub.publish_many(ch, ["one", "two", "three"])
        c.read(n=3, timeout=10)
    finally:
        c.close()
    assert [m.data for m in res.messages] == ["one", "two", "three"]
    assert [m.id for m in res.messages] == ids
    assert all(MSG_ID.match(i) for i in ids)
    assert_ids_increasing(ids)
    assert res.cursor == ids[-1]
    # The preamble: a comment naming the server and the reconnect delay.
    assert c.parser.comments[0] == " crier"
    assert res.retry == 3000
    assert not res.notices


def test_sse_body_starts_with_preamble(server, pub):
    ch = chan()
    s = HTTPStream(server.port, f"/sub/{ch}", {"Accept": "text/event-stream"})
    try:
        s.read_head()
        body = b""
        deadline = time.monotonic() + 3
        while len(body) < 21 and time.monotonic() < deadline:
            piece = s.read_body(deadline)
            if not piece:
                break
            body += piece
    finally:
        s.close()
    assert body.startswith(b": crier\nretry: 3000\n\n"), body


def test_sse_live_several_channels(server, pub):
    a, b = chan("a"), chan("b")
    c = SSEClient(server.port, [a, b]).open()
    try:
        wait_subscribers(server.url, a, 1)
        wait_subscribers(server.url, b, 1)
        ra = pub.publish(a, "to-a")
        rb = pub.publish(b, "to-b")
        rab = pub.publish(f"{a},{b}", "to-both")
        ab_a, ab_b = rab["id"].split(",")
        res = c.read(n=4, timeout=10)
    finally:
        c.close()
    assert [m.data for m in res.messages] == ["to-a", "to-b", "to-both", "to-both"]
    # Each event's id is the compound cursor, one id per channel in subscription order.
    cursors = [m.id.split(",") for m in res.messages]
    assert all(len(x) == 2 for x in cursors), cursors
    assert cursors[0][0] == ra["id"]
    assert cursors[1] == [ra["id"], rb["id"]]
    assert cursors[2] == [ab_a, rb["id"]]
    assert cursors[3] == [ab_a, ab_b]
    assert res.cursor == f"{ab_a},{ab_b}"
    # With several channels the id line comes after the data lines.
    assert res.messages[0].raw["lines"] == ["to-a"]


MULTILINE = [
    ("lf", "line one\nline two\nline three"),
    ("crlf", "line one\r\nline two\r\nline three"),
    ("lone-cr", "line one\rline two\rline three"),
    ("mixed", "a\nb\r\nc\rd"),
    ("blank-lines", "a\n\nb\r\n\r\nc\r\rd"),
    ("trailing-lf", "ends with newline\n"),
    ("leading-lf", "\nstarts with newline"),
    ("cr-lf-apart", "a\n\rb"),
    ("leading-space", "  two leading spaces\n one"),
    ("colon", ": looks like a comment\nid: 5\nevent: x\ndata: y"),
    ("only-newlines", "\n\n"),
    ("empty", ""),
    ("utf8", "héllo\nwörld ✓"),
]


@pytest.mark.parametrize("name,payload", MULTILINE, ids=[m[0] for m in MULTILINE])
def test_sse_multiline_payload_intact(server, pub, name, payload):
    ch = chan()
    c = SSEClient(server.port, ch).open()
    try:
        wait_subscribers(server.url, ch, 1)
        pid = pub.publish(ch, payload)["id"]
        pub.publish(ch, "sentinel")
        res = c.read(n=2, timeout=10)
    finally:
        c.close()
    assert [m.data for m in res.messages][1:] == ["sentinel"], res.messages
    m = res.messages[0]
    assert m.id == pid
    # Every line of the payload is one data: line, whichever line break it had...
    assert m.raw["lines"] == re.split(r"\r\n|\r|\n", payload)
    # ... so an EventSource gets the payload with its line breaks as LF (the
    # most SSE can carry), nothing lost, nothing added, no field injected.
    assert m.data == re.sub(r"\r\n|\r", "\n", payload)
    assert m.event is None


def test_event_names_over_every_mechanism(server, pub):
    ch = chan()
    sse = SSEClient(server.port, ch).open()
    nd = NDJSONClient(server.port, ch).open()
    lp = LongPoller(server.url, ch)
    poll = Poller(server.url, ch)
    try:
        poll.poll_once()
        lp_bg = Background(lambda: lp.run(n=3, timeout=10))
        wait_subscribers(server.url, ch, 3)
        ids = [pub.publish(ch, "alert!", event="alert")["id"],
               pub.publish(ch, "plain")["id"]]
        # The ?event= query works too, for plain curl -d.
        ids.append(pub.publish(ch, "q", params={"event": "from-query"})["id"])
        sres = sse.read(n=3, timeout=10)
        nres = nd.read(n=3, timeout=10)
        lres = lp_bg.join()
        pres = poll.run(n=3, timeout=10)
    finally:
        sse.close()
        nd.close()
        lp.close()
        poll.close()
    expect = [("alert", "alert!"), (None, "plain"), ("from-query", "q")]
    assert [(m.event, m.data) for m in sres.messages] == expect
    assert [(m.event, m.data) for m in nres.messages] == expect
    assert [(m.event, m.data) for m in pres.messages] == expect
    assert [(m.event, m.data.decode()) for m in lres.messages] == expect
    for res in (sres, nres, lres, pres):
        assert [m.id for m in res.messages] == ids
    # Without an event name, the NDJSON/poll object has no "event" key at all.
    assert "event" not in nres.messages[1].raw and "event" not in pres.messages[1].raw
    assert sres.messages[0].raw["lines"] == ["alert!"]


# --- long polling ----------------------------------------------------------------------------------------


def test_longpoll_live_one_channel(server, pub):
    ch = chan()
    lp = LongPoller(server.url, ch)
    try:
        bg = Background(lambda: lp.run(n=3, timeout=10))
        wait_subscribers(server.url, ch, 1)
        ids = [pub.publish(ch, "first", content_type="text/x-first")["id"],
               pub.publish(ch, b"\x00\xffbinary", content_type="application/octet-stream")["id"],
               pub.publish(ch, "third")["id"]]
        res = bg.join()
    finally:
        lp.close()
    assert [m.data for m in res.messages] == [b"first", b"\x00\xffbinary", b"third"]
    assert [m.id for m in res.messages] == ids
    assert all(m.channel == ch for m in res.messages)
    assert res.messages[0].raw["content_type"] == "text/x-first"
    assert res.messages[1].raw["content_type"] == "application/octet-stream"
    # Each answer's cursor is that message's id; the Etag carries it quoted.
    assert [m.raw["cursor"] for m in res.messages] == ids
    assert lp.etag == f'"{ids[-1]}"'
    assert lp.last_modified and lp.last_modified.endswith("GMT")
    assert CLIENT_ID.match(res.headers["x-crier-client"])


def test_longpoll_answer_headers_and_keepalive(server, pub):
    """Two answers on one kept-alive connection, the second asked with the
    first's cursor."""
    ch = chan()
    ids = pub.publish_many(ch, ["m1", "m2"], event="ev")
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        got = []
        cursor = "all"
        for _ in range(2):
            sock.sendall(f"GET /sub/{ch}?since={cursor} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += sock.recv(65536)
            head, body = buf.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            hdrs = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
            while len(body) < int(hdrs["content-length"]):
                body += sock.recv(65536)
            assert lines[0].startswith("HTTP/1.1 200"), lines
            assert "close" not in hdrs.get("connection", "").lower()
            got.append((body, hdrs))
            cursor = hdrs["x-crier-cursor"]
    finally:
        sock.close()
    assert [b for b, _ in got] == [b"m1", b"m2"]
    assert [h["x-crier-id"] for _, h in got] == ids
    assert all(h["x-crier-event"] == "ev" and h["x-crier-channel"] == ch for _, h in got)
    assert [h["etag"] for _, h in got] == [f'"{i}"' for i in ids]


def test_longpoll_several_channels(server, pub):
    a, b = chan("a"), chan("b")
    lp = LongPoller(server.url, [a, b])
    try:
        bg = Background(lambda: lp.run(n=3, timeout=10))
        wait_subscribers(server.url, a, 1)
        ra = pub.publish(a, "A1")["id"]
        rb = pub.publish(b, "B1")["id"]
        ra2 = pub.publish(a, "A2")["id"]
        res = bg.join()
    finally:
        lp.close()
    got = [(m.channel, m.data, m.id) for m in res.messages]
    # In order per channel. Between channels, answers follow the ids' time
    # order: B1 and A2, published in one millisecond, may come either way.
    assert [g for g in got if g[0] == a] == [(a, b"A1", ra), (a, b"A2", ra2)]
    assert [g for g in got if g[0] == b] == [(b, b"B1", rb)]
    assert got[0] == (a, b"A1", ra)
    assert res.cursor == f"{ra2},{rb}"


def test_longpoll_hold_timeout_gives_204_with_cursor(server, pub):
    ch = chan()
    last = pub.publish(ch, "before")["id"]
    t0 = time.monotonic()
    r = httpx.get(f"{server.url}/sub/{ch}", timeout=15)
    held = time.monotonic() - t0
    assert r.status_code == 204, (r.status_code, r.text)
    assert r.content == b""
    assert r.headers["x-crier-cursor"] == last
    assert held >= 2.0, f"answered after {held:.2f}s, the hold is 3s"
    # The cursor it gave resumes right after "before".
    nxt = pub.publish(ch, "after")["id"]
    r2 = httpx.get(f"{server.url}/sub/{ch}", params={"since": r.headers["x-crier-cursor"]}, timeout=15)
    assert r2.status_code == 200 and r2.content == b"after" and r2.headers["x-crier-id"] == nxt


# --- polling ---------------------------------------------------------------------------------------------


def test_poll_live(server, pub):
    ch = chan()
    p = Poller(server.url, ch)
    try:
        r = p.poll_once()
        assert r.status_code == 204 and r.content == b""
        assert CLIENT_ID.match(r.headers["x-crier-client"])
        start = r.headers["x-crier-cursor"]
        ids = pub.publish_many(ch, ["p1", "p2", "p3"])
        res = p.run(n=3, timeout=10)
        r2 = p.poll_once()
    finally:
        p.close()
    assert MSG_ID.match(start)
    assert [m.data for m in res.messages] == ["p1", "p2", "p3"]
    assert [m.id for m in res.messages] == ids
    assert res.cursor == ids[-1]
    assert r2.status_code == 204 and r2.headers["x-crier-cursor"] == ids[-1]
    obj = res.messages[0].raw
    assert set(obj) >= {"id", "channel", "time", "data"} and obj["channel"] == ch
    assert isinstance(obj["time"], int)


def test_poll_several_channels_and_binary(server, pub):
    a, b = chan("a"), chan("b")
    p = Poller(server.url, [a, b])
    try:
        p.poll_once()
        ra = pub.publish(a, b"\xff\xfe\x00", content_type="application/octet-stream")["id"]
        rb = pub.publish(b, '{"k": 1}', content_type="application/json")["id"]
        res = p.run(n=2, timeout=10)
    finally:
        p.close()
    assert [(m.channel, m.id) for m in res.messages] == [(a, ra), (b, rb)]
    assert base64.b64decode(res.messages[0].raw["data_base64"]) == b"\xff\xfe\x00"
    assert "data" not in res.messages[0].raw
    assert res.messages[1].raw["data"] == '{"k": 1}'
    assert res.messages[1].raw["content_type"] == "application/json"
    assert res.cursor == f"{ra},{rb}"


# --- NDJSON and raw ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["accept", "transport-param"])
def test_ndjson_live(server, pub, how):
    a, b = chan("a"), chan("b")
    c = NDJSONClient(server.port, [a, b], use_accept=(how == "accept")).open()
    try:
        assert c.result.status == 200
        assert c.result.headers["content-type"].startswith("application/x-ndjson")
        assert c.result.headers["transfer-encoding"] == "chunked"
        assert CLIENT_ID.match(c.result.headers["x-crier-client"])
        wait_subscribers(server.url, a, 1)
        ra = pub.publish(a, "multi\nline")["id"]
        rb = pub.publish(b, b"\x80bin", content_type="application/octet-stream")["id"]
        rab = pub.publish(f"{a},{b}", "both", event="e")["id"].split(",")
        res = c.read(n=4, timeout=10)
    finally:
        c.close()
    got = [(m.channel, m.id, m.event) for m in res.messages]
    assert got == [(a, ra, None), (b, rb, None), (a, rab[0], "e"), (b, rab[1], "e")]
    assert res.messages[0].data == "multi\nline"
    assert base64.b64decode(res.messages[1].raw["data_base64"]) == b"\x80bin"
    assert res.cursor == ",".join(rab)
    assert not res.notices


def test_raw_live(server, pub):
    a, b = chan("a"), chan("b")
    one = RawClient(server.port, a).open()
    two = RawClient(server.port, [a, b]).open()
    try:
        for c in (one, two):
            assert c.result.status == 200
            assert c.result.headers["content-type"].startswith("text/plain")
            assert CLIENT_ID.match(c.result.headers["x-crier-client"])
        wait_subscribers(server.url, a, 2)
        pub.publish(a, "alpha")
        pub.publish(b, "beta")
        pub.publish(a, "gamma ✓")
        r1 = one.read(n=2, timeout=10)
        r2 = two.read(n=3, timeout=10)
    finally:
        one.close()
        two.close()
    assert r1.datas == ["alpha", "gamma ✓"]
    assert r2.datas == ["alpha", "beta", "gamma ✓"]


def test_raw_chunk_is_payload_and_newline(server, pub):
    ch = chan()
    s = HTTPStream(server.port, f"/sub/{ch}?transport=raw")
    try:
        s.read_head()
        wait_subscribers(server.url, ch, 1)
        pub.publish(ch, "exact bytes")
        deadline = time.monotonic() + 5
        piece = s.read_body(deadline)
        while piece == b"\n":  # a heartbeat
            piece = s.read_body(deadline)
    finally:
        s.close()
    assert piece == b"exact bytes\n"


# --- order under a burst, many subscribers of every kind ----------------------------------------------------------


def test_burst_of_1000_in_order_to_every_mechanism(server, pub):
    ch = chan("burst")
    n = 1000
    sses = [SSEClient(server.port, ch).open() for _ in range(3)]
    nds = [NDJSONClient(server.port, ch).open() for _ in range(3)]
    raws = [RawClient(server.port, ch).open() for _ in range(3)]
    lps = [LongPoller(server.url, ch) for _ in range(3)]
    polls = [Poller(server.url, ch, interval=0.005) for _ in range(3)]
    try:
        for p in polls:
            assert p.poll_once().status_code == 204
        readers = [Background(lambda c=c: c.read(n=n, timeout=40)) for c in sses + nds + raws]
        readers += [Background(lambda c=c: c.run(n=n, timeout=40)) for c in lps]
        wait_subscribers(server.url, ch, 12)
        readers += [Background(lambda c=c: c.run(n=n, timeout=40)) for c in polls]
        ids = pub.publish_many(ch, [str(i) for i in range(1, n + 1)])
        results = [r.join(60) for r in readers]
    finally:
        for c in sses + nds + raws + lps + polls:
            c.close()
    expect = [str(i) for i in range(1, n + 1)]
    kinds = ["sse"] * 3 + ["ndjson"] * 3 + ["raw"] * 3 + ["longpoll"] * 3 + ["poll"] * 3
    for kind, res in zip(kinds, results):
        datas = [d.decode() if isinstance(d, bytes) else d for d in res.datas]
        assert datas == expect, f"{kind}: {len(datas)} messages, first wrong at " \
            f"{next((i for i, (x, y) in enumerate(zip(datas, expect)) if x != y), len(datas))}"
        if kind != "raw":
            assert [m.id for m in res.messages] == ids, kind
    assert_ids_increasing(ids)


def test_fanout_to_200_sse_subscribers(server, pub):
    ch = chan("fan")
    nsubs, nmsg = 200, 10
    socks = []
    sel = selectors.DefaultSelector()
    try:
        for _ in range(nsubs):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(f"GET /sub/{ch} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
            socks.append(s)
        wait_subscribers(server.url, ch, nsubs, timeout=10)
        payloads = [f"fan-{i}" for i in range(nmsg)]
        ids = pub.publish_many(ch, payloads)
        state = {}
        for s in socks:
            s.setblocking(False)
            state[s] = {"buf": b"", "parser": SSEParser(), "events": [], "head": False}
            sel.register(s, selectors.EVENT_READ)
        done = 0
        deadline = time.monotonic() + 20
        while done < nsubs and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                s = key.fileobj
                st = state[s]
                data = s.recv(65536)
                if not data:
                    sel.unregister(s)
                    continue
                if not st["head"]:
                    st["buf"] += data
                    if b"\r\n\r\n" not in st["buf"]:
                        continue
                    head, data = st["buf"].split(b"\r\n\r\n", 1)
                    assert head.startswith(b"HTTP/1.1 200"), head
                    st["head"] = True
                before = len(st["events"])
                # Messages only: the crier-hello event (the client id) comes first.
                st["events"] += [e for e in st["parser"].feed(data)
                                 if e["has_data"] and e["event"] != "crier-hello"]
                if before < nmsg <= len(st["events"]):
                    done += 1
    finally:
        sel.close()
        for s in socks:
            s.close()
    counts = [len(st["events"]) for st in state.values()]
    assert done == nsubs, f"{done} of {nsubs} subscribers got all {nmsg}; counts {sorted(counts)[:10]}..."
    for st in state.values():
        assert [(e["id"], e["data"]) for e in st["events"]] == list(zip(ids, payloads))


def test_publish_answer_counts_subscribers(server, pub):
    ch = chan()
    cs = [SSEClient(server.port, ch).open() for _ in range(3)]
    try:
        wait_subscribers(server.url, ch, 3)
        r = pub.publish(ch, "x")
    finally:
        for c in cs:
            c.close()
    assert r["subscribers"] == 3 and r["channel"] == ch
    assert isinstance(r["time"], int) and r["id"].startswith(str(r["time"]))


# --- a subscriber that never reads -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sse", "ndjson", "raw"])
def test_subscriber_that_never_reads_is_cut_off(make_server, monkeypatch, kind):
    """A subscriber with a tiny receive window that never reads, beside a
    normal one, while ~10 MB are published in 10 KB messages. (--history 20
    keeps the retained messages from hiding the output queue in the RSS.)"""
    # Under AddressSanitizer freed blocks sit in a quarantine (256 MB) and
    # would count in the RSS: turn it off for this server.
    asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
    monkeypatch.setenv("ASAN_OPTIONS", asan + ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0")
    # The memory store: the RSS check is about the output queue, not the durable store's cache.
    srv = make_server("--memory", "--queue-hard", "64k", "--queue-soft", "16k", "--queue-soft-time", "1s",
                      "--history", "20")
    ch = chan("slow")
    cls = {"sse": SSEClient, "ndjson": NDJSONClient, "raw": RawClient}[kind]
    slow = cls(srv.port, ch, rcvbuf=4096).open()
    slow_id = slow.result.headers["x-crier-client"]
    normal = SSEClient(srv.port, ch).open()
    normal_id = normal.result.headers["x-crier-client"]
    nmsg, size = 1000, 10 * 1024
    try:
        wait_subscribers(srv.url, ch, 2)
        reader = Background(lambda: normal.read(n=nmsg, timeout=45))
        base = proc_status(srv.proc.pid)["VmRSS"]
        peak = base
        got = normal.result.messages  # filled by the reader thread
        with Publisher(srv.url) as p:
            for i in range(nmsg):
                p.publish(ch, f"{i:05d}:" + "x" * (size - 6))
                if i % 25 == 0:
                    peak = max(peak, proc_status(srv.proc.pid)["VmRSS"])
                # A normal subscriber reads as it goes: keep this Python one
                # (sharing the GIL with the publisher) within 8 messages, far
                # less than its socket buffers and the 64k queue hold, so that
                # only the one that never reads can go over the limit.
                lag_deadline = time.monotonic() + 10
                while len(got) < i + 1 - 8 and not normal.result.closed and time.monotonic() < lag_deadline:
                    time.sleep(0.0005)
        res = reader.join(60)
        peak = max(peak, proc_status(srv.proc.pid)["VmRSS"])
        closed, nread = slow.stream.wait_closed(timeout=15)
    finally:
        slow.close()
        normal.close()
    # The reader got every message, in order, intact.
    assert len(res.messages) == nmsg, f"normal subscriber got {len(res.messages)} of {nmsg}"
    assert all(m.data.startswith(f"{i:05d}:") and len(m.data) == size for i, m in enumerate(res.messages))
    # The one that never read was cut off: its connection ends, long before 10 MB reached it.
    assert closed, "the non-reading subscriber's connection was not closed"
    assert nread < nmsg * size // 2, f"the non-reading subscriber got {nread} bytes"
    log = srv.log()
    assert re.search(rf"subscriber {slow_id} cut off", log), log[-3000:]
    assert not re.search(rf"subscriber {normal_id} cut off", log), log[-3000:]
    queued = [int(x) for x in re.findall(rf"subscriber {slow_id} cut off: .*?\((\d+) bytes queued\)", log)]
    assert queued and queued[0] <= 64 * 1024 + 2 * size, queued
    # Memory stayed bounded: nowhere near the 10 MB it would take to queue everything.
    grew_kib = peak - base
    assert grew_kib < 4 * 1024, f"server RSS grew by {grew_kib} KiB (from {base} KiB)"
    assert srv.alive()
    with httpx.Client(base_url=srv.url) as c:
        assert c.get("/health").status_code == 200
        assert c.get(f"/pub/{ch}").json()["subscribers"] == 0


# --- heartbeats --------------------------------------------------------------------------------------------------


def test_heartbeats_on_idle_streams(server):
    ch = chan("idle")
    sse = SSEClient(server.port, ch).open()
    nd = NDJSONClient(server.port, ch).open()
    raw = RawClient(server.port, ch).open()
    try:
        three = lambda r: r.heartbeats >= 3  # noqa: E731
        r_sse = Background(lambda: sse.read(timeout=6, until=three))
        r_nd = Background(lambda: nd.read(timeout=6, until=three))
        r_raw = Background(lambda: raw.read(timeout=6, until=three))
        res = [r.join(15) for r in (r_sse, r_nd, r_raw)]
    finally:
        sse.close()
        nd.close()
        raw.close()
    for kind, r in zip(["sse", "ndjson", "raw"], res):
        assert r.heartbeats >= 2, f"{kind}: {r.heartbeats} heartbeats in 6 s with --heartbeat 1s"
        assert not r.messages and not r.closed, kind
    # SSE heartbeats are bare comment lines ":\n", not events.
    assert sse.parser.comments.count("") == res[0].heartbeats
