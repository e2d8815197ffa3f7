"""Resuming without loss or duplicates, over every push mechanism: subscribe,
receive some, disconnect, publish more while away, come back with the cursor,
and the union must be exactly what was published, in order. One channel and
several (compound cursors). Then since=all / <duration> / <unix time>,
Nchan-style long polling (If-None-Match / If-Modified-Since, 304), gap notices
when the resume point is older than the retained history, none when it is
not, and 400 for bad cursors.

Clients are in clients.py.
Run: CRIER_BIN=$PWD/build/crier /usr/bin/python3 -m pytest -q tests/integration/test_resume.py
"""
import email.utils
import time

import httpx
import pytest

from clients import (Background, LongPoller, NDJSONClient, Poller, Publisher, RawClient, SSEClient, sse_collect,
                     unique, wait_subscribers)


def chan(prefix="r"):
    return unique(prefix)


# --- one session of one mechanism, as the resume scenario needs it ----------------------------------------


class Session:
    """Subscribes with `mech` to `channels` from `cursor` (None: only new
    messages) and collects n messages in the background. `ids` maps payload ->
    (channel, id) for raw, which carries no ids in band. finish() returns
    [(channel or None, payload, id)] and the cursor to resume from."""

    def __init__(self, server, mech, channels, cursor, n, ids, state=None):
        self.mech, self.channels, self.n, self.ids = mech, channels, n, ids
        self.start_cursor = cursor
        self.state = state or {}
        port, url = server.port, server.url
        self.client = None
        if mech == "sse-last-event-id":
            self.client = SSEClient(port, channels, last_event_id=cursor).open()
        elif mech == "sse-since":
            self.client = SSEClient(port, channels, since=cursor).open()
        elif mech == "ndjson-since":
            self.client = NDJSONClient(port, channels, since=cursor, start_cursor=cursor).open()
        elif mech == "raw-since":
            self.client = RawClient(port, channels, since=cursor).open()
        elif mech.startswith("longpoll-"):
            how = mech.split("-", 1)[1]
            self.client = LongPoller(url, channels, cursor=cursor, how=how)
            if how == "nchan" and cursor is not None:
                # What an Nchan client kept from its last answer.
                self.client.etag = self.state.get("etag", f'"{cursor}"')
                self.client.last_modified = self.state.get("last_modified")
        elif mech == "poll":
            self.client = Poller(url, channels, cursor=cursor, interval=0.01)
            if cursor is None:
                r = self.client.poll_once()
                assert r.status_code == 204, r.status_code
        else:
            raise ValueError(mech)
        if hasattr(self.client, "read"):
            self.bg = Background(lambda: self.client.read(n=n, timeout=15))
        else:
            self.bg = Background(lambda: self.client.run(n=n, timeout=15))
        if cursor is None and mech != "poll":
            wait_subscribers(url, channels[0], 1)

    def finish(self):
        try:
            res = self.bg.join(30)
        finally:
            self.client.close()
        out = []
        for m in res.messages:
            data = m.data.decode() if isinstance(m.data, bytes) else m.data
            ch, pid = self.ids[data]
            if m.channel is not None:
                assert m.channel == ch, (m.channel, ch)
            if self.mech != "raw-since":
                if len(self.channels) == 1 or not self.mech.startswith("sse"):
                    assert m.id == pid, (data, m.id, pid)
                else:
                    # SSE on several channels: the id is the compound cursor, in
                    # which this channel's entry is this message's id.
                    assert m.id.split(",")[self.channels.index(ch)] == pid, (data, m.id, pid)
            out.append((ch, data, pid))
        state = {}
        if self.mech == "raw-since":
            last = dict(zip(self.channels, (self.start_cursor or "").split(","))) if self.start_cursor else {}
            for ch, _, pid in out:
                last[ch] = pid
            cursor = ",".join(last[ch] for ch in self.channels)
        else:
            cursor = res.cursor
        if self.mech == "longpoll-nchan":
            state = {"etag": self.client.etag, "last_modified": self.client.last_modified}
        return out, cursor, state, res


