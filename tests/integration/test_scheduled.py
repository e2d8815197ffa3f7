"""Scheduled pushes: X-Delay / X-At / ?delay= / ?at= answer 202 and publish at
the due time in due-time order; GET /pub/{ch}/scheduled lists them, DELETE
/pub/{ch}/scheduled/{id} cancels one; bad times are refused with a JSON error;
scheduled pushes survive a restart of the durable store.
"""
import json
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from clients import NDJSONClient, Publisher
from conftest import Server


@pytest.fixture(params=["sqlite", "memory"])
def srv(request):
    s = Server("--memory") if request.param == "memory" else Server()
    yield s
    s.stop()


def schedule(url, channel, data, headers=None, params=None):
    r = httpx.post(f"{url}/pub/{channel}", content=data, headers=headers or {}, params=params or {})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["scheduled"] is True and body["channel"] == channel
    return body


def test_delivered_in_due_order_with_fresh_ids(srv):
    with Publisher(srv.url) as p:
        before = p.publish("rem", "now")["id"]
    sub = NDJSONClient(srv.port, "rem", since=before).open()
    t0 = int(time.time() * 1000)
    late = schedule(srv.url, "rem", "late", {"X-Delay": "3s"})
    early = schedule(srv.url, "rem", "early", params={"delay": "1000ms"})
    assert early["id"] > late["id"]
    assert late["due"] >= t0 + 3000 and early["due"] >= t0 + 1000
    assert datetime.fromisoformat(late["due_at"].replace("Z", "+00:00")).timestamp() * 1000 == late["due"]
    res = sub.read(n=2, timeout=15)
    sub.close()
    assert [m.data for m in res.messages] == ["early", "late"]
    # Each was published no earlier than it was due, with an id above everything before it.
    assert res.messages[0].raw["time"] >= early["due"]
    assert res.messages[1].raw["time"] >= late["due"]
    ids = [before] + [m.id for m in res.messages]
    keys = [tuple(map(int, i.split("-"))) for i in ids]
    assert keys == sorted(keys) and len(set(keys)) == 3
    # Sent ones are no longer listed, and can't be cancelled.
    assert httpx.get(f"{srv.url}/pub/rem/scheduled").json()["count"] == 0
    r = httpx.delete(f"{srv.url}/pub/rem/scheduled/{early['id']}")
    assert r.status_code == 404 and "error" in r.json()


def test_at_forms_event_type_and_several_channels(srv):
    # Far enough ahead to stay in the future however slow the request (a sanitizer build).
    due = datetime.now(timezone.utc) + timedelta(milliseconds=2500)
    a = schedule(srv.url, "x1,x2", "both", {"X-At": due.isoformat().replace("+00:00", "Z"),
                                              "X-Event": "ding", "Content-Type": "text/plain"})
    assert abs(a["due"] - int(due.timestamp() * 1000)) <= 1
    b = schedule(srv.url, "x1", "unix", params={"at": f"{time.time() + 2:.3f}"})
    listed = httpx.get(f"{srv.url}/pub/x1/scheduled").json()
    assert listed["count"] == 2
    assert [i["id"] for i in listed["scheduled"]] == [b["id"], a["id"]]  # due order
    first = listed["scheduled"][1]
    assert first["event"] == "ding" and first["content_type"] == "text/plain" and first["data"] == "both"
    assert [i["id"] for i in httpx.get(f"{srv.url}/pub/x2/scheduled").json()["scheduled"]] == [a["id"]]
    s1 = NDJSONClient(srv.port, "x1,x2", since="all").open()
    res = s1.read(n=3, timeout=15)
    s1.close()
    got = sorted((m.channel, m.data, m.event) for m in res.messages)
    assert got == [("x1", "both", "ding"), ("x1", "unix", None), ("x2", "both", "ding")]


