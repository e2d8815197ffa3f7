"""--threads N: connections are handed to the event loops in turn, so consecutive
connections land on different loops. Subscribers on every loop get the same
messages in the same order, whichever loop the publisher is on; a resume on
another loop loses and repeats nothing; channel stats count every loop; a
client-addressed push reaches a client on another loop; deleting a channel on
one loop tells subscribers on all of them. What names a channel (DELETE, a feed)
or a scheduled push is answered the same on every loop, and the limits and
figures of the process (--max-conns, /metrics) count every loop.
"""
import json
import re
import threading
import time
import xml.etree.ElementTree as ET

import httpx
import pytest

from clients import Conn, NDJSONClient, Publisher, SSEClient, assert_json_error, unique, wait_subscribers
from conftest import Server

THREADS = 3


@pytest.fixture(scope="module")
def srv():
    s = Server("--threads", str(THREADS), "--heartbeat", "1s", "--memory")
    yield s
    s.stop()


def hello(port, ch, **kw):
    c = SSEClient(port, ch, **kw).open()
    c.read(until=lambda r: r.client is not None)
    return c


def test_subscribers_on_every_loop_get_the_same_sequence(srv):
    ch = unique("thr")
    # Connections go to the loops in turn: every loop has subscribers.
    subs = [hello(srv.port, ch) for _ in range(4 * THREADS)]
    # Publishers on different loops, each publishing its own numbered series.
    pubs = [Publisher(srv.url) for _ in range(THREADS)]
    sent = []
    for i in range(60):
        p = pubs[i % THREADS]
        ans = p.publish(ch, f"m{i}")
        sent.append((ans["id"], f"m{i}"))
    for p in pubs:
        p.close()
    ids = [i for i, _ in sent]
    assert ids == sorted(ids, key=lambda x: tuple(map(int, x.split("-"))))
    for s in subs:
        res = s.read(n=60)
        assert [(m.id, m.data) for m in res.messages] == sent
        s.close()