MECHS = ["sse-last-event-id", "sse-since", "longpoll-since", "longpoll-last-event-id", "longpoll-nchan", "poll",
         "ndjson-since", "raw-since"]


@pytest.mark.parametrize("mech", MECHS)
def test_resume_one_channel(server, pub, mech):
    ch = chan()
    ids = {}

    def publish(names):
        for name in names:
            ids[name] = (ch, pub.publish(ch, name)["id"])

    batch1 = [f"m{i}" for i in range(1, 6)]
    batch2 = [f"m{i}" for i in range(6, 11)]
    batch3 = [f"m{i}" for i in range(11, 14)]
    s1 = Session(server, mech, [ch], None, len(batch1), ids)
    publish(batch1)
    got1, cursor, state, res1 = s1.finish()
    assert [d for _, d, _ in got1] == batch1
    assert cursor == ids["m5"][1], (cursor, ids["m5"])
    publish(batch2)  # while nobody is subscribed
    s2 = Session(server, mech, [ch], cursor, len(batch2) + len(batch3), ids, state)
    publish(batch3)
    got2, cursor2, _, res2 = s2.finish()
    everything = batch1 + batch2 + batch3
    assert [d for _, d, _ in got1 + got2] == everything
    assert [pid for _, _, pid in got1 + got2] == [ids[n][1] for n in everything]
    assert cursor2 == ids["m13"][1]
    assert not res1.notices and not res2.notices, (res1.notices, res2.notices)


@pytest.mark.parametrize("mech", MECHS)
def test_resume_several_channels_compound_cursor(server, pub, mech):
    a, b = chan("a"), chan("b")
    chans = [a, b]
    ids = {}

    def publish(names):
        for name in names:
            ch = a if name.startswith("a") else b
            ids[name] = (ch, pub.publish(ch, name)["id"])

    batch1 = ["a1", "b1", "a2", "b2"]
    batch2 = ["a3", "b3", "b4", "a4", "a5"]
    batch3 = ["b5", "a6"]
    s1 = Session(server, mech, chans, None, len(batch1), ids)
    wait_subscribers(server.url, b, 0 if mech == "poll" else 1)
    publish(batch1)
    got1, cursor, state, _ = s1.finish()
    # Order is kept per channel; between channels only the time order of the
    # ids is (messages of two channels in one millisecond may come either way).
    assert sorted(d for _, d, _ in got1) == sorted(batch1)
    assert [d for _, d, _ in got1 if d.startswith("a")] == ["a1", "a2"]
    assert cursor == f"{ids['a2'][1]},{ids['b2'][1]}"
    publish(batch2)
    s2 = Session(server, mech, chans, cursor, len(batch2) + len(batch3), ids, state)
    publish(batch3)
    got2, cursor2, _, res2 = s2.finish()
    union = got1 + got2
    names = [d for _, d, _ in union]
    assert len(names) == len(set(names)), f"duplicates: {names}"
    # Each channel's messages exactly once, in publish order.
    for ch, prefix in ((a, "a"), (b, "b")):
        mine = [d for c, d, _ in union if c == ch]
        assert mine == [n for n in batch1 + batch2 + batch3 if n.startswith(prefix)], (ch, names)
    assert sorted(names) == sorted(batch1 + batch2 + batch3)
    assert cursor2 == f"{ids['a6'][1]},{ids['b5'][1]}"
    assert not res2.notices


# --- since=all, <duration>, <unix time> ------------------------------------------------------------------------


