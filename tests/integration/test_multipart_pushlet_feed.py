"""multipart/mixed, multipart/x-mixed-replace, pushlet (forever frame) and the
Atom/RSS feeds, checked with real parsers: Python's email package (MIME),
xml.etree and xml.dom.minidom (XML), email.utils (RFC 822 dates), Node's JS
engine (pushlet scripts run as a browser would run them).
Run: CRIER_BIN=build/crier /usr/bin/python3 -m pytest -q tests/integration/test_multipart_pushlet_feed.py
"""
import base64
import datetime
import email.parser
import email.policy
import email.utils
import json
import re
import subprocess
import time
import xml.dom.minidom
import xml.etree.ElementTree as ET

import httpx
import pytest

from clients import HTTPStream, Publisher, sub_path, wait_subscribers

ATOM = "{http://www.w3.org/2005/Atom}"
PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")


def read_until(stream, pred, timeout=10.0):
    """Reads body pieces until pred(bytes so far) holds; returns the bytes."""
    deadline = time.monotonic() + timeout
    got = b""
    while not pred(got):
        piece = stream.read_body(deadline)
        assert piece is not None, f"deadline reached; got {got[-400:]!r}"
        if piece == b"":
            break
        got += piece
    return got


def boundary_of(headers):
    m = re.search(r'boundary="?([^";]+)"?', headers["content-type"])
    assert m, headers
    return m.group(1)


def parse_parts(body, boundary):
    """Splits a multipart body (as streamed so far) into (headers, payload) by the
    RFC 2046 rule: a part ends at CRLF--boundary. Returns the complete parts."""
    first = b"--" + boundary.encode() + b"\r\n"
    if len(body) < len(first):
        return []
    assert body.startswith(first), body[:100]
    delim = b"\r\n--" + boundary.encode()
    rest = body[len(first):]
    parts = []
    while True:
        i = rest.find(delim)
        if i < 0:
            break
        part, rest = rest[:i], rest[i + len(delim):]
        head, _, payload = part.partition(b"\r\n\r\n")
        hdrs = {}
        for line in head.decode("latin-1").split("\r\n"):
            if line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        parts.append((hdrs, payload))
        if rest.startswith(b"--"):
            break
        assert rest.startswith(b"\r\n"), rest[:40]
        rest = rest[2:]
    return parts


@pytest.fixture(scope="module")
def pub(server):
    with Publisher(server.url) as p:
        yield p


# --- multipart/mixed ---------------------------------------------------------------------------------------


def test_multipart_mixed_one_part_per_message(server, pub):
    s = HTTPStream(server.port, "/sub/mp1", headers={"Accept": "multipart/mixed"})
    try:
        status, h = s.read_head()
        assert status == 200
        assert h["content-type"].startswith("multipart/mixed; boundary=")
        b = boundary_of(h)
        wait_subscribers(server.url, "mp1", 1)
        m1 = pub.publish("mp1", "hello")
        m2 = pub.publish("mp1", PNG_1x1, content_type="image/png")
        m3 = pub.publish("mp1", '{"x": "</script>"}', content_type="application/json", event="tick")
        # Each part is complete (its delimiter sent) as soon as its message is published.
        body = read_until(s, lambda got: len(parse_parts(got, b)) >= 3)
        parts = parse_parts(body, b)
        assert [p[1] for p in parts] == [b"hello", PNG_1x1, b'{"x": "</script>"}']
        assert [p[0]["x-crier-id"] for p in parts] == [m1["id"], m2["id"], m3["id"]]
        assert parts[0][0]["content-type"] == "application/octet-stream"
        assert parts[1][0]["content-type"] == "image/png"
        assert parts[2][0]["content-type"] == "application/json"
        assert parts[2][0]["x-crier-event"] == "tick"
        assert all(int(p[0]["content-length"]) == len(p[1]) for p in parts)
        assert parts[1][0]["content-id"] == f"<{m2['id']}.mp1@crier>"
        # Deleting the channel ends the body: a notice part and the close delimiter.
        assert httpx.delete(server.url + "/pub/mp1").status_code == 200
        body += read_until(s, lambda got: False, timeout=5)
        assert body.endswith(b"\r\n--" + b.encode() + b"--\r\n")
        # A standard MIME parser reads the whole body back.
        msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            f"Content-Type: {h['content-type']}\r\n\r\n".encode() + body)
        got = list(msg.iter_parts())
        assert [p.get_content_type() for p in got] == [
            "application/octet-stream", "image/png", "application/json", "application/json"]
        assert got[1].get_payload(decode=True) == PNG_1x1
        assert got[3]["X-Crier-Event"] == "crier-deleted"
        assert json.loads(got[3].get_payload(decode=True)) == {"event": "crier-deleted", "channel": "mp1"}
    finally:
        s.close()


