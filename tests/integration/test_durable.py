"""The durable store (SQLite, the default engine): what survives a restart and
a kill -9, retention on disk, and clear failures (a damaged database, a full
disk). Each test starts its own crier processes on its own data directory.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time

import httpx
import pytest

from clients import NDJSONClient, Publisher
from conftest import CRIER, Server, free_port


@pytest.fixture
def datadir():
    d = tempfile.mkdtemp(prefix="crier-durable-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def read_all(url, channel, since="all"):
    """Every retained message after `since`, by polling until nothing is left."""
    out = []
    cursor = since
    with httpx.Client(timeout=10) as c:
        while True:
            r = c.get(f"{url}/sub/{channel}", params={"transport": "poll", "since": cursor})
            assert r.status_code in (200, 204), r.text
            if r.status_code == 204:
                return out
            batch = r.json()
            assert batch, "200 with an empty array"
            out += batch
            cursor = r.headers["x-crier-cursor"]


def id_key(i):
    ms, seq = i.split("-")
    return int(ms), int(seq)


def test_restart_keeps_history_ids_and_cursor(datadir):
    s = Server("--data", datadir)
    with Publisher(s.url) as p:
        ids = p.publish_many("news", [f"m{i}" for i in range(20)])
        p.publish("other", "x", event="ev", content_type="text/plain")
    before = read_all(s.url, "news")
    s.stop()

    s = Server("--data", datadir)
    try:
        after = read_all(s.url, "news")
        assert [m["id"] for m in after] == ids
        assert [m["data"] for m in after] == [m["data"] for m in before]
        other = read_all(s.url, "other")
        assert [(m["data"], m.get("event"), m.get("content_type")) for m in other] == [("x", "ev", "text/plain")]
        stats = httpx.get(f"{s.url}/pub/news").json()
        assert stats["messages"] == 20 and stats["last_id"] == ids[-1]
        # A subscriber resuming from the 10th id gets the rest and the new ones, once each.
        with Publisher(s.url) as p:
            new = p.publish_many("news", ["n0", "n1"])
        assert id_key(new[0]) > id_key(ids[-1])
        got = read_all(s.url, "news", since=ids[9])
        assert [m["id"] for m in got] == ids[10:] + new
        assert httpx.get(f"{s.url}/health").json()["engine"] == "sqlite"
    finally:
        s.stop()


def test_ids_stay_above_stored_ones_when_the_clock_is_behind(datadir):
    s = Server("--data", datadir)
    with Publisher(s.url) as p:
        p.publish("tick", "a")
    s.stop()
    # As if the clock went back an hour: the stored last id is in the "future".
    future = int(time.time() * 1000) + 3600 * 1000
    db = sqlite3.connect(os.path.join(datadir, "crier.db"))
    db.execute("UPDATE channels SET last_ms = ?, last_seq = 7 WHERE name = 'tick'", (future,))
    db.commit()
    db.close()
    s = Server("--data", datadir)
    try:
        with Publisher(s.url) as p:
            a = p.publish("tick", "b")["id"]
            b = p.publish("tick", "c")["id"]
        assert id_key(a) > (future, 7)
        assert id_key(b) > id_key(a)
    finally:
        s.stop()


def test_memory_flag_keeps_nothing(datadir):
    s = Server("--memory")
    try:
        assert httpx.get(f"{s.url}/health").json()["engine"] == "memory"
    finally:
        s.stop()


def publisher_loop(url, k, acked, stop, errors):
    """Publishes "p<k>-<i>" as fast as it can on one keep-alive connection,
    recording every payload answered 201; stops at the first failure."""
    p = Publisher(url, timeout=5)
    i = 0
    try:
        while not stop.is_set():
            payload = f"p{k}-{i}"
            try:
                status, _, body = p.request("POST", "/pub/crash", payload.encode())
            except (OSError, EOFError):
                return
            if status != 201:
                errors.append((status, body))
                return
            acked.append((payload, json.loads(body)["id"]))
            i += 1
    finally:
        p.close()


def test_kill9_loses_no_acknowledged_message(datadir):
    s = Server("--data", datadir, "--history", "0")
    stop = threading.Event()
    acked = [[] for _ in range(4)]
    errors = []
    threads = [threading.Thread(target=publisher_loop, args=(s.url, k, acked[k], stop, errors)) for k in range(4)]
    for t in threads:
        t.start()
    # Kill once the publishers are well under way (bounded: at most 60 s).
    deadline = time.monotonic() + 60
    while sum(len(a) for a in acked) < 3000 and time.monotonic() < deadline and not errors:
        time.sleep(0.01)
    s.kill()
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors
    total = sum(len(a) for a in acked)
    assert total >= 3000

    s2 = Server("--data", datadir, "--history", "0")
    try:
        got = read_all(s2.url, "crash")
        payloads = [m["data"] for m in got]
        ids = [m["id"] for m in got]
        # No duplicates at all, ids strictly increasing.
        assert len(set(payloads)) == len(payloads)
        assert all(id_key(a) < id_key(b) for a, b in zip(ids, ids[1:]))
        # Every acknowledged message, with the id it was acknowledged with.
        where = {m["data"]: m["id"] for m in got}
        for a in acked:
            for payload, mid in a:
                assert where.get(payload) == mid, (payload, mid)
        # Each publisher's messages in the order it sent them.
        for k in range(4):
            seq = [int(p.split("-")[1]) for p in payloads if p.startswith(f"p{k}-")]
            assert seq == sorted(seq)
            assert seq[:len(acked[k])] == list(range(len(acked[k])))
        # New publishes continue above every recovered id.
        with Publisher(s2.url) as p:
            nid = p.publish("crash", "after")["id"]
        assert id_key(nid) > id_key(ids[-1])
    finally:
        s2.stop()


def test_subscriber_resumes_across_restart_without_loss_or_duplicate(datadir):
    s = Server("--data", datadir)
    with Publisher(s.url) as p:
        first = p.publish_many("live", [f"a{i}" for i in range(5)])
    sub = NDJSONClient(s.port, "live", since="all").open()
    res = sub.read(n=5, timeout=10)
    sub.close()
    assert [m.data for m in res.messages] == [f"a{i}" for i in range(5)]
    cursor = res.cursor
    assert cursor == first[-1]
    with Publisher(s.url) as p:
        missed = p.publish_many("live", ["b0", "b1"])
    s.stop()
    s = Server("--data", datadir)
    try:
        with Publisher(s.url) as p:
            later = p.publish_many("live", ["c0"])
        sub = NDJSONClient(s.port, "live", since=cursor).open()
        res = sub.read(n=3, timeout=10)
        sub.close()
        assert [m.id for m in res.messages] == missed + later
        assert [m.data for m in res.messages] == ["b0", "b1", "c0"]
        assert not res.notices
    finally:
        s.stop()


def test_ttl_and_retention_apply_across_restart(datadir):
    s = Server("--data", datadir, "--history", "5")
    with Publisher(s.url) as p:
        p.publish("r", "short", ttl=1)
        ids = p.publish_many("r", [f"k{i}" for i in range(8)])
    s.stop()
    time.sleep(1.2)  # let the 1 s TTL pass while the server is down
    s = Server("--data", datadir, "--history", "5")
    try:
        got = read_all(s.url, "r")
        assert [m["id"] for m in got] == ids[-5:]
    finally:
        s.stop()


def test_database_stays_bounded_under_small_retention(datadir):
    s = Server("--data", datadir, "--history", "10")
    body = b"x" * 1024
    done = []

    def load(k):
        with Publisher(s.url) as p:
            for i in range(1500):
                status, _, _ = p.request("POST", f"/pub/bounded{k % 2}", body)
                assert status == 201
        done.append(k)

    threads = [threading.Thread(target=load, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(done) == 4
    s.stop()  # closing the database checkpoints the WAL into it
    assert not os.path.exists(os.path.join(datadir, "crier.db-wal"))
    size = os.path.getsize(os.path.join(datadir, "crier.db"))
    # 6,000 messages of 1 KiB went through; 20 are retained.
    assert size < 512 * 1024, size
    db = sqlite3.connect(os.path.join(datadir, "crier.db"))
    counts = dict(db.execute("SELECT ch, count(*) FROM msgs GROUP BY ch").fetchall())
    db.close()
    assert counts == {"bounded0": 10, "bounded1": 10}


def start_fails(*flags):
    """Runs crier serve expecting it to refuse to start; returns its output."""
    p = subprocess.run([CRIER, "serve", "--listen", f"127.0.0.1:{free_port()}", *flags],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    assert p.returncode != 0
    return p.stdout.decode("utf-8", "replace")


def test_corrupt_database_refuses_to_start(datadir):
    path = os.path.join(datadir, "crier.db")
    with open(path, "wb") as f:
        f.write(b"this is not a database, " * 400)
    out = start_fails("--data", datadir)
    assert path in out and "not a database" in out
    # The file is left as it was: nothing started empty over it.
    with open(path, "rb") as f:
        assert f.read(24) == b"this is not a database, "


def test_damaged_pages_refuse_to_start(datadir):
    s = Server("--data", datadir)
    with Publisher(s.url) as p:
        p.publish_many("d", ["x" * 2000] * 50)
    s.stop()
    path = os.path.join(datadir, "crier.db")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:  # keep the header, scribble over the pages after it
        f.seek(4096)
        f.write(os.urandom(size - 4096))
    out = start_fails("--data", datadir)
    assert path in out


def test_unusable_data_dir_and_second_server_refused(datadir):
    os.mkdir(os.path.join(datadir, "crier.db"))  # a directory where the file should be
    out = start_fails("--data", datadir)
    assert os.path.join(datadir, "crier.db") in out
    os.rmdir(os.path.join(datadir, "crier.db"))
    s = Server("--data", datadir)
    try:
        out = start_fails("--data", datadir)
        assert "locked" in out and "another crier" in out
        assert httpx.get(f"{s.url}/health").status_code == 200
    finally:
        s.stop()


def test_bad_flags():
    out = start_fails("--sync", "sometimes")
    assert "--sync" in out


@pytest.fixture
def small_fs():
    d = tempfile.mkdtemp(prefix="crier-smallfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", d], capture_output=True)
    if r.returncode != 0:
        os.rmdir(d)
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.decode())
    yield d
    subprocess.run(["umount", d])
    os.rmdir(d)


def test_full_disk_answers_503_and_recovers(small_fs):
    data = os.path.join(small_fs, "data")
    s = Server("--data", data, "--sync", "full")
    try:
        with Publisher(s.url) as p:
            p.publish("disk", "before")
        # Fill the file system (the filler can be removed later).
        filler = os.path.join(small_fs, "filler")
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
            except OSError:
                pass
        statuses = []
        with Publisher(s.url) as p:
            for i in range(200):
                status, _, body = p.request("POST", "/pub/disk", b"y" * 16384)
                statuses.append(status)
                if status == 503:
                    err = json.loads(body)["error"]
                    break
        assert statuses[-1] == 503, statuses
        assert "space" in err
        # Subscribers are still served while publishing fails.
        got = read_all(s.url, "disk")
        assert got[0]["data"] == "before"
        assert httpx.get(f"{s.url}/health").status_code == 200
        os.unlink(filler)
        with Publisher(s.url) as p:
            mid = p.publish("disk", "after")["id"]
        got = read_all(s.url, "disk")
        assert got[-1]["id"] == mid and got[-1]["data"] == "after"
        assert all(m["data"] != "" for m in got)
    finally:
        s.stop()
    # And what was acknowledged is on the disk.
    s = Server("--data", data)
    try:
        got = read_all(s.url, "disk")
        assert got[0]["data"] == "before" and got[-1]["data"] == "after"
    finally:
        s.stop()