def collect_all_ways(server, ch, since, n):
    """The messages every mechanism gives for ?since=, as payload lists.
    `since` is a string, or a function giving one just before each request."""
    get = since if callable(since) else (lambda: since)
    out = {}
    out["sse"] = sse_collect(server.port, ch, n=n, timeout=10, since=get()).datas
    nd = NDJSONClient(server.port, ch, since=get()).open()
    out["ndjson"] = nd.read(n=n, timeout=10).datas
    nd.close()
    raw = RawClient(server.port, ch, since=get()).open()
    out["raw"] = raw.read(n=n, timeout=10).datas
    raw.close()
    with httpx.Client(base_url=server.url, timeout=10) as c:
        r = c.get(f"/sub/{ch}", params={"transport": "poll", "since": get()})
        out["poll"] = [m["data"] for m in r.json()] if r.status_code == 200 else []
    lp = LongPoller(server.url, ch, cursor=get())
    out["longpoll"] = [m.data.decode() for m in lp.run(n=n, timeout=10).messages]
    lp.close()
    return out


def test_since_all(server, pub):
    ch = chan()
    names = [f"x{i}" for i in range(4)]
    pub.publish_many(ch, names)
    got = collect_all_ways(server, ch, "all", len(names))
    for mech, datas in got.items():
        assert datas == names, mech


def test_since_duration(server, pub):
    ch = chan()
    pub.publish_many(ch, ["old1", "old2"])
    time.sleep(1.0)
    t_mid = time.time()
    time.sleep(0.6)
    pub.publish_many(ch, ["new1", "new2"])

    def since_mid():
        # A duration reaching back to t_mid, however long the requests before took.
        return f"{int((time.time() - t_mid) * 1000)}ms"

    got = collect_all_ways(server, ch, since_mid, 2)
    for mech, datas in got.items():
        assert datas == ["new1", "new2"], mech
    # Longer than the channel has existed: everything; the other units too.
    for since in ("10m", "1h", "2d", "3600s", "600000ms"):
        res = sse_collect(server.port, ch, n=4, timeout=10, since=since)
        assert res.datas == ["old1", "old2", "new1", "new2"], since


def test_since_unix_time(server, pub):
    ch = chan()
    pub.publish_many(ch, ["before1", "before2"])
    # Cross into the next second, so that 'before' is strictly older than t.
    t = int(time.time()) + 1
    time.sleep(max(0.0, t - time.time()) + 0.05)
    ids = pub.publish_many(ch, ["at1", "at2"])
    assert int(ids[0].split("-")[0]) >= t * 1000
    got = collect_all_ways(server, ch, str(t), 2)
    for mech, datas in got.items():
        assert datas == ["at1", "at2"], mech
    assert sse_collect(server.port, ch, n=4, timeout=10, since=str(t - 3600)).datas == \
        ["before1", "before2", "at1", "at2"]


def test_no_since_means_only_new(server, pub):
    ch = chan()
    pub.publish_many(ch, ["old"])
    c = SSEClient(server.port, ch).open()
    try:
        wait_subscribers(server.url, ch, 1)
        pub.publish(ch, "new")
        res = c.read(n=1, timeout=10)
        res = c.read(timeout=0.5)
    finally:
        c.close()
    assert res.datas == ["new"]


# --- Nchan-style long polling ---------------------------------------------------------------------------------------


def test_nchan_longpoll_304_on_hold_timeout_and_resume(server, pub):
    ch = chan()
    first = pub.publish(ch, "n1")["id"]
    with httpx.Client(base_url=server.url, timeout=15) as c:
        r = c.get(f"/sub/{ch}", params={"since": "all"})
        assert r.status_code == 200 and r.content == b"n1"
        etag, lm = r.headers["etag"], r.headers["last-modified"]
        assert etag == f'"{first}"'
        # Nothing newer: held, then 304 Not Modified with the same cursor.
        t0 = time.monotonic()
        r2 = c.get(f"/sub/{ch}", headers={"If-None-Match": etag, "If-Modified-Since": lm})
        assert time.monotonic() - t0 >= 2.0
        assert r2.status_code == 304, (r2.status_code, r2.headers)
        assert r2.content == b""
        assert r2.headers["x-crier-cursor"] == first and r2.headers["etag"] == etag
        # A message during the hold answers it at once; the next Etag follows it.
        bg = Background(lambda: c.get(f"/sub/{ch}", headers={"If-None-Match": etag, "If-Modified-Since": lm}))
        wait_subscribers(server.url, ch, 1)
        second = pub.publish(ch, "n2")["id"]
        r3 = bg.join(10)
        assert r3.status_code == 200 and r3.content == b"n2"
        assert r3.headers["etag"] == f'"{second}"' and r3.headers["x-crier-id"] == second
        # Published while the client was away: the Etag it kept brings it back.
        pub.publish(ch, "n3")
        r4 = c.get(f"/sub/{ch}", headers={"If-None-Match": r3.headers["etag"],
                                         "If-Modified-Since": r3.headers["last-modified"]})
        assert r4.status_code == 200 and r4.content == b"n3"