def test_list_and_cancel(srv):
    a = schedule(srv.url, "c", "a", {"X-Delay": "1h"})
    b = schedule(srv.url, "c", "b", {"X-Delay": "30m"})
    other = schedule(srv.url, "d", "o", {"X-Delay": "1h"})
    listed = httpx.get(f"{srv.url}/pub/c/scheduled").json()
    assert [i["id"] for i in listed["scheduled"]] == [b["id"], a["id"]]
    # Only on its own channel.
    assert httpx.delete(f"{srv.url}/pub/c/scheduled/{other['id']}").status_code == 404
    r = httpx.delete(f"{srv.url}/pub/c/scheduled/{a['id']}")
    assert r.status_code == 200 and r.json()["cancelled"] is True and r.json()["id"] == a["id"]
    r = httpx.delete(f"{srv.url}/pub/c/scheduled/{a['id']}")
    assert r.status_code == 404 and "error" in r.json()
    assert httpx.delete(f"{srv.url}/pub/c/scheduled/999999").status_code == 404
    r = httpx.delete(f"{srv.url}/pub/c/scheduled/abc")
    assert r.status_code == 400 and "error" in r.json()
    assert [i["id"] for i in httpx.get(f"{srv.url}/pub/c/scheduled").json()["scheduled"]] == [b["id"]]
    assert httpx.post(f"{srv.url}/pub/c/scheduled").status_code == 405
    assert httpx.get(f"{srv.url}/pub/c/elsewhere").status_code == 400  # "c/elsewhere" is no channel name
    assert httpx.get(f"{srv.url}/pub/bad%20name/scheduled").status_code == 400


@pytest.mark.parametrize("headers,params,words", [
    ({"X-Delay": "31d"}, {}, "30 days"),
    ({"X-At": "2001-01-01T00:00:00Z"}, {}, "past"),
    ({"X-At": "1000000000"}, {}, "past"),
    ({"X-Delay": "soon"}, {}, "X-Delay"),
    ({"X-Delay": "0"}, {}, "X-Delay"),
    ({"X-Delay": "-5"}, {}, "X-Delay"),
    ({}, {"delay": "30m1h"}, "X-Delay"),
    ({"X-At": "tomorrow"}, {}, "X-At"),
    ({"X-At": "2030-02-30T00:00:00Z"}, {}, "X-At"),
    ({"X-Delay": "10s", "X-At": "2030-01-01T00:00:00Z"}, {}, "not both"),
])
def test_bad_times_refused(srv, headers, params, words):
    r = httpx.post(f"{srv.url}/pub/bad", content=b"x", headers=headers, params=params)
    assert r.status_code == 400
    assert words in r.json()["error"]
    assert httpx.get(f"{srv.url}/pub/bad/scheduled").json()["count"] == 0
    assert httpx.get(f"{srv.url}/health").status_code == 200


def test_scheduled_pushes_survive_restart():
    d = tempfile.mkdtemp(prefix="crier-sched-")
    try:
        s = Server("--data", d)
        soon = schedule(s.url, "keep", "soon", {"X-Delay": "1500ms"})
        later = schedule(s.url, "keep", "later", {"X-Delay": "1h"})
        cancelled = schedule(s.url, "keep", "gone", {"X-Delay": "1h"})
        assert httpx.delete(f"{s.url}/pub/keep/scheduled/{cancelled['id']}").status_code == 200
        s.stop()
        s = Server("--data", d)
        try:
            listed = httpx.get(f"{s.url}/pub/keep/scheduled").json()["scheduled"]
            assert [(i["id"], i["due"], i["data"]) for i in listed] == \
                [(soon["id"], soon["due"], "soon"), (later["id"], later["due"], "later")]
            sub = NDJSONClient(s.port, "keep", since="all").open()
            res = sub.read(n=1, timeout=15)
            sub.close()
            assert [m.data for m in res.messages] == ["soon"]
            # A new schedule id is never one used before the restart.
            new = schedule(s.url, "keep", "new", {"X-Delay": "1h"})
            assert new["id"] > cancelled["id"]
        finally:
            s.stop()
        # Delivered once: after another restart it is neither scheduled nor sent again.
        s = Server("--data", d)
        try:
            listed = httpx.get(f"{s.url}/pub/keep/scheduled").json()["scheduled"]
            assert [i["data"] for i in listed] == ["later", "new"]
            r = httpx.get(f"{s.url}/sub/keep", params={"transport": "poll", "since": "all"})
            assert [m["data"] for m in r.json()] == ["soon"]
        finally:
            s.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)