def test_multipart_boundary_is_random_and_payloads_cannot_forge_it(server, pub):
    streams = [HTTPStream(server.port, sub_path("mp2", transport="multipart")) for _ in range(2)]
    try:
        bs = [boundary_of(st.read_head()[1]) for st in streams]
        assert bs[0] != bs[1]
        for b in bs:
            assert len(b) <= 70 and len(re.sub(r"[^0-9a-f]", "", b.split("-", 1)[1])) >= 32
        wait_subscribers(server.url, "mp2", 2)
        # A payload that carries what looks like a delimiter (even another stream's prefix).
        fake = b"a\r\n--crier-0000\r\nContent-Type: text/html\r\n\r\n<b>forged</b>\r\n--" + b"x" * 10
        pub.publish("mp2", fake)
        pub.publish("mp2", "after")
        for st, b in zip(streams, bs):
            body = read_until(st, lambda got, b=b: len(parse_parts(got, b)) >= 2)
            assert [p[1] for p in parse_parts(body, b)] == [fake, b"after"]
    finally:
        for st in streams:
            st.close()


def test_payload_carrying_a_streams_own_boundary_ends_that_stream_cleanly(server, pub):
    """A subscriber knows its boundary and may publish it: its own stream ends with a
    crier-close part and the close delimiter (resume to get the message on a new
    boundary); another stream, on another boundary, gets the message intact."""
    a = HTTPStream(server.port, sub_path("mp5", transport="multipart"))
    b = HTTPStream(server.port, sub_path("mp5", transport="replace"))
    try:
        ba, bb = boundary_of(a.read_head()[1]), boundary_of(b.read_head()[1])
        wait_subscribers(server.url, "mp5", 2)
        evil = b"x\r\n--" + ba.encode() + b"--\r\n"
        m = pub.publish("mp5", evil)
        body = read_until(a, lambda got: False, timeout=5)  # until the stream ends
        parts = parse_parts(body, ba)
        assert len(parts) == 1 and parts[0][0]["x-crier-event"] == "crier-close"
        assert body.endswith(b"\r\n--" + ba.encode() + b"--\r\n")
        head = b"Content-Type: application/octet-stream\r\n\r\n"
        nxt = b"\r\n--" + bb.encode() + b"\r\n" + head
        got = read_until(b, lambda got: got.endswith(nxt))
        assert got == b"--" + bb.encode() + b"\r\n" + head + evil + nxt
        # Resuming gets the message on a fresh boundary.
        c = HTTPStream(server.port, sub_path("mp5", transport="multipart", since="all"))
        try:
            bc = boundary_of(c.read_head()[1])
            assert bc != ba
            body = read_until(c, lambda got: len(parse_parts(got, bc)) >= 1)
            assert parse_parts(body, bc)[0][1] == evil and parse_parts(body, bc)[0][0]["x-crier-id"] == m["id"]
        finally:
            c.close()
    finally:
        a.close()
        b.close()
    assert httpx.get(server.url + "/health").status_code == 200


def test_multipart_resume_and_gap_notice(server, pub):
    ids = pub.publish_many("mp3", ["one", "two", "three"])
    s = HTTPStream(server.port, sub_path("mp3", transport="mixed", since=ids[0]))
    try:
        b = boundary_of(s.read_head()[1])
        body = read_until(s, lambda got: len(parse_parts(got, b)) >= 2)
        assert [p[1] for p in parse_parts(body, b)][:2] == [b"two", b"three"]
    finally:
        s.close()
    # A cursor the channel never issued (from before a restart): told in band, never silently.
    s = HTTPStream(server.port, sub_path("mp3", transport="multipart", since="99999999999999-0"))
    try:
        st, h = s.read_head()
        b = boundary_of(h)
        assert h.get("x-crier-gap") == "mp3"
        body = read_until(s, lambda got: len(parse_parts(got, b)) >= 1)
        notice = parse_parts(body, b)[0]
        assert notice[0]["x-crier-event"] == "crier-gap"
        assert json.loads(notice[1])["channels"] == ["mp3"]
    finally:
        s.close()