def test_nchan_weak_etag_and_if_modified_since_alone(server, pub):
    ch = chan()
    ids = pub.publish_many(ch, ["w1", "w2"])
    with httpx.Client(base_url=server.url, timeout=15) as c:
        r = c.get(f"/sub/{ch}", headers={"If-None-Match": f'W/"{ids[0]}"'})
        assert r.status_code == 200 and r.content == b"w2"
        # If-Modified-Since alone: messages from that time on.
        past = email.utils.formatdate(time.time() - 3600, usegmt=True)
        r = c.get(f"/sub/{ch}", headers={"If-Modified-Since": past})
        assert r.status_code == 200 and r.content == b"w1"


def test_plain_longpoll_hold_timeout_is_204_not_304(server, pub):
    ch = chan()
    last = pub.publish(ch, "p")["id"]
    r = httpx.get(f"{server.url}/sub/{ch}", params={"since": last}, timeout=15)
    assert r.status_code == 204 and r.headers["x-crier-cursor"] == last


# --- gap notices -------------------------------------------------------------------------------------------------


@pytest.fixture
def small(make_server):
    """A server keeping 5 messages per channel, and a channel with 10
    published: m1..m5 evicted, m6..m10 retained."""
    srv = make_server("--history", "5", "--hold", "2s", "--heartbeat", "1s")
    ch = chan("g")
    with Publisher(srv.url) as p:
        ids = p.publish_many(ch, [f"m{i}" for i in range(1, 11)])
    return srv, ch, ids


RETAINED = [f"m{i}" for i in range(6, 11)]


def test_gap_over_sse(small):
    srv, ch, ids = small
    for how in ("last-event-id", "since"):
        kw = {"last_event_id": ids[2]} if how == "last-event-id" else {"since": ids[2]}
        c = SSEClient(srv.port, ch, **kw).open()
        res = c.read(n=5, timeout=10)
        c.close()
        assert res.headers.get("x-crier-gap") == ch, res.headers
        assert res.notices and res.notices[0]["event"] == "crier-gap", how
        assert res.notices[0]["data"] == {"channels": [ch], "cursor": ids[2]}
        assert res.datas == RETAINED
        # The notice comes before the first message.
        assert c.parser.comments[0] == " crier"


def test_gap_over_ndjson_and_raw(small):
    srv, ch, ids = small
    nd = NDJSONClient(srv.port, ch, since=ids[0]).open()
    res = nd.read(n=5, timeout=10)
    nd.close()
    assert res.headers.get("x-crier-gap") == ch
    assert res.notices == [{"event": "crier-gap", "channels": [ch], "cursor": ids[0]}]
    assert res.datas == RETAINED
    raw = RawClient(srv.port, ch, since=ids[3]).open()
    res = raw.read(n=5, timeout=10)
    raw.close()
    assert res.headers.get("x-crier-gap") == ch
    assert res.datas == RETAINED


