"""crier as a cluster on Redis (issue 6): real redis-server processes and three
crier nodes (--memory --redis). Cross-node fan-out in order, publishers on every
node, cluster-wide subscriber counts, resuming on another node, Redis stopped and
restarted, a node killed, and channels sharded over two Redis servers."""
import json
import socket
import subprocess
import threading
import time

import httpx
import pytest

from clients import Publisher, SSEClient
from conftest import CRIER, Server
from redis_helper import Redis, RESPReader


def node(redis_urls, name, *flags):
    return Server("--memory", "--redis", redis_urls, "--node-id", name, "--heartbeat", "1s", *flags)


@pytest.fixture
def redis():
    r = Redis()
    yield r
    r.close()


@pytest.fixture
def cluster(redis):
    nodes = [node(redis.url, f"n{i}") for i in (1, 2, 3)]
    yield nodes
    for s in nodes:
        if s.alive():
            s.stop()


def ids_of(res):
    return [m.id for m in res.messages]


def strictly_increasing(ids):
    keys = [tuple(int(x) for x in i.split("-")) for i in ids]
    return all(a < b for a, b in zip(keys, keys[1:]))


def stats(server, ch):
    r = httpx.get(f"{server.url}/pub/{ch}", timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(pred, timeout, what):
    """Polls pred until it holds; bounded, and the failure says what never happened."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} (last: {last!r})")


def test_publish_on_one_node_reaches_every_node_in_order(cluster):
    subs = [SSEClient(s.port, "news").open() for s in cluster]
    with Publisher(cluster[0].url) as p:
        acked = p.publish_many("news", [f"m{i}" for i in range(50)])
    assert strictly_increasing(acked)
    for s in subs:
        res = s.read(n=50, timeout=10)
        assert res.datas == [f"m{i}" for i in range(50)]
        assert ids_of(res) == acked
        s.close()


def test_publishers_on_every_node_one_order_everywhere(cluster):
    subs = [SSEClient(s.port, "race").open() for s in cluster]
    acked = {}

    def publish(i, s):
        with Publisher(s.url) as p:
            acked[i] = p.publish_many("race", [f"n{i}-{k}" for k in range(40)])

    threads = [threading.Thread(target=publish, args=(i, s)) for i, s in enumerate(cluster)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    all_acked = sorted(sum(acked.values(), []), key=lambda i: tuple(int(x) for x in i.split("-")))
    assert len(set(all_acked)) == 120
    seen = []
    for s in subs:
        res = s.read(n=120, timeout=15)
        ids = ids_of(res)
        assert ids == all_acked  # every message, no duplicate, in id order
        for i in range(3):  # each publisher's own order kept
            mine = [m.data for m in res.messages if m.data.startswith(f"n{i}-")]
            assert mine == [f"n{i}-{k}" for k in range(40)]
        seen.append(res.datas)
        s.close()
    assert seen[0] == seen[1] == seen[2]


def test_subscriber_count_is_cluster_wide(cluster):
    n1, n2, n3 = cluster
    subs = [SSEClient(n1.port, "count").open() for _ in range(2)]
    subs += [SSEClient(n2.port, "count").open()]
    third = [SSEClient(n3.port, "count").open() for _ in range(3)]
    for s in cluster:
        st = stats(s, "count")
        assert st["subscribers"] == 6, st
    assert stats(n1, "count")["local_subscribers"] == 2
    assert stats(n3, "count")["local_subscribers"] == 3
    for s in third:
        s.close()
    # A node reports a drop on its next count refresh (once a second).
    wait_for(lambda: stats(n1, "count")["subscribers"] == 3, 10, "node 3's subscribers still counted")
    for s in subs:
        s.close()


def test_resume_on_another_node_with_cursor(cluster):
    n1, n2, n3 = cluster
    a = SSEClient(n1.port, "resume").open()
    with Publisher(n1.url) as p:
        first = p.publish_many("resume", [f"a{i}" for i in range(5)])
    res = a.read(n=5, timeout=10)
    assert res.datas == [f"a{i}" for i in range(5)]
    cursor = res.cursor
    a.close()
    # Published while the subscriber is away, from a third node.
    with Publisher(n3.url) as p:
        later = p.publish_many("resume", [f"b{i}" for i in range(5)])
    # Node 2 has never seen this channel: it reads the stream from Redis.
    b = SSEClient(n2.port, "resume", last_event_id=cursor).open()
    res = b.read(n=5, timeout=10)
    assert res.datas == [f"b{i}" for i in range(5)]
    assert ids_of(res) == later and not res.notices
    # And live messages follow on the new node.
    with Publisher(n1.url) as p:
        p.publish("resume", "live")
    assert b.read(n=6, timeout=10).datas[-1] == "live"
    b.close()
    # ?since=all on yet another node gives the whole retained history.
    c = SSEClient(n3.port, "resume", since="all").open()
    assert ids_of(c.read(n=11, timeout=10)) == first + later + ids_of(res)[5:]
    c.close()


def test_redis_stopped_then_back(redis, cluster):
    n1, n2, n3 = cluster
    subs = [SSEClient(s.port, "outage").open() for s in (n1, n2)]
    acked = []
    with Publisher(n1.url) as p:
        acked += p.publish_many("outage", ["before0", "before1"])
    for s in subs:
        assert s.read(n=2, timeout=10).datas == ["before0", "before1"]
    redis.stop()
    # Publishes are refused with a reason, never acknowledged and lost.
    for s in cluster:
        r = httpx.post(f"{s.url}/pub/outage", content=b"during", timeout=5)
        assert r.status_code == 503, r.text
        assert r.json()["error"]
    # Subscribers stay connected meanwhile (heartbeats keep coming).
    for s in subs:
        res = s.read(timeout=2.5)
        assert not res.closed and res.datas == ["before0", "before1"]
    redis.start()

    def publish_when_back(s, data):
        """Each node reconnects by itself: the first 201 after the 503s."""
        def once():
            r = httpx.post(f"{s.url}/pub/outage", content=data, timeout=5)
            assert r.status_code in (201, 503), r.text
            return r.json()["id"] if r.status_code == 201 else None
        return wait_for(once, 30, f"{s.url} never published again after Redis came back")
    acked.append(publish_when_back(n2, b"back"))
    acked.append(publish_when_back(n1, b"back1"))
    acked.append(publish_when_back(n3, b"after"))
    for s in subs:
        res = s.read(n=5, timeout=15)
        assert not res.closed
        assert res.datas == ["before0", "before1", "back", "back1", "after"]
        assert ids_of(res) == acked
        s.close()
    for s in cluster:
        assert s.alive()


def test_lost_pubsub_connection_is_filled_from_the_stream(redis, cluster):
    n1, n2, n3 = cluster
    sub = SSEClient(n2.port, "fill").open()
    with Publisher(n1.url) as p:
        acked = p.publish_many("fill", ["f0", "f1"])
        assert sub.read(n=2, timeout=10).datas == ["f0", "f1"]
        # Cut node 2's pub/sub connection alone: the notices sent meanwhile are lost to it.
        conns = [dict(kv.split("=", 1) for kv in line.split()) for line in redis.cmd("CLIENT", "LIST").splitlines()]
        victim = [c["id"] for c in conns if c.get("name") == "crier:n2:sub"]
        assert len(victim) == 1, conns
        redis.cmd("CLIENT", "KILL", "ID", victim[0])
        acked += p.publish_many("fill", [f"g{i}" for i in range(5)])
    # Node 2 reconnects by itself and reads the stream after the last id it delivered.
    res = sub.read(n=7, timeout=15)
    assert res.datas == ["f0", "f1"] + [f"g{i}" for i in range(5)]
    assert ids_of(res) == acked and not res.closed
    with Publisher(n3.url) as p:
        acked.append(p.publish("fill", "h")["id"])
    assert ids_of(sub.read(n=8, timeout=10)) == acked
    sub.close()


def test_node_killed_others_carry_on_and_its_subscribers_resume(redis, cluster):
    n1, n2, n3 = cluster
    on1 = SSEClient(n1.port, "crash").open()
    on2 = SSEClient(n2.port, "crash").open()
    assert stats(n2, "crash")["subscribers"] == 2
    with Publisher(n1.url) as p:
        p.publish_many("crash", ["x0", "x1"])
    res = on1.read(n=2, timeout=10)
    cursor = res.cursor
    n1.kill()  # SIGKILL, as a crashed node: no shutdown at all
    on1.close()
    with Publisher(n2.url) as p:
        missed = p.publish_many("crash", ["y0", "y1", "y2"])
    assert on2.read(n=5, timeout=10).datas == ["x0", "x1", "y0", "y1", "y2"]
    # The killed node's subscriber resumes on node 3 and misses nothing.
    back = SSEClient(n3.port, "crash", last_event_id=cursor).open()
    res = back.read(n=3, timeout=10)
    assert ids_of(res) == missed and not res.notices
    # The dead node's count goes away by itself.
    wait_for(lambda: stats(n2, "crash")["subscribers"] == 2, 15, "the killed node is still counted")
    back.close()
    on2.close()


def test_resume_from_beyond_retention_on_another_node_reports_the_gap(redis):
    a, b = node(redis.url, "g1", "--history", "5"), node(redis.url, "g2", "--history", "5")
    try:
        with Publisher(a.url) as p:
            ids = p.publish_many("old", [f"o{i}" for i in range(20)])
        # Node 2 follows the channel from scratch: it keeps the last 5 and knows the rest went.
        c = SSEClient(b.port, "old", last_event_id=ids[2]).open()
        res = c.read(n=5, timeout=10)
        assert res.datas == [f"o{i}" for i in range(15, 20)]
        assert res.notices, "a resume from before the retained window must be told of the gap"
        c.close()
        # From inside the retained window: no gap, nothing missed.
        c = SSEClient(b.port, "old", last_event_id=ids[16]).open()
        res = c.read(n=3, timeout=10)
        assert ids_of(res) == ids[17:] and not res.notices
        c.close()
    finally:
        a.stop()
        b.stop()


def test_multi_channel_subscription_across_nodes(cluster):
    n1, n2, n3 = cluster
    sub = SSEClient(n2.port, ["left", "right"]).open()
    with Publisher(n1.url) as p1, Publisher(n3.url) as p3:
        p1.publish("left", "l0")
        p3.publish("right", "r0")
        p1.publish("left,right", "both")
    res = sub.read(n=4, timeout=10)
    assert res.datas == ["l0", "r0", "both", "both"]
    cursor = res.cursor
    sub.close()
    with Publisher(n3.url) as p:
        p.publish("right", "r1")
        p.publish("left", "l1")
    # The compound cursor resumes both channels on yet another node.
    again = SSEClient(n1.port, ["left", "right"], last_event_id=cursor).open()
    assert sorted(again.read(n=2, timeout=10).datas) == ["l1", "r1"]
    again.close()


def test_delete_on_one_node_tells_subscribers_on_the_others(redis, cluster):
    n1, n2, n3 = cluster
    far = SSEClient(n2.port, "doomed").open()
    with Publisher(n1.url) as p:
        p.publish("doomed", "last words")
    assert far.read(n=1, timeout=10).datas == ["last words"]
    r = httpx.delete(f"{n1.url}/pub/doomed", timeout=5)
    assert r.status_code == 200, r.text
    res = far.read(timeout=10, until=lambda res: res.closed or res.notices)
    assert [n["event"] for n in res.notices] == ["crier-deleted"]
    assert redis.cmd("EXISTS", "crier:s:doomed") == 0
    # The channel starts afresh on every node.
    again = SSEClient(n2.port, "doomed", since="all").open()
    with Publisher(n3.url) as p:
        p.publish("doomed", "reborn")
    assert again.read(n=1, timeout=10).datas == ["reborn"]
    again.close()
    far.close()


def test_sharding_over_two_redis_servers():
    r1, r2 = Redis(), Redis()
    urls = f"{r1.url},{r2.url}"
    a, b = node(urls, "s1"), node(urls, "s2")
    try:
        chans = [f"shard{i}" for i in range(24)]
        subs = {ch: SSEClient(b.port, ch).open() for ch in chans[:6]}
        with Publisher(a.url) as p:
            for ch in chans:
                p.publish(ch, f"to-{ch}")
        for ch, s in subs.items():
            assert s.read(n=1, timeout=10).datas == [f"to-{ch}"]
            s.close()
        on1 = {k.split(":", 2)[2] for k in r1.cmd("KEYS", "crier:s:*")}
        on2 = {k.split(":", 2)[2] for k in r2.cmd("KEYS", "crier:s:*")}
        assert on1 and on2 and not (on1 & on2)
        assert on1 | on2 == set(chans)
        # Each stream holds its message, with its id.
        ch = sorted(on2)[0]
        entries = r2.cmd("XRANGE", f"crier:s:{ch}", "-", "+")
        assert len(entries) == 1 and dict(zip(*[iter(entries[0][1])] * 2))["d"] == f"to-{ch}"
    finally:
        a.stop()
        b.stop()
        r1.close()
        r2.close()


def test_bad_redis_flags_are_refused():
    for flags, words in [(["--redis", "http://x"], "redis://"),
                         (["--redis", "redis://127.0.0.1:99999"], "port"),
                         (["--redis", "redis://a:1,,redis://b:2"], "empty"),
                         (["--redis", "rediss://127.0.0.1:6379"], "TLS"),
                         (["--redis", "redis://127.0.0.1:6379", "--redis-tls"], "TLS")]:
        p = subprocess.run([CRIER, "serve", "--listen", "127.0.0.1:0", *flags], capture_output=True, timeout=10)
        assert p.returncode == 2, (flags, p.stderr)
        assert words in p.stderr.decode(), (flags, p.stderr)


def test_password_and_database_from_the_url():
    r = Redis(password="s3cret:pw")
    good = bad = None
    try:
        good = node(f"redis://:s3cret:pw@127.0.0.1:{r.port}/2", "pw")
        bad = node(f"redis://:wrong@127.0.0.1:{r.port}", "nopw")
        sub = SSEClient(good.port, "locked").open()
        with Publisher(good.url) as p:
            p.publish("locked", "in")
        assert sub.read(n=1, timeout=10).datas == ["in"]
        sub.close()
        # The stream is in database 2, as the URL says.
        with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
            rd = RESPReader(s)
            for cmd in ([b"AUTH", b"s3cret:pw"], [b"SELECT", b"2"], [b"XLEN", b"crier:s:locked"]):
                s.sendall(b"*%d\r\n" % len(cmd) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in cmd))
                last = rd.reply()
            assert last == 1
        # A wrong password: refused publishes with a reason, the reason in the log, still serving.
        rr = httpx.post(f"{bad.url}/pub/locked", content=b"x", timeout=5)
        assert rr.status_code == 503 and rr.json()["error"]
        assert httpx.get(f"{bad.url}/health", timeout=5).status_code == 200
        wait_for(lambda: "AUTH" in bad.log(), 10, "the AUTH failure is not logged")
    finally:
        for s in (good, bad):
            if s:
                s.stop()
        r.close()


def test_new_subscriber_while_redis_is_down_gets_503_json(redis):
    s = node(redis.url, "lonely")
    try:
        redis.stop()
        r = httpx.get(f"{s.url}/sub/fresh", headers={"Accept": "text/event-stream"}, timeout=5)
        assert r.status_code == 503 and json.loads(r.text)["error"]
        assert httpx.get(f"{s.url}/health", timeout=5).status_code == 200
    finally:
        s.stop()