def test_concurrent_publishers_one_order_for_all(srv):
    ch = unique("thr")
    subs = [hello(srv.port, ch) for _ in range(2 * THREADS)]
    n_per, npub = 200, THREADS * 2

    def run(k):
        with Publisher(srv.url) as p:
            for i in range(n_per):
                p.publish(ch, f"p{k}-{i}")

    ts = [threading.Thread(target=run, args=(k,)) for k in range(npub)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    seqs = []
    for s in subs:
        res = s.read(n=n_per * npub, timeout=30)
        seqs.append([(m.id, m.data) for m in res.messages])
        s.close()
    assert all(q == seqs[0] for q in seqs)
    assert len(seqs[0]) == n_per * npub and len(set(seqs[0])) == n_per * npub
    for k in range(npub):
        mine = [d for _, d in seqs[0] if d.startswith(f"p{k}-")]
        assert mine == [f"p{k}-{i}" for i in range(n_per)]


def test_resume_on_other_loops(srv):
    ch = unique("thr")
    with Publisher(srv.url) as p:
        ids = [p.publish(ch, f"r{i}")["id"] for i in range(30)]
        # Resume from every cursor, on connections that go round the loops.
        for k in range(0, 30, 3):
            for _ in range(THREADS):
                c = SSEClient(srv.port, ch, last_event_id=ids[k]).open()
                res = c.read(n=29 - k)
                assert [m.data for m in res.messages] == [f"r{i}" for i in range(k + 1, 30)]
                assert not res.notices, res.notices
                c.close()
        # A cursor published just now, resumed at once on the next connections.
        for i in range(20):
            last = p.publish(ch, f"x{i}")["id"]
            c = SSEClient(srv.port, ch, last_event_id=last).open()
            p.publish(ch, f"y{i}")
            res = c.read(n=1)
            assert [m.data for m in res.messages] == [f"y{i}"] and not res.notices
            c.close()


def test_stats_sum_every_loop(srv):
    ch = unique("thr")
    subs = [hello(srv.port, ch) for _ in range(2 * THREADS + 1)]
    with Publisher(srv.url) as p:
        p.publish(ch, "one")
        for _ in range(THREADS):
            status, _, body = p.request("GET", f"/pub/{ch}")
            assert status == 200
            info = json.loads(body)
            assert info["subscribers"] == 2 * THREADS + 1 and info["messages"] == 1
        for _ in range(THREADS):
            status, _, body = p.request("GET", "/health")
            assert json.loads(body)["published"] >= 1
    for s in subs:
        s.close()


def test_client_push_to_another_loop(srv):
    ch = unique("thr")
    subs = [hello(srv.port, ch) for _ in range(THREADS)]
    with Publisher(srv.url) as p:
        for s in subs:
            for _ in range(THREADS):  # from every loop
                ans = p.publish(f"@{s.result.client}", "to you")
                assert ans["subscribers"] == 1
                status, _, body = p.request("GET", f"/pub/@{s.result.client}")
                assert status == 200 and json.loads(body)["client"] == s.result.client
                # A new connection each time moves the publisher to the next loop.
                p.close()
        p.publish(ch, "all")
    for s in subs:
        res = s.read(n=THREADS + 1)
        assert res.datas == ["to you"] * THREADS + ["all"]
        s.close()
    with Publisher(srv.url) as p:
        for _ in range(THREADS):
            status, _, _ = p.request("POST", "/pub/@c7fffff", b"x")
            assert status == 404
            p.close()


def test_delete_tells_every_loop(srv):
    ch = unique("thr")
    subs = [NDJSONClient(srv.port, ch).open() for _ in range(THREADS)]
    with Publisher(srv.url) as p:
        p.publish(ch, "before")
        status, _, _ = p.request("DELETE", f"/pub/{ch}")
        assert status == 200
    for s in subs:
        res = s.read(until=lambda r: r.closed or r.notices, timeout=10)
        assert res.datas == ["before"]
        s.close()


def test_delete_answered_by_a_loop_that_never_saw_the_channel(srv):
    # A subscriber makes the channel on its loop only; the next connection is on another loop.
    for _ in range(THREADS):
        ch = unique("thr")
        sub = NDJSONClient(srv.port, ch).open()
        wait_subscribers(srv.url, ch, 1)
        with Publisher(srv.url) as p:
            status, _, body = p.request("DELETE", f"/pub/{ch}")
            assert status == 200, body
            assert json.loads(body) == {"channel": ch, "deleted": True, "subscribers": 1}
        res = sub.read(until=lambda r: r.closed or r.notices, timeout=10)
        assert res.closed or res.notices
        sub.close()
    # Subscribers on every loop, asked on every loop: all are counted once, then it is gone.
    for k in range(THREADS):
        ch = unique("thr")
        subs = [NDJSONClient(srv.port, ch).open() for _ in range(THREADS)]
        wait_subscribers(srv.url, ch, THREADS)
        with Publisher(srv.url) as p:
            p.publish(ch, "before")
        for _ in range(k):  # the DELETE goes to the next loop each round
            httpx.get(srv.url + "/health")
        with Publisher(srv.url) as p:
            status, _, body = p.request("DELETE", f"/pub/{ch}")
            assert status == 200 and json.loads(body)["subscribers"] == THREADS
        for s in subs:
            assert s.read(until=lambda r: r.closed or r.notices, timeout=10).datas == ["before"]
            s.close()
        for _ in range(THREADS):
            with Publisher(srv.url) as p:
                status, _, _ = p.request("DELETE", f"/pub/{ch}")
                assert status == 404


def test_feed_answered_by_every_loop(srv):
    empty, full = unique("thr"), unique("thr")
    sub = NDJSONClient(srv.port, empty).open()  # made on one loop, with nothing in it
    wait_subscribers(srv.url, empty, 1)
    with Publisher(srv.url) as p:
        ids = [p.publish(full, f"f{i}")["id"] for i in range(5)]
    # Each GET on a new connection, so every loop answers each of them.
    etags, bodies = set(), set()
    for _ in range(THREADS):
        r = httpx.get(f"{srv.url}/feed/{empty}.atom")
        assert r.status_code == 200 and ET.fromstring(r.content).find("{http://www.w3.org/2005/Atom}entry") is None
        etags.add(r.headers["etag"])
    for _ in range(THREADS):
        r = httpx.get(f"{srv.url}/feed/{full}.rss")
        assert r.status_code == 200
        items = ET.fromstring(r.content).find("channel").findall("item")
        assert [i.find("guid").text.rsplit("/", 1)[1] for i in items] == ids[::-1]
        bodies.add(r.content)
    for _ in range(THREADS):
        assert httpx.get(f"{srv.url}/feed/{unique('never')}.atom").status_code == 404
    assert len(etags) == 1 and len(bodies) == 1
    sub.close()


def test_scheduled_pushes_listed_and_cancelled_on_any_loop(srv):
    ch = unique("thr")
    made = []
    for i in range(THREADS):  # scheduled from every loop
        r = httpx.post(f"{srv.url}/pub/{ch}", content=f"s{i}".encode(), headers={"X-Delay": f"{i + 1}h"})
        assert r.status_code == 202
        made.append(r.json()["id"])
    assert len(set(made)) == THREADS
    for _ in range(THREADS):  # listed by every loop
        listed = httpx.get(f"{srv.url}/pub/{ch}/scheduled").json()
        assert [i["id"] for i in listed["scheduled"]] == made
    for k, sid in enumerate(made):  # cancelled on loops other than the one that took them
        for _ in range(k + 1):
            httpx.get(srv.url + "/health")
        r = httpx.delete(f"{srv.url}/pub/{ch}/scheduled/{sid}")
        assert r.status_code == 200 and r.json()["cancelled"] is True
        assert httpx.delete(f"{srv.url}/pub/{ch}/scheduled/{sid}").status_code == 404
    for _ in range(THREADS):
        assert httpx.get(f"{srv.url}/pub/{ch}/scheduled").json()["count"] == 0
    # Taken on a worker loop, sent when due to subscribers on every loop.
    subs = [hello(srv.port, ch) for _ in range(THREADS)]
    for _ in range(THREADS):
        r = httpx.post(f"{srv.url}/pub/{ch}", content=b"later", headers={"X-Delay": "1"})
        assert r.status_code == 202
    for s in subs:
        assert s.read(n=THREADS, timeout=10).datas == ["later"] * THREADS
        s.close()


def metrics(url):
    text = httpx.get(url + "/metrics").text
    return {m[0]: int(m[1]) for m in re.findall(r"^(crier_\w+) (\d+)$", text, re.M)}


def test_max_conns_and_metrics_count_every_loop(make_server):
    s = make_server("--threads", str(THREADS), "--max-conns", "3", "--memory")
    # The first connection asks until it is the only one (the start-up probe's close, handled
    # on its own loop, may come later); it and two more, one on each loop, are let in.
    conns = []
    deadline = time.time() + 5
    for _ in range(3):
        c = Conn(s.port)
        while True:
            c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            r = c.read_response()
            assert r.status == 200
            if conns or json.loads(r.body)["connections"] == 1:
                break
            assert time.time() < deadline
            time.sleep(0.05)
        conns.append(c)
    extra = Conn(s.port)  # a loop with one connection refuses it: the process has three
    r = extra.read_response()
    assert_json_error(r, 503)
    extra.close()
    for c in conns:
        c.close()
    ch = unique("thr")
    t = make_server("--threads", str(THREADS), "--memory")
    subs = [hello(t.port, ch) for _ in range(2 * THREADS)]
    wait_subscribers(t.url, ch, 2 * THREADS)
    for _ in range(THREADS):
        assert metrics(t.url)["crier_subscriptions"] == 2 * THREADS
    for sub in subs:
        sub.close()
    deadline = time.time() + 5
    while metrics(t.url)["crier_subscriptions"] != 0:
        assert time.time() < deadline
        time.sleep(0.05)


def test_a_channel_subscribed_on_one_loop_is_kept_on_every_loop():
    """A loop does not forget a channel while another loop has subscribers on it (after
    --channel-idle with nothing retained): a resume on any loop is then told of no gap,
    as with one loop."""
    s = Server("--threads", str(THREADS), "--memory", "--history-age", "1s", "--channel-idle", "1s",
               "--heartbeat", "1s")
    try:
        ch = unique("kept")
        sub = hello(s.port, ch)  # one loop has the channel's only subscriber
        with Publisher(s.url) as p:
            first = p.publish(ch, "first")["id"]
        assert [m.data for m in sub.read(n=1).messages] == ["first"]
        # The message ages out on every loop; then nothing is retained or published there for
        # longer than --channel-idle, and two of the three loops have no subscriber of their own.
        time.sleep(3.5)
        resumed = [SSEClient(s.port, ch, last_event_id=first).open() for _ in range(THREADS)]
        with Publisher(s.url) as p:
            p.publish(ch, "second")
        for c in resumed:
            res = c.read(n=1)
            assert [m.data for m in res.messages] == ["second"] and not res.notices, res.notices
            c.close()
        res = sub.read(n=2)  # (read counts from the start)
        assert [m.data for m in res.messages] == ["first", "second"] and not res.notices
        sub.close()
    finally:
        s.stop()