def test_gap_over_poll_and_longpoll_headers(small):
    srv, ch, ids = small
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.get(f"/sub/{ch}", params={"transport": "poll", "since": ids[1]})
        assert r.status_code == 200 and r.headers.get("x-crier-gap"), r.headers
        assert [m["data"] for m in r.json()] == RETAINED
        r = c.get(f"/sub/{ch}", params={"since": ids[1]})
        assert r.status_code == 200 and r.headers.get("x-crier-gap"), r.headers
        assert r.content == b"m6"
        # Told once: the next answer, asked with the new cursor, has no gap.
        r = c.get(f"/sub/{ch}", params={"since": r.headers["x-crier-cursor"]})
        assert r.content == b"m7" and "x-crier-gap" not in r.headers
        # The same over Last-Event-ID and over the Nchan headers.
        r = c.get(f"/sub/{ch}", headers={"Last-Event-ID": ids[0]})
        assert r.content == b"m6" and r.headers.get("x-crier-gap")
        r = c.get(f"/sub/{ch}", headers={"If-None-Match": f'"{ids[0]}"'})
        assert r.content == b"m6" and r.headers.get("x-crier-gap")


@pytest.mark.parametrize("edge", [4, 5, 8, 9])
def test_no_gap_within_history(small, edge):
    """From m5 (the newest evicted: the client has it, m6 is next) or any later
    id, up to the last one, nothing was lost: no notice anywhere."""
    srv, ch, ids = small
    expect = [f"m{i}" for i in range(edge + 2, 11)]
    cursor = ids[edge]
    # With nothing to expect, listen a while for anything at all.
    n, t = (len(expect), 10) if expect else (None, 1.0)
    res = sse_collect(srv.port, ch, n=n, timeout=t, last_event_id=cursor)
    assert res.datas == expect and not res.notices and "x-crier-gap" not in res.headers
    nd = NDJSONClient(srv.port, ch, since=cursor).open()
    nres = nd.read(n=n, timeout=t)
    nd.close()
    assert nres.datas == expect and not nres.notices and "x-crier-gap" not in nres.headers
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.get(f"/sub/{ch}", params={"transport": "poll", "since": cursor})
        assert "x-crier-gap" not in r.headers
        assert (r.status_code, [m["data"] for m in r.json()] if expect else []) == (200 if expect else 204, expect)
        r = c.get(f"/sub/{ch}", params={"since": cursor})
        assert "x-crier-gap" not in r.headers
        if expect:
            assert r.status_code == 200 and r.content == expect[0].encode()
        else:
            assert r.status_code == 204 and r.headers["x-crier-cursor"] == cursor


def test_gap_only_for_the_channel_that_lost_messages(small):
    srv, ch, ids = small
    other = chan("o")
    with Publisher(srv.url) as p:
        oid = p.publish(other, "o1")["id"]
        p.publish(other, "o2")
    cursor = f"{ids[2]},{oid}"
    res = sse_collect(srv.port, [ch, other], n=6, timeout=10, last_event_id=cursor)
    assert [n["data"] for n in res.notices] == [{"channels": [ch], "cursor": cursor}]
    assert res.headers.get("x-crier-gap") == ch
    assert sorted(res.datas) == sorted(RETAINED + ["o2"])
    nd = NDJSONClient(srv.port, [other, ch], since=f"{oid},{ids[2]}").open()
    nres = nd.read(n=6, timeout=10)
    nd.close()
    assert nres.notices == [{"event": "crier-gap", "channels": [ch], "cursor": f"{oid},{ids[2]}"}]


def test_gap_for_a_duration_older_than_history(small):
    srv, ch, ids = small
    res = sse_collect(srv.port, ch, n=5, timeout=10, since="1h")
    assert res.notices and res.notices[0]["data"]["channels"] == [ch]
    assert res.datas == RETAINED