def test_multipart_heartbeat_parts(server):
    s = HTTPStream(server.port, sub_path("mp4", transport="multipart"))
    try:
        b = boundary_of(s.read_head()[1])
        body = read_until(s, lambda got: len(parse_parts(got, b)) >= 1, timeout=5)  # --heartbeat 1s
        hdrs, payload = parse_parts(body, b)[0]
        assert hdrs["x-crier-event"] == "heartbeat" and payload == b""
    finally:
        s.close()


# --- multipart/x-mixed-replace ---------------------------------------------------------------------------


def test_replace_layout_shows_each_part_at_once(server, pub):
    pub.publish("rp1", PNG_1x1, content_type="image/png")  # the current picture
    s = HTTPStream(server.port, "/sub/rp1", headers={"Accept": "multipart/x-mixed-replace"})
    try:
        status, h = s.read_head()
        assert status == 200 and h["content-type"].startswith("multipart/x-mixed-replace; boundary=")
        b = boundary_of(h).encode()
        nxt = b"\r\n--" + b + b"\r\nContent-Type: image/png\r\n\r\n"
        # No cursor: the newest retained picture first, and the next part's headers right
        # behind it (what Chromium needs to show a part without waiting for the next one).
        body = read_until(s, lambda got: got.endswith(nxt))
        assert body == b"--" + b + b"\r\nContent-Type: image/png\r\n\r\n" + PNG_1x1 + nxt
        wait_subscribers(server.url, "rp1", 1)
        second = PNG_1x1[:-1] + b"\x83"
        pub.publish("rp1", second, content_type="image/png")
        body = read_until(s, lambda got: got.endswith(nxt))
        assert body == second + nxt
        # Another type: the part announced as image/png is closed empty, then the text part.
        pub.publish("rp1", "now text", content_type="text/plain")
        tnext = b"\r\n--" + b + b"\r\nContent-Type: text/plain\r\n\r\n"
        body = read_until(s, lambda got: got.endswith(tnext) and b"now text" in got)
        assert body == tnext + b"now text" + tnext
        parts = parse_parts(b"--" + b + b"\r\n" + b"Content-Type: image/png\r\n\r\n" + body, b.decode())
        assert [p[1] for p in parts] == [b"", b"now text"]
    finally:
        s.close()


def test_replace_with_since_replays_in_order(server, pub):
    ids = pub.publish_many("rp2", ["a", "b", "c"], content_type="text/plain")
    s = HTTPStream(server.port, sub_path("rp2", transport="replace", since=ids[0]))
    try:
        b = boundary_of(s.read_head()[1])
        body = read_until(s, lambda got: b"c\r\n--" in got)
        assert [p[1] for p in parse_parts(body, b)] == [b"b", b"c"]
    finally:
        s.close()


# --- pushlet ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cb", ["", "alert(1)", "a..b", "1x", "new", "x;y", "a-b", "</script>", "x" * 129,
                                "_crier_push", "a.b["])
def test_pushlet_bad_callback_is_400(server, cb):
    r = httpx.get(server.url + "/sub/pl0", params={"transport": "pushlet", "callback": cb})
    assert r.status_code == 400
    assert "callback" in r.json()["error"]
    r = httpx.get(server.url + "/sub/pl0", params={"transport": "pushlet"})
    assert r.status_code == 400 and "callback" in r.json()["error"]
    assert httpx.get(server.url + "/health").status_code == 200


NODE_RUNNER = r"""
// Runs the pushlet document's scripts in order, as a browser would, with the
// page's callback at parent.onMsg; prints what the callback received.
const vm = require('vm');
const html = require('fs').readFileSync(0, 'utf8');
const got = [];
const ctx = vm.createContext({parent: {onMsg: (m) => got.push(m)}});
const re = /<script>([\s\S]*?)<\/script>/g;
let m;
while ((m = re.exec(html))) vm.runInContext(m[1], ctx);
process.stdout.write(JSON.stringify(got));
"""


