"""Content negotiation: the Accept header picks the push mechanism (weights,
wildcards, letter case, parameters), `?transport=` overrides it, browsers'
default Accept values keep getting long polling, and a malformed Accept is
ignored rather than fatal.

Each case subscribes with since=all to a channel holding one message, so every
mechanism answers at once: long polling with the message itself (its own
Content-Type), a stream with its head and then the message in its own framing.
Run: CRIER_BIN=$PWD/build/crier /usr/bin/python3 -m pytest -q tests/integration/test_accept.py
"""
import json
import time
import uuid

import pytest

from clients import HTTPStream, sub_path

PAYLOAD_TYPE = "text/x-accept-probe"

# (Accept, Content-Type the answer must start with, mechanism)
CASES = [
    (None, PAYLOAD_TYPE, "longpoll"),
    ("*/*", PAYLOAD_TYPE, "longpoll"),
    ("text/event-stream", "text/event-stream", "sse"),
    ("text/event-stream;q=0.9", "text/event-stream", "sse"),
    ("text/event-stream ; q=0.5 ; charset=utf-8", "text/event-stream", "sse"),
    ("TEXT/Event-Stream", "text/event-stream", "sse"),
    ("multipart/mixed, */*;q=0.1", "multipart/mixed", "multipart"),
    ("MULTIPART/X-MIXED-REPLACE;Q=1", "multipart/x-mixed-replace", "replace"),
    ("application/x-ndjson", "application/x-ndjson", "ndjson"),
    ("application/x-ndjson;q=0.2, text/event-stream;q=0.1", "application/x-ndjson", "ndjson"),
    ("application/json, text/event-stream", "text/event-stream", "sse"),
    # a stream named at a lower weight than "anything" loses to long polling
    ("text/event-stream;q=0.5, */*", PAYLOAD_TYPE, "longpoll"),
    # q=0 is "not acceptable"; a type wildcard never starts a stream
    ("text/event-stream;q=0", PAYLOAD_TYPE, "longpoll"),
    ("text/*", PAYLOAD_TYPE, "longpoll"),
    # browsers' defaults: <img> and an iframe keep long polling
    ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", PAYLOAD_TYPE, "longpoll"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
     "application/signed-exchange;v=b3;q=0.7", PAYLOAD_TYPE, "longpoll"),
    # malformed elements are skipped, well-formed ones beside them still count
    ("text/event-stream;q=2", PAYLOAD_TYPE, "longpoll"),
    ("text/event-stream;q=0.0001", PAYLOAD_TYPE, "longpoll"),
    ('text/event-stream;a="unterminated, application/x-ndjson', PAYLOAD_TYPE, "longpoll"),
    ("event-stream, application/x-ndjson", "application/x-ndjson", "ndjson"),
    ('text/plain;a="x, text/event-stream", multipart/mixed', "multipart/mixed", "multipart"),
]


def chan():
    return f"acc-{uuid.uuid4().hex[:12]}"


def read_until(stream, needle, timeout=10.0):
    """Body bytes until needle appears, the body ends, or the deadline (a
    safety net: the assertion is on the bytes, not on the time)."""
    deadline = time.monotonic() + timeout
    got = b""
    while needle not in got:
        piece = stream.read_body(deadline)
        if not piece:
            break
        got += piece
    return got


def subscribe(server, ch, accept, transport=None):
    headers = {} if accept is None else {"Accept": accept}
    s = HTTPStream(server.port, sub_path(ch, transport=transport, since="all"), headers)
    s.read_head()
    return s


@pytest.mark.parametrize("accept,ctype,mechanism", CASES)
def test_accept_picks_mechanism(server, pub, accept, ctype, mechanism):
    ch = chan()
    payload = f"probe-{uuid.uuid4().hex}"
    pub.publish(ch, payload, content_type=PAYLOAD_TYPE)
    s = subscribe(server, ch, accept)
    try:
        assert s.status == 200, (s.status, s.headers)
        assert s.headers["content-type"].startswith(ctype), s.headers
        body = read_until(s, payload.encode())
    finally:
        s.close()
    if mechanism == "longpoll":
        # the message itself, not a stream: a fixed length and nothing else
        assert not s.chunked
        assert int(s.headers["content-length"]) == len(payload)
        assert body == payload.encode()
    else:
        assert payload.encode() in body
        if mechanism == "sse":
            assert f"data: {payload}\n".encode() in body
        elif mechanism == "ndjson":
            assert f'"data":"{payload}"'.encode() in body
        else:
            assert f"Content-Type: {PAYLOAD_TYPE}".encode() in body


@pytest.mark.parametrize("accept,transport,ctype", [
    ("text/event-stream", "ndjson", "application/x-ndjson"),
    ("application/x-ndjson", "sse", "text/event-stream"),
    ("multipart/mixed", "longpoll", PAYLOAD_TYPE),
    ("image/*,*/*;q=0.8", "sse", "text/event-stream"),
    ("text/event-stream;q=2", "multipart", "multipart/mixed"),
])
def test_transport_param_overrides_accept(server, pub, accept, transport, ctype):
    ch = chan()
    payload = f"probe-{uuid.uuid4().hex}"
    pub.publish(ch, payload, content_type=PAYLOAD_TYPE)
    s = subscribe(server, ch, accept, transport=transport)
    try:
        assert s.status == 200, (s.status, s.headers)
        assert s.headers["content-type"].startswith(ctype), s.headers
        assert payload.encode() in read_until(s, payload.encode())
    finally:
        s.close()


def test_hostile_accept_values_then_server_still_serves(server, pub):
    """Values built to trip a parser: long, all separators, deep quoting.
    Each gets long polling (nothing in them names a stream), control bytes
    get a 400 with a JSON error, and an ordinary SSE subscriber afterwards
    still works."""
    ch = chan()
    payload = f"probe-{uuid.uuid4().hex}"
    pub.publish(ch, payload, content_type=PAYLOAD_TYPE)
    hostile = [
        ",", ";", "/", "*", "*/", "/*", "*/*;", "*/*;q", ";;;;", ",,,,,,,,",
        '"' * 101, "\\" * 99 + '"', 'a/b;x="' + "\\\"" * 500 + '"',
        "text/event-stream;q=0." + "0" * 2000 + "1",
        "a/b;" * 1500,
        "\xff\xfe/\xfd",
    ]
    for value in hostile:
        s = subscribe(server, ch, value)
        try:
            assert s.status == 200, (value[:40], s.status)
            assert s.headers["content-type"] == PAYLOAD_TYPE, (value[:40], s.headers)
            assert read_until(s, payload.encode()) == payload.encode()
        finally:
            s.close()
    # Control bytes are not field content at all: the HTTP parser refuses the request.
    for value in ["text/event-stream\x01", "text/\x7fevent-stream"]:
        s = subscribe(server, ch, value)
        try:
            assert s.status == 400, (value, s.status)
            body = read_until(s, b"}")
            assert s.headers["content-type"].startswith("application/json")
            assert json.loads(body)["error"], body
        finally:
            s.close()
    s = subscribe(server, ch, "text/event-stream")
    try:
        assert s.headers["content-type"].startswith("text/event-stream")
        assert f"data: {payload}\n".encode() in read_until(s, f"data: {payload}\n".encode())
    finally:
        s.close()