def test_gap_when_the_channel_was_dropped_and_recreated(server, pub):
    """A cursor from an earlier life of the channel: what came between is
    unknown, so the subscriber is told."""
    ch = chan()
    old = pub.publish_many(ch, ["life1-a", "life1-b"])
    with httpx.Client(base_url=server.url) as c:
        assert c.delete(f"/pub/{ch}").status_code == 200
    pub.publish(ch, "life2-a")
    res = sse_collect(server.port, ch, n=1, timeout=10, last_event_id=old[-1])
    assert res.datas == ["life2-a"]
    assert res.notices and res.notices[0]["event"] == "crier-gap", res.notices


def test_gap_after_a_restart_of_the_memory_store(make_server):
    first = make_server()
    ch = chan()
    with Publisher(first.url) as p:
        last = p.publish_many(ch, ["before-restart"])[-1]
    first.proc.terminate()  # make_server's teardown checks its exit
    first.proc.wait(timeout=20)
    second = make_server()
    with Publisher(second.url) as p:
        p.publish(ch, "after-restart")
    res = sse_collect(second.port, ch, n=1, timeout=10, last_event_id=last)
    assert res.datas == ["after-restart"]
    assert res.notices and res.notices[0]["event"] == "crier-gap"
    with httpx.Client(base_url=second.url) as c:
        r = c.get(f"/sub/{ch}", params={"transport": "poll", "since": last})
        assert r.headers.get("x-crier-gap")