def test_pushlet_scripts_call_the_callback_with_each_message(server, pub):
    s = HTTPStream(server.port, sub_path("pl1", transport="pushlet", extra={"callback": "parent.onMsg"}))
    try:
        status, h = s.read_head()
        assert status == 200 and h["content-type"] == "text/html; charset=utf-8"
        wait_subscribers(server.url, "pl1", 1)
        nasty = "</script><script>parent.onMsg('pwned')</script><!-- \u2028\u2029 & ]]> \"'"
        m1 = pub.publish("pl1", nasty)
        m2 = pub.publish("pl1", b"\xff\x00binary", content_type="application/octet-stream", event="bin")
        doc = read_until(s, lambda got: got.count(b"<script>_crier_push(") >= 2)
        first_script = doc.index(b"<script>_crier_push(")
        assert first_script >= 1024  # padding: browsers render the first KiB late
        assert doc.count(b"</script>") == 3  # the relay definition and the two calls, no more
        assert "\u2028".encode() not in doc and "\u2029".encode() not in doc
        out = subprocess.run(["node", "-e", NODE_RUNNER], input=doc, capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        assert [g["id"] for g in got] == [m1["id"], m2["id"]]
        assert got[0]["data"] == nasty and got[0]["channel"] == "pl1"
        assert base64.b64decode(got[1]["data_base64"]) == b"\xff\x00binary" and got[1]["event"] == "bin"
        # Keep-alives are comments that render nothing (--heartbeat 1s).
        more = read_until(s, lambda got: b"<!-- -->" in got, timeout=5)
        assert b"<!-- -->" in more
        assert httpx.delete(server.url + "/pub/pl1").status_code == 200
        rest = read_until(s, lambda got: False, timeout=5)
        assert rest.endswith(b"</body></html>\n")
        out = subprocess.run(["node", "-e", NODE_RUNNER], input=doc + more + rest, capture_output=True, timeout=30)
        assert json.loads(out.stdout)[-1] == {"event": "crier-deleted", "channel": "pl1"}
    finally:
        s.close()


# --- feeds -------------------------------------------------------------------------------------------------


def rfc3339(s):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", s), s
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_feeds_are_valid_atom_and_rss(server, pub):
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    payloads = ["first <b>bold</b> & 'quoted'", "ctl\x01chars\x7f and \ufffe", "second\nline"]
    ids = [pub.publish("fd1", p, event="note")["id"] for p in payloads]
    ids.append(pub.publish("fd1", PNG_1x1, content_type="image/png")["id"])
    after = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)

    r = httpx.get(server.url + "/feed/fd1.atom")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    xml.dom.minidom.parseString(r.content)  # well-formed for a second parser too
    root = ET.fromstring(r.content)
    assert root.tag == ATOM + "feed"
    for req in ("id", "title", "updated", "author"):
        assert root.find(ATOM + req) is not None, req
    assert root.find(f"{ATOM}link[@rel='self']").get("href") == server.url + "/feed/fd1.atom"
    entries = root.findall(ATOM + "entry")
    assert len(entries) == 4
    got_ids = [e.find(ATOM + "id").text for e in entries]
    assert got_ids == [f"tag:crier,2024:channel/fd1/{i}" for i in reversed(ids)]  # newest first
    for e in entries:
        assert e.find(ATOM + "title").text
        assert before <= rfc3339(e.find(ATOM + "updated").text) <= after
    assert rfc3339(root.find(ATOM + "updated").text) == rfc3339(entries[0].find(ATOM + "updated").text)
    binary = entries[0].find(ATOM + "content")
    assert binary.get("type") == "image/png" and base64.b64decode(binary.text) == PNG_1x1
    assert entries[3].find(ATOM + "content").text == payloads[0]
    assert entries[3].find(ATOM + "category").get("term") == "note"
    assert entries[2].find(ATOM + "content").text == "ctl\ufffdchars\x7f and \ufffd"
    assert entries[1].find(ATOM + "content").text == "second\nline"

    r = httpx.get(server.url + "/feed/fd1.rss")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/rss+xml")
    xml.dom.minidom.parseString(r.content)
    rss = ET.fromstring(r.content)
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    ch = rss.find("channel")
    for req in ("title", "link", "description"):
        assert ch.find(req).text, req
    items = ch.findall("item")
    assert [i.find("guid").text for i in items] == got_ids  # same stable ids as Atom
    assert all(i.find("guid").get("isPermaLink") == "false" for i in items)
    for i in items:
        d = email.utils.parsedate_to_datetime(i.find("pubDate").text)  # RFC 822
        assert before <= d <= after
    assert items[3].find("description").text == payloads[0]
    assert "PNG" not in items[0].find("description").text and "Binary" in items[0].find("description").text

    # Stable: the same ids on a second fetch.
    again = ET.fromstring(httpx.get(server.url + "/feed/fd1.atom").content)
    assert [e.find(ATOM + "id").text for e in again.findall(ATOM + "entry")] == got_ids


