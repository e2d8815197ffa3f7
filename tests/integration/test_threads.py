"""--threads N: connections are handed to the event loops in turn, so consecutive
connections land on different loops. Subscribers on every loop get the same
messages in the same order, whichever loop the publisher is on; a resume on
another loop loses and repeats nothing; channel stats count every loop; a
client-addressed push reaches a client on another loop; deleting a channel on
one loop tells subscribers on all of them.
"""
import json
import threading

import pytest

from clients import NDJSONClient, Publisher, SSEClient, unique
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