def test_gap_on_longpoll_hold_timeout(make_server):
    srv = make_server("--history-age", "1s", "--hold", "1s")
    ch = chan()
    with Publisher(srv.url) as p:
        ids = p.publish_many(ch, ["aged1", "aged2"])
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        deadline = time.monotonic() + 10
        while c.get(f"/pub/{ch}").json()["messages"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert c.get(f"/pub/{ch}").json()["messages"] == 0
        poll = c.get(f"/sub/{ch}", params={"transport": "poll", "since": ids[0]})
        assert poll.status_code == 204 and poll.headers.get("x-crier-gap")  # poll tells
        r = c.get(f"/sub/{ch}", params={"since": ids[0]})
        assert r.status_code == 204
        r2 = c.get(f"/sub/{ch}", headers={"If-None-Match": f'"{ids[0]}"'})
        assert r2.status_code == 304
    assert r.headers.get("x-crier-gap"), f"204 without X-Crier-Gap: {dict(r.headers)}"
    assert r2.headers.get("x-crier-gap"), f"304 without X-Crier-Gap: {dict(r2.headers)}"


TIME_CURSOR_BUG = (
    "server bug: after a time-based since (?since=10m, a unix time, If-Modified-Since) the cursor crier hands "
    "back for a channel that delivered nothing is not an id but the internal bound '<t-1>-18446744073709551615' "
    "(cr_since_start), in X-Crier-Cursor, in the SSE compound id, in the Etag; sent back, it is 'ahead of the "
    "channel's last id' (channel_gap), so the client is told of a gap that never happened")


def test_cursor_after_a_time_since_fakes_no_gap_poll_and_longpoll(server, pub):
    ch = chan()
    pub.publish(ch, "old")
    time.sleep(1.2)
    with httpx.Client(base_url=server.url, timeout=10) as c:
        r = c.get(f"/sub/{ch}", params={"transport": "poll", "since": "1s"})
        assert r.status_code == 204 and "x-crier-gap" not in r.headers
        cursor = r.headers["x-crier-cursor"]
        r2 = c.get(f"/sub/{ch}", params={"transport": "poll", "since": cursor})
        assert r2.status_code == 204
        bg = Background(lambda: c.get(f"/sub/{ch}", params={"since": cursor}))
        wait_subscribers(server.url, ch, 1)
        new = pub.publish(ch, "new")["id"]
        r3 = bg.join(10)
    assert r3.status_code == 200 and r3.content == b"new" and r3.headers["x-crier-id"] == new
    problems = []
    if "x-crier-gap" in r2.headers:
        problems.append(f"poll with the cursor {cursor} it was given: X-Crier-Gap")
    if "x-crier-gap" in r3.headers:
        problems.append(f"long poll with the cursor {cursor} it was given: X-Crier-Gap on 'new'")
    assert not problems, problems


def test_cursor_after_a_time_since_fakes_no_gap_sse_compound(server, pub):
    a, b = chan("a"), chan("b")
    c = SSEClient(server.port, [a, b], since="10m").open()
    try:
        wait_subscribers(server.url, b, 1)
        pub.publish(a, "a1")
        res = c.read(n=1, timeout=10)
    finally:
        c.close()
    assert res.datas == ["a1"]
    cursor = res.cursor
    pub.publish(b, "b1")
    again = sse_collect(server.port, [a, b], n=1, timeout=10, last_event_id=cursor)
    assert again.datas == ["b1"]
    assert not again.notices, f"resuming with the id it sent ({cursor}): {again.notices}"


# --- EventSource's own reconnect ---------------------------------------------------------------------------------


def test_eventsource_reconnect_to_a_since_url_has_no_duplicates(server, pub):
    ch = chan()
    ids = pub.publish_many(ch, ["e1", "e2", "e3"])
    # What a browser sends when it reconnects after receiving e2.
    res = sse_collect(server.port, ch, n=1, timeout=3, since="all", last_event_id=ids[1])
    assert res.datas == ["e3"]


# --- bad cursors -------------------------------------------------------------------------------------------------


BAD = ["abc", "1-2-3", "-5", "5-", "12x", "1-1,2-2", "99999999999999999999999-1", "1234567890123", "1.5",
       "1-1,", ""]


@pytest.mark.parametrize("transport", ["sse", "longpoll", "poll", "ndjson", "raw"])
def test_bad_since_is_400(server, transport):
    ch = chan()
    with httpx.Client(base_url=server.url, timeout=10) as c:
        for bad in BAD:
            r = c.get(f"/sub/{ch}", params={"transport": transport, "since": bad})
            assert r.status_code == 400, (transport, bad, r.status_code)
            assert r.headers["content-type"].startswith("application/json")
            assert "cursor" in r.json()["error"], r.text


def test_bad_last_event_id_is_400(server):
    ch = chan()
    with httpx.Client(base_url=server.url, timeout=10) as c:
        for bad in ["nope", "1-2-3", "1-1,2-2", "-"]:
            for accept in ("text/event-stream", "*/*"):
                r = c.get(f"/sub/{ch}", headers={"Accept": accept, "Last-Event-ID": bad})
                assert r.status_code == 400, (bad, accept, r.status_code)
                assert "error" in r.json()


def test_compound_cursor_needs_one_id_per_channel(server, pub):
    a, b = chan("a"), chan("b")
    ia = pub.publish(a, "x")["id"]
    ib = pub.publish(b, "y")["id"]
    with httpx.Client(base_url=server.url, timeout=10) as c:
        for bad in (ia, f"{ia},{ib},{ib}"):
            r = c.get(f"/sub/{a},{b}", params={"transport": "poll", "since": bad})
            assert r.status_code == 400, bad
        r = c.get(f"/sub/{a}", params={"transport": "poll", "since": f"{ia},{ib}"})
        assert r.status_code == 400
        r = c.get(f"/sub/{a},{b}", params={"transport": "poll", "since": "0-0,0-0"})
        assert r.status_code == 200 and [m["data"] for m in r.json()] == ["x", "y"]


def test_ignored_garbage_if_none_match_is_not_an_error(server, pub):
    """Browsers and proxies send If-None-Match for their own reasons: one that
    is not a crier cursor is ignored, not refused."""
    ch = chan()
    bg = Background(lambda: httpx.get(f"{server.url}/sub/{ch}", headers={"If-None-Match": '"xyzzy"'}, timeout=10))
    wait_subscribers(server.url, ch, 1)
    pub.publish(ch, "fresh")
    r = bg.join(15)
    assert r.status_code == 200 and r.content == b"fresh"