def test_feed_conditional_get(server, pub):
    pub.publish("fd2", "one")
    r = httpx.get(server.url + "/feed/fd2.atom")
    etag, lm = r.headers["etag"], r.headers["last-modified"]
    r2 = httpx.get(server.url + "/feed/fd2.atom", headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["etag"] == etag
    r3 = httpx.get(server.url + "/feed/fd2.atom", headers={"If-Modified-Since": lm})
    assert r3.status_code == 304
    assert httpx.get(server.url + "/feed/fd2.atom", headers={"If-None-Match": '"other"'}).status_code == 200
    time.sleep(1.1)  # Last-Modified has one-second resolution; the next message must be a later second
    pub.publish("fd2", "two")
    r4 = httpx.get(server.url + "/feed/fd2.atom", headers={"If-None-Match": etag})
    assert r4.status_code == 200 and r4.headers["etag"] != etag
    assert httpx.get(server.url + "/feed/fd2.atom", headers={"If-Modified-Since": lm}).status_code == 200
    assert httpx.get(server.url + "/feed/fd2.rss").headers["etag"] != r4.headers["etag"]
    h = httpx.head(server.url + "/feed/fd2.rss")
    assert h.status_code == 200 and h.content == b""


def test_feed_bounded_and_empty_and_errors(server, pub):
    ids = pub.publish_many("fd3", [f"m{i}" for i in range(60)])
    entries = ET.fromstring(httpx.get(server.url + "/feed/fd3.atom").content).findall(ATOM + "entry")
    assert len(entries) == 50
    assert entries[0].find(ATOM + "id").text.endswith(ids[-1])
    assert entries[-1].find(ATOM + "id").text.endswith(ids[10])
    # A channel that exists (a subscriber made it) but holds nothing: an empty, valid feed.
    assert httpx.get(server.url + "/sub/fd4", params={"transport": "poll"}).status_code in (200, 204, 304)
    r = httpx.get(server.url + "/feed/fd4.rss")
    assert r.status_code == 200 and ET.fromstring(r.content).find("channel").find("item") is None
    r = httpx.get(server.url + "/feed/fd4.atom")
    assert r.status_code == 200 and ET.fromstring(r.content).find(ATOM + "entry") is None
    for path, status in [("/feed/never-made.atom", 404), ("/feed/fd3.json", 404), ("/feed/fd3", 404),
                         ("/feed/bad%20name.rss", 400), ("/feed/.atom", 404), ("/feed/a,b.rss", 400)]:
        r = httpx.get(server.url + path)
        assert r.status_code == status, path
        assert r.json()["error"]
    # Large payloads: older entries give way so that the feed stays bounded in bytes too.
    big = "y" * (900 * 1024)
    big_ids = [pub.publish("fd5", big)["id"] for _ in range(4)]
    entries = ET.fromstring(httpx.get(server.url + "/feed/fd5.atom").content).findall(ATOM + "entry")
    assert [e.find(ATOM + "id").text.rsplit("/", 1)[1] for e in entries] == big_ids[::-1][:2]
    assert entries[0].find(ATOM + "content").text == big
    assert httpx.post(server.url + "/feed/fd3.atom").status_code == 405
    assert httpx.get(server.url + "/health").status_code == 200
