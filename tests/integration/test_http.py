"""The HTTP/1.1 layer of crier, tested from the wire: malformed and oversized
requests, exact limits, pipelining, keep-alive, HTTP/1.0, chunked bodies,
Expect: 100-continue, timeouts, resets and many connections.

Raw sockets are used wherever the exact bytes matter; httpx where a normal
client is the point. Every error answer must be JSON {"error": "..."}, and the
server must go on serving (GET /health -> 200) after each bad input.

Run: CRIER_BIN=$PWD/build/crier /usr/bin/python3 -m pytest -q tests/integration/test_http.py
"""
import re
import select
import socket
import time

import httpx
import pytest

from clients import Conn, assert_json_error, parse_responses, recv_to_eof, unique
from conftest import raw_request

DEFAULT_MAX_HEAD = 16 * 1024
DEFAULT_MAX_BODY = 1024 * 1024


# --- helpers ------------------------------------------------------------------------------------------


def req(method, path, headers=(), body=None, version="1.1", host=True):
    lines = [f"{method} {path} HTTP/{version}"]
    if host:
        lines.append("Host: test")
    lines += list(headers)
    if body is not None and not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode()
    if body is not None:
        data += body if isinstance(body, bytes) else body.encode()
    return data


def assert_healthy(srv):
    r = httpx.get(srv.url + "/health", timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ok"
    assert srv.alive()


def error_exchange(srv, data, status, timeout=5.0):
    """Sends data on a fresh connection; expects exactly one JSON error of status,
    marked Connection: close, and the connection closed after it."""
    out = raw_request(srv.port, data, timeout=timeout)
    assert out, "no answer"
    rs = parse_responses(out)
    assert len(rs) == 1, rs
    assert_json_error(rs[0], status)
    assert rs[0].closes(), rs[0]
    return rs[0]


def poll_all(srv, ch):
    r = httpx.get(f"{srv.url}/sub/{ch}", params={"transport": "poll", "since": "all"}, timeout=5)
    if r.status_code == 204:
        return []
    assert r.status_code == 200, r.text
    return r.json()


def chunked(*parts, ext=None, trailers=b""):
    out = b""
    for p in parts:
        size = f"{len(p):x}".encode()
        if ext:
            size += ext
        out += size + b"\r\n" + p + b"\r\n"
    return out + b"0\r\n" + trailers + b"\r\n"


# --- malformed input -------------------------------------------------------------------------------------


H = b"Host: test\r\n"
MALFORMED = [
    ("garbage request line", b"HELLO\r\n\r\n"),
    ("no target", b"GET HTTP/1.1\r\n" + H + b"\r\n"),
    ("two spaces after method", b"GET  /health HTTP/1.1\r\n" + H + b"\r\n"),
    ("two spaces before version", b"GET /health  HTTP/1.1\r\n" + H + b"\r\n"),
    ("no version (HTTP/0.9 style)", b"GET /health\r\n" + H + b"\r\n"),
    ("lower-case protocol", b"GET /health http/1.1\r\n" + H + b"\r\n"),
    ("version not digits", b"GET /health HTTP/1.x\r\n" + H + b"\r\n"),
    ("authority-form target", b"GET test:80 HTTP/1.1\r\n" + H + b"\r\n"),
    ("fragment in target", b"GET /health#top HTTP/1.1\r\n" + H + b"\r\n"),
    ("asterisk target with GET", b"GET * HTTP/1.1\r\n" + H + b"\r\n"),
    ("control byte in method", b"G\x01T /health HTTP/1.1\r\n" + H + b"\r\n"),
    ("header without colon", b"GET /health HTTP/1.1\r\n" + H + b"NoColonHere\r\n\r\n"),
    ("space before colon", b"GET /health HTTP/1.1\r\nHost : test\r\n\r\n"),
    ("empty header name", b"GET /health HTTP/1.1\r\n" + H + b": value\r\n\r\n"),
    ("obs-fold", b"GET /health HTTP/1.1\r\n" + H + b"X-A: one\r\n  two\r\n\r\n"),
    ("obs-fold with tab", b"GET /health HTTP/1.1\r\n" + H + b"X-A: one\r\n\ttwo\r\n\r\n"),
    ("whitespace before the first header", b"GET /health HTTP/1.1\r\n Host: test\r\n\r\n"),
    ("bare CR inside a header value", b"GET /health HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n"),
    ("bare CR ending the request line", b"GET /health HTTP/1.1\r" + H + b"\r\n"),
    ("bare LF line endings", b"GET /health HTTP/1.1\nHost: test\n\n"),
    ("NUL in a header value", b"GET /health HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n"),
    ("DEL in a header value", b"GET /health HTTP/1.1\r\n" + H + b"X-A: a\x7fb\r\n\r\n"),
    ("Content-Length with Transfer-Encoding",
     b"POST /pub/x HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("Transfer-Encoding with Content-Length",
     b"POST /pub/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello"),
    ("Content-Length not a number", b"POST /pub/x HTTP/1.1\r\n" + H + b"Content-Length: abc\r\n\r\n"),
    ("Content-Length negative", b"POST /pub/x HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n"),
    ("Content-Length with a sign", b"POST /pub/x HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello"),
    ("Content-Length hex", b"POST /pub/x HTTP/1.1\r\n" + H + b"Content-Length: 0x5\r\n\r\nhello"),
    ("Content-Length empty", b"POST /pub/x HTTP/1.1\r\n" + H + b"Content-Length:\r\n\r\n"),
    ("Content-Length overflowing 64 bits",
     b"POST /pub/x HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999999999\r\n\r\n"),
    ("two different Content-Lengths",
     b"POST /pub/x HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    ("Transfer-Encoding chunked then identity",
     b"POST /pub/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"),
    ("Transfer-Encoding xchunked", b"POST /pub/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
    ("Transfer-Encoding not ending in chunked", b"POST /pub/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n"),
    ("chunked applied twice",
     b"POST /pub/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
    ("Transfer-Encoding on HTTP/1.0", b"POST /pub/x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("HTTP/1.1 without Host", b"GET /health HTTP/1.1\r\n\r\n"),
    ("two Host headers", b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("chunk size not hex", b"POST /pub/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    ("chunk size empty", b"POST /pub/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n"),
    ("chunk data longer than its size",
     b"POST /pub/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"),
    ("chunk size line ended by bare LF",
     b"POST /pub/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
    ("chunk size over 64 bits",
     b"POST /pub/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n00000000000000005\r\nhello\r\n0\r\n\r\n"),
    ("chunk extension with a control byte",
     b"POST /pub/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5;a=\x01\r\nhello\r\n0\r\n\r\n"),
    ("obs-fold in a trailer",
     b"POST /pub/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n"),
]


@pytest.mark.parametrize("data", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_request_gets_400_and_server_goes_on(server, data):
    error_exchange(server, data, 400)
    assert_healthy(server)


def test_malformed_publish_stores_nothing(server):
    ch = unique("smuggle")
    data = (f"POST /pub/{ch} HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n0\r\n\r\n").encode()
    error_exchange(server, data, 400)
    assert httpx.get(f"{server.url}/pub/{ch}", timeout=5).status_code == 404


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/3.0", b"HTTP/0.9"])
def test_unsupported_version_gets_505(server, version):
    r = error_exchange(server, b"GET /health " + version + b"\r\nHost: test\r\n\r\n", 505)
    assert r.status == 505
    assert_healthy(server)


def test_h2_preface_is_refused_cleanly(server):
    # The HTTP/2 connection preface on the HTTP/1.1 port ("PRI * HTTP/2.0").
    out = raw_request(server.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    rs = parse_responses(out)
    assert len(rs) == 1
    assert rs[0].status in (400, 505)
    assert_json_error(rs[0], rs[0].status)
    assert_healthy(server)


def test_error_after_good_request_on_same_connection(server):
    # A good request, then a malformed one, then a good one, pipelined: the
    # first is answered, the second gets 400 and the connection ends there.
    data = req("GET", "/health") + b"GET /health HTTP/1.1\r\nBroken\r\n\r\n" + req("GET", "/health")
    rs = parse_responses(raw_request(server.port, data))
    assert [r.status for r in rs] == [200, 400], rs
    assert rs[0].json()["status"] == "ok"
    assert_json_error(rs[1], 400)
    assert rs[1].closes()
    assert_healthy(server)


def test_bad_request_counted_in_metrics(server):
    def bad_total():
        text = httpx.get(server.url + "/metrics", timeout=5).text
        return int(re.search(r"^crier_bad_requests_total (\d+)$", text, re.M).group(1))

    before = bad_total()
    error_exchange(server, b"GET /health HTTP/1.1\r\n\r\n", 400)
    error_exchange(server, b"NOPE\r\n\r\n", 400)
    assert bad_total() == before + 2


def test_leading_empty_lines_are_ignored(server):
    # RFC 9112 section 2.2: a server SHOULD ignore empty lines before the request line.
    rs = parse_responses(raw_request(server.port, b"\r\n\r\n" + req("GET", "/health", ["Connection: close"])))
    assert [r.status for r in rs] == [200]


def test_absolute_form_target_is_accepted(server):
    # Sent: "GET http://test/health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    # Expected: 200 (the path /health is served). Actual: 400 malformed request.
    rs = parse_responses(raw_request(server.port, b"GET http://test/health HTTP/1.1\r\nHost: test\r\n"
                                                  b"Connection: close\r\n\r\n"))
    assert [r.status for r in rs] == [200], rs


def test_header_names_are_case_insensitive_and_values_trimmed(server):
    ch = unique("case")
    data = (f"POST /pub/{ch} HTTP/1.1\r\nhOsT: t\r\ncontent-LENGTH:   5  \r\nCONNECTION:\tclose\r\n\r\n"
            "hello").encode()
    rs = parse_responses(raw_request(server.port, data))
    assert [r.status for r in rs] == [201]
    assert rs[0].closes()
    assert [m["data"] for m in poll_all(server, ch)] == ["hello"]


def test_repeated_equal_content_length_is_accepted(server):
    ch = unique("cl2")
    data = (f"POST /pub/{ch} HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
            "Connection: close\r\n\r\nhello").encode()
    rs = parse_responses(raw_request(server.port, data))
    assert [r.status for r in rs] == [201]
    assert [m["data"] for m in poll_all(server, ch)] == ["hello"]


def test_get_with_a_body_is_framed_correctly(server):
    # The body of a GET is read and skipped, not taken for the next request.
    data = req("GET", "/health", body=b"GET /nope HTTP/1.1\r\n\r\n") + req("GET", "/health", ["Connection: close"])
    rs = parse_responses(raw_request(server.port, data))
    assert [r.status for r in rs] == [200, 200], rs


def test_post_without_length_has_an_empty_body(server):
    # No Content-Length and no Transfer-Encoding: the request has no body (RFC
    # 9112 6.3), so what follows is the next request.
    ch = unique("nolen")
    data = f"POST /pub/{ch} HTTP/1.1\r\nHost: t\r\n\r\n".encode() + req("GET", f"/pub/{ch}", ["Connection: close"])
    rs = parse_responses(raw_request(server.port, data))
    assert [r.status for r in rs] == [201, 200], rs
    assert rs[1].json()["messages"] == 1
    assert [m["data"] for m in poll_all(server, ch)] == [""]


# --- header limits ------------------------------------------------------------------------------------------


def head_of_exact_size(size, path="/health", extra=""):
    """A GET whose head (request line .. empty line) is exactly size bytes."""
    prefix = f"GET {path} HTTP/1.1\r\nHost: test\r\n{extra}X-Pad: ".encode()
    suffix = b"\r\n\r\n"
    pad = size - len(prefix) - len(suffix)
    assert pad > 0
    data = prefix + b"a" * pad + suffix
    assert len(data) == size
    return data


def test_head_of_exactly_the_default_limit_passes(server):
    c = Conn(server.port)
    c.send(head_of_exact_size(DEFAULT_MAX_HEAD))
    r = c.read_response()
    assert r.status == 200, r
    assert r.json()["status"] == "ok"
    # and the connection is still usable
    c.send(req("GET", "/health"))
    assert c.read_response().status == 200
    c.close()


def test_head_one_byte_over_the_default_limit_gets_431(server):
    error_exchange(server, head_of_exact_size(DEFAULT_MAX_HEAD + 1), 431)
    assert_healthy(server)


def test_head_far_over_the_limit_gets_431(server):
    # 200 KiB of headers: answered with 431 without waiting for the end.
    big = b"GET /health HTTP/1.1\r\nHost: test\r\n" + b"".join(
        b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(200)) + b"\r\n"
    c = Conn(server.port)
    try:
        c.send(big)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may have answered and closed before all was sent
    r = c.read_response()
    assert_json_error(r, 431)
    c.close()
    assert_healthy(server)


def test_incomplete_head_over_the_limit_gets_431(server):
    # No end of head at all: 431 as soon as more than the limit arrived.
    c = Conn(server.port)
    c.send(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Long: " + b"x" * (DEFAULT_MAX_HEAD + 10))
    r = c.read_response()
    assert_json_error(r, 431)
    assert r.closes()
    c.close()
    assert_healthy(server)


def test_request_line_over_the_limit_gets_431(server):
    error_exchange(server, b"GET /" + b"a" * (DEFAULT_MAX_HEAD + 100) + b" HTTP/1.1\r\nHost: t\r\n\r\n", 431)
    assert_healthy(server)


def test_exact_head_limit_with_max_head_flag(make_server):
    srv = make_server("--max-head", "1k")
    c = Conn(srv.port)
    c.send(head_of_exact_size(1024))
    assert c.read_response().status == 200
    c.close()
    error_exchange(srv, head_of_exact_size(1025), 431)
    # a publish with a 1023-byte head and a body still fits: the body does not count
    ch = unique("mh")
    prefix = f"POST /pub/{ch} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: 5\r\nX-Pad: ".encode()
    data = prefix + b"p" * (1024 - len(prefix) - 4) + b"\r\n\r\nhello"
    assert data.index(b"\r\n\r\n") + 4 == 1024
    rs = parse_responses(raw_request(srv.port, data, timeout=2))
    assert rs[0].status == 201, rs
    assert_healthy(srv)


def headers_request(n):
    """A GET with exactly n header fields (Host included)."""
    lines = ["GET /health HTTP/1.1", "Host: test"] + [f"X-H{i}: {i}" for i in range(n - 1)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_64_headers_pass(server):
    c = Conn(server.port)
    c.send(headers_request(64))
    assert c.read_response().status == 200
    c.close()


def test_65_headers_get_431(server):
    error_exchange(server, headers_request(65), 431)
    assert_healthy(server)


# --- body limits ----------------------------------------------------------------------------------------------


def test_body_of_exactly_max_body_is_published(server):
    ch = unique("big")
    body = bytes([0x41 + i % 26 for i in range(DEFAULT_MAX_BODY)])
    c = Conn(server.port, timeout=10)
    c.send(req("POST", f"/pub/{ch}", body=body))
    r = c.read_response()
    assert r.status == 201, r
    c.close()
    msgs = poll_all(server, ch)
    assert len(msgs) == 1 and msgs[0]["data"].encode() == body


def test_content_length_over_max_body_gets_413_at_once(server):
    # Only the head is sent: the answer must not wait for the body.
    c = Conn(server.port)
    c.send(b"POST /pub/x413 HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (DEFAULT_MAX_BODY + 1))
    r = c.read_response()
    assert_json_error(r, 413)
    assert r.closes()
    c.close()
    assert httpx.get(server.url + "/pub/x413", timeout=5).status_code == 404
    assert_healthy(server)


def test_413_before_100_continue(server):
    c = Conn(server.port)
    c.send(b"POST /pub/x413c HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
           % (DEFAULT_MAX_BODY * 4))
    r = c.read_response()
    assert_json_error(r, 413)  # never a 100 Continue first
    c.close()
    assert_healthy(server)


def test_exact_body_limit_with_max_body_flag(make_server):
    srv = make_server("--max-body", "1k")
    ch = unique("mb")
    rs = parse_responses(raw_request(srv.port, req("POST", f"/pub/{ch}", ["Connection: close"], b"x" * 1024)))
    assert [r.status for r in rs] == [201]
    error_exchange(srv, req("POST", f"/pub/{ch}", body=b"x" * 1025), 413)
    # chunked: exactly 1024 decoded bytes pass, 1025 get 413 while decoding
    body = chunked(b"a" * 500, b"b" * 500, b"c" * 24)
    rs = parse_responses(raw_request(srv.port, req("POST", f"/pub/{ch}", ["Transfer-Encoding: chunked",
                                                                           "Connection: close"], body)))
    assert [r.status for r in rs] == [201]
    body = chunked(b"a" * 500, b"b" * 500, b"c" * 25)
    error_exchange(srv, req("POST", f"/pub/{ch}", ["Transfer-Encoding: chunked"], body), 413)
    msgs = poll_all(srv, ch)
    assert [len(m["data"]) for m in msgs] == [1024, 1024]
    assert_healthy(srv)


def test_chunk_size_over_max_body_gets_413_at_once(server):
    c = Conn(server.port)
    c.send(b"POST /pub/x413k HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n"
           % (DEFAULT_MAX_BODY + 1))
    r = c.read_response()
    assert_json_error(r, 413)
    c.close()
    assert_healthy(server)


def chunked_upload_over_limit(srv, nchunks):
    """A chunked publish of nchunks chunks of 32 KiB (33 of them exceed 1 MiB),
    all sent before reading; returns the first response."""
    c = Conn(srv.port, timeout=10)
    head = b"POST /pub/x413g HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = b"8000\r\n" + b"z" * 0x8000 + b"\r\n"
    try:
        c.send(head + piece * nchunks + b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        return c.read_response()
    finally:
        c.close()


def test_chunked_body_just_over_max_body_gets_413(server):
    # 33 chunks of 32 KiB: the 33rd chunk-size line takes the body past 1 MiB.
    r = chunked_upload_over_limit(server, 33)
    assert_json_error(r, 413)
    assert r.closes()
    assert httpx.get(server.url + "/pub/x413g", timeout=5).status_code == 404
    assert_healthy(server)


def chunked_upload_filling_input_buffer(max_head=DEFAULT_MAX_HEAD, max_body=DEFAULT_MAX_BODY):
    """A chunked publish laid out so that the body first goes over max_body on the
    very last byte of max_head + max_body + 64 KiB (the most input the server
    buffers for one request): a head of exactly max_head bytes, one big chunk,
    1-byte chunks padded with chunk extensions, then a size line "1\\r" whose CR
    is that last byte."""
    limit = max_head + max_body + 64 * 1024
    head = f"POST /pub/{unique('fill')} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nX-Pad: ".encode()
    head += b"h" * (max_head - len(head) - 4) + b"\r\n\r\n"
    assert len(head) == max_head
    pad_room = limit - max_head - 2  # everything between the head and the final "1\r"
    # k padding chunks "1;" + ext + "\r\nx\r\n" (7 + len(ext) bytes, ext 1..250)
    for k in range(1, max_body):
        big = max_body - k
        big_chunk_len = len(f"{big:x}") + 2 + big + 2
        room = pad_room - big_chunk_len
        if 8 * k <= room <= 257 * k:
            break
    exts = [room // k - 7] * k
    for i in range(room - sum(e + 7 for e in exts)):
        exts[i] += 1
    assert all(1 <= e <= 250 for e in exts)
    body = f"{big:x}\r\n".encode() + b"B" * big + b"\r\n"
    body += b"".join(b"1;" + b"e" * e + b"\r\nx\r\n" for e in exts)
    body += b"1\r"
    data = head + body
    assert len(data) == limit
    return data


def test_chunked_413_found_on_the_last_buffered_byte(server):
    # Sent: 1130496 bytes = a 16384-byte head (POST, Transfer-Encoding: chunked),
    # a 1 MiB-minus-k chunk, k 1-byte chunks with extensions, and "1\r" whose CR
    # is byte 1130496. Expected: 413 JSON then close. Actual: reset, no answer.
    data = chunked_upload_filling_input_buffer()
    c = Conn(server.port, timeout=10)
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        r = c.read_response()
    finally:
        c.close()
    assert_json_error(r, 413)
    assert_healthy(server)


def test_content_length_over_max_body_with_body_sent(server):
    # A client that sends 3 MB without waiting still gets its 413 (the server
    # drains what follows instead of resetting).
    c = Conn(server.port, timeout=10)
    c.send(b"POST /pub/x413b HTTP/1.1\r\nHost: t\r\nContent-Length: 3000000\r\n\r\n" + b"b" * 3000000)
    r = c.read_response()
    assert_json_error(r, 413)
    c.close()
    assert_healthy(server)


# --- routes ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/healthz", "/health/", "/pubx/a", "/sub", "/pub", "//health",
                                  "/channels/x"])
def test_unknown_route_404(server, path):
    c = Conn(server.port)
    c.send(req("GET", path))
    r = c.read_response()
    assert_json_error(r, 404)
    c.close()


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/health", "GET, HEAD"),
    ("POST", "/health", "GET, HEAD"),
    ("POST", "/channels", "GET, HEAD"),
    ("PUT", "/metrics", "GET, HEAD"),
    ("POST", "/", "GET, HEAD"),
    ("POST", "/sub/abc", "GET, HEAD"),
    ("DELETE", "/sub/abc", "GET, HEAD"),
    ("PATCH", "/pub/abc", "GET, HEAD, POST, PUT, DELETE"),
    ("OPTIONS", "/pub/abc", "GET, HEAD, POST, PUT, DELETE"),
])
def test_wrong_method_405_with_allow(server, method, path, allow):
    c = Conn(server.port)
    c.send(req(method, path, body=b"" if method in ("POST", "PUT", "PATCH") else None))
    r = c.read_response()
    assert_json_error(r, 405)
    got = {m.strip() for m in (r.header("allow") or "").split(",") if m.strip()}
    assert got == {m.strip() for m in allow.split(",")}, r
    assert method not in got
    c.close()


def test_query_string_does_not_change_the_route(server):
    r = httpx.get(server.url + "/health?x=1&y", timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_head_request_has_no_body(server):
    # Sent: "HEAD /health HTTP/1.1\r\nHost: test\r\n\r\nGET /health HTTP/1.1\r\nHost: test\r\n\r\n"
    # Expected: a response head with no body, then the GET's 200 right after it.
    c = Conn(server.port)
    c.send(req("HEAD", "/health") + req("GET", "/health"))
    first = c.read_response(head_request=True)
    second = c.read_response()
    c.close()
    assert first.status == 200, first
    assert second.status == 200, second
    assert second.json()["status"] == "ok"


@pytest.mark.parametrize("second,status", [
    (b"GET /health HTTP/1.1\r\nBroken\r\n\r\n", 400),
    (b"POST /pub/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\n", 413),
    (b"GET /health HTTP/2.0\r\nHost: t\r\n\r\n", 505),
], ids=["400", "413", "505"])
def test_error_answer_after_a_head_request_has_its_body(server, second, status):
    # Sent: "HEAD /health HTTP/1.1\r\nHost: test\r\n\r\n" + a bad request, pipelined.
    # Expected: the HEAD's head, then e.g. "HTTP/1.1 400 ...Content-Length: 30...\r\n\r\n{"error":...}".
    # (Regression: the error answer once kept the HEAD's "no body" and sent only its head.)
    c = Conn(server.port)
    c.send(req("HEAD", "/health") + second)
    first = c.read_response(head_request=True)
    assert first.status == 200
    r = c.read_response()
    c.close()
    assert_json_error(r, status)


def test_408_after_a_head_request_has_its_body(make_server):
    # Regression: the 408 once kept the previous HEAD's "no body" and sent only its head.
    srv = make_server("--header-timeout", "1s")
    c = Conn(srv.port, timeout=10)
    c.send(req("HEAD", "/health"))
    assert c.read_response(head_request=True).status == 200
    c.send(b"GET /health HTTP/1.1\r\n")  # never finished
    r = c.read_response()
    c.close()
    assert_json_error(r, 408)


# --- pipelining --------------------------------------------------------------------------------------------------


def test_pipelined_50_requests_answered_in_order(server):
    ch = unique("pipe")
    data = b""
    kinds = []
    for i in range(50):
        last = ["Connection: close"] if i == 49 else []
        if i % 3 != 2:
            data += req("POST", f"/pub/{ch}", last, f"msg-{i}")
            kinds.append(("pub", f"msg-{i}"))
        else:
            data += req("GET", f"/pub/{ch}", last)
            kinds.append(("stats", None))
    out = raw_request(server.port, data, timeout=10)
    rs = parse_responses(out)
    assert len(rs) == 50, rs[-3:]
    ids = []
    for (kind, _), r in zip(kinds, rs):
        if kind == "pub":
            assert r.status == 201, r
            j = r.json()
            assert j["channel"] == ch
            ids.append(j["id"])
        else:
            assert r.status == 200, r
            j = r.json()
            assert j["published"] == len(ids), (j, len(ids))
            assert j["last_id"] == ids[-1]
            assert j["first_id"] == ids[0]
    assert rs[-1].closes()
    assert [tuple(map(int, i.split("-"))) for i in ids] == sorted(tuple(map(int, i.split("-"))) for i in ids)
    assert len(set(ids)) == len(ids)
    msgs = poll_all(server, ch)
    assert [m["data"] for m in msgs] == [p for k, p in kinds if k == "pub"]


def test_pipelined_large_bodies_across_reads(server):
    # 60 publishes of 5000 bytes each (about 300 KB) in one send: requests
    # straddle the server's read buffers.
    ch = unique("pipebig")
    bodies = [bytes([0x61 + i % 26]) * 5000 for i in range(60)]
    data = b"".join(req("POST", f"/pub/{ch}", ["Connection: close"] if i == 59 else [], b)
                    for i, b in enumerate(bodies))
    rs = parse_responses(raw_request(server.port, data, timeout=10))
    assert [r.status for r in rs] == [201] * 60
    msgs = poll_all(server, ch)
    assert [m["data"].encode() for m in msgs] == bodies


def test_pipelined_request_byte_by_byte(server):
    # The same pipeline, written one byte per send: requests are reassembled.
    ch = unique("bytes")
    data = req("POST", f"/pub/{ch}", body="one") + req("GET", f"/pub/{ch}") + \
        req("POST", f"/pub/{ch}", ["Connection: close"], "two")
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for b in data:
        s.send(bytes([b]))
    out = recv_to_eof(s)
    s.close()
    rs = parse_responses(out)
    assert [r.status for r in rs] == [201, 200, 201]
    assert rs[1].json()["published"] == 1
    assert [m["data"] for m in poll_all(server, ch)] == ["one", "two"]


def test_pipelined_after_a_held_long_poll(server):
    # A long poll holds the connection; a request pipelined behind it waits
    # and is answered after the long poll's answer.
    ch = unique("lp")
    c = Conn(server.port)
    c.send(req("GET", f"/sub/{ch}") + req("GET", f"/pub/{ch}"))
    deadline = time.time() + 5
    while time.time() < deadline:
        st = httpx.get(f"{server.url}/pub/{ch}", timeout=5)
        if st.status_code == 200 and st.json()["subscribers"] == 1:
            break
        time.sleep(0.02)
    pub = httpx.post(f"{server.url}/pub/{ch}", content=b"wake up", timeout=5)
    assert pub.status_code == 201
    r1 = c.read_response()
    r2 = c.read_response()
    c.close()
    assert r1.status == 200 and r1.body == b"wake up", r1
    assert r1.header("x-crier-id") == pub.json()["id"]
    assert r2.status == 200 and r2.json()["published"] == 1, r2


def test_request_sent_while_a_long_poll_is_held(server):
    # The second request arrives in its own packet while the first is held.
    ch = unique("lp2")
    c = Conn(server.port)
    c.send(req("GET", f"/sub/{ch}"))
    time.sleep(0.2)
    c.send(req("POST", f"/pub/{unique('other')}", body="x") + req("GET", "/health"))
    time.sleep(0.2)
    pub = httpx.post(f"{server.url}/pub/{ch}", content=b"first", timeout=5)
    assert pub.status_code == 201 and pub.json()["subscribers"] == 1
    r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
    c.close()
    assert (r1.status, r1.body) == (200, b"first"), r1
    assert r2.status == 201, r2
    assert r3.status == 200 and r3.json()["status"] == "ok", r3


@pytest.mark.parametrize("first", [
    req("GET", "/nope"),
    req("DELETE", "/health"),
    req("POST", "/pub/bad%20name", body="x"),
    req("POST", "/pub/okname", ["X-Event: "], body="x"),
    req("POST", "/pub/okname", ["X-TTL: -5"], body="x"),
    req("GET", "/pub/never-published-here"),
], ids=["404", "405", "400 channel", "400 event", "400 ttl", "404 channel"])
def test_error_answer_is_consistent_with_connection_reuse(server, first):
    # Whatever an API error does to the connection, it must say so: without
    # "Connection: close" the next request on it is answered; with it, none is.
    out = raw_request(server.port, first + req("GET", "/health", ["Connection: close"]), timeout=5)
    rs = parse_responses(out)
    assert rs[0].status >= 400
    assert_json_error(rs[0], rs[0].status)
    if rs[0].closes():
        assert len(rs) == 1, rs
    else:
        assert [r.status for r in rs[1:]] == [200], rs


def test_half_closed_client_still_gets_its_answers(server):
    ch = unique("half")
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(req("POST", f"/pub/{ch}", body="x") + req("GET", f"/pub/{ch}") + req("GET", "/health"))
    s.shutdown(socket.SHUT_WR)
    out = recv_to_eof(s)
    s.close()
    rs = parse_responses(out)
    assert [r.status for r in rs] == [201, 200, 200]
    assert rs[1].json()["messages"] == 1


# --- keep-alive and connection handling ------------------------------------------------------------------------


def test_keep_alive_reuses_one_connection_httpx(server):
    ch = unique("ka")
    with httpx.Client(base_url=server.url, timeout=5) as client:
        addrs = set()
        for i in range(20):
            if i % 2:
                r = client.post(f"/pub/{ch}", content=f"m{i}".encode())
                assert r.status_code == 201
            else:
                r = client.get("/health")
                assert r.status_code == 200
            assert (r.headers.get("connection") or "").lower() != "close"
            addrs.add(r.extensions["network_stream"].get_extra_info("client_addr"))
        assert len(addrs) == 1, addrs
        assert client.get(f"/pub/{ch}").json()["published"] == 10


def test_keep_alive_raw_sequential_requests(server):
    c = Conn(server.port)
    for _ in range(5):
        c.send(req("GET", "/health"))
        r = c.read_response()
        assert r.status == 200 and not r.closes()
    assert not c.closed_by_peer(timeout=0.3)  # still open
    c.close()


def test_connection_close_is_honoured(server):
    c = Conn(server.port)
    c.send(req("GET", "/health", ["Connection: close"]))
    r = c.read_response()
    assert r.status == 200
    assert r.closes()
    assert c.closed_by_peer(timeout=5)
    assert c.buf == b""
    c.close()


def test_connection_close_among_other_tokens(server):
    c = Conn(server.port)
    c.send(req("GET", "/health", ["Connection: foo, Close"]))
    r = c.read_response()
    assert r.status == 200 and r.closes()
    assert c.closed_by_peer(timeout=5)
    c.close()


def test_connection_close_stops_the_pipeline(server):
    # Requests after the one that said "Connection: close" are not answered.
    ch = unique("stop")
    data = req("GET", "/health", ["Connection: close"]) + req("POST", f"/pub/{ch}", body="no")
    rs = parse_responses(raw_request(server.port, data))
    assert [r.status for r in rs] == [200]
    assert httpx.get(f"{server.url}/pub/{ch}", timeout=5).status_code == 404


def test_http10_closes_by_default(server):
    c = Conn(server.port)
    c.send(b"GET /health HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.json()["status"] == "ok"
    assert r.closes()
    assert c.closed_by_peer(timeout=5)
    c.close()


def test_http10_keep_alive(server):
    c = Conn(server.port)
    for _ in range(3):
        c.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert (r.header("connection") or "").lower() == "keep-alive", r
    # the last one without keep-alive ends it
    c.send(b"GET /health HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.closes()
    assert c.closed_by_peer(timeout=5)
    c.close()


def test_http10_publish_with_body(server):
    ch = unique("h10")
    out = raw_request(server.port, b"POST /pub/%s HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello" % ch.encode())
    rs = parse_responses(out)
    assert [r.status for r in rs] == [201]
    assert [m["data"] for m in poll_all(server, ch)] == ["hello"]


# --- chunked request bodies ------------------------------------------------------------------------------------


def publish_raw(srv, ch, headers, body):
    rs = parse_responses(raw_request(srv.port, req("POST", f"/pub/{ch}", list(headers) + ["Connection: close"], body)))
    assert len(rs) == 1, rs
    return rs[0]


def test_chunked_body(server):
    ch = unique("chk")
    r = publish_raw(server, ch, ["Transfer-Encoding: chunked"], chunked(b"hello", b" ", b"world"))
    assert r.status == 201, r
    assert [m["data"] for m in poll_all(server, ch)] == ["hello world"]


def test_chunked_many_small_chunks(server):
    ch = unique("chk1")
    payload = bytes([0x30 + i % 10 for i in range(3000)])
    r = publish_raw(server, ch, ["Transfer-Encoding: chunked"], chunked(*[payload[i:i + 1] for i in range(3000)]))
    assert r.status == 201, r
    assert [m["data"].encode() for m in poll_all(server, ch)] == [payload]


def test_chunked_with_extensions_and_trailers(server):
    ch = unique("chkx")
    body = (b"5;name=value\r\nhello\r\n"
            b"1 ; quoted=\"a b\" ;flag\r\n,\r\n"
            b"6;x\r\n world\r\n"
            b"0;last=1\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n")
    r = publish_raw(server, ch, ["Transfer-Encoding: chunked"], body)
    assert r.status == 201, r
    assert [m["data"] for m in poll_all(server, ch)] == ["hello, world"]


def test_chunked_empty_body(server):
    ch = unique("chk0")
    r = publish_raw(server, ch, ["Transfer-Encoding: chunked"], b"0\r\n\r\n")
    assert r.status == 201, r
    assert [m["data"] for m in poll_all(server, ch)] == [""]


def test_chunked_upper_case_hex_and_leading_zeros(server):
    ch = unique("chkh")
    r = publish_raw(server, ch, ["Transfer-Encoding: chunked"], b"0000A\r\n0123456789\r\n0\r\n\r\n")
    assert r.status == 201, r
    assert [m["data"] for m in poll_all(server, ch)] == ["0123456789"]


def test_chunked_body_sent_slowly_in_pieces(server):
    # The chunked body arrives over several reads, split inside sizes, data and CRLFs.
    ch = unique("chks")
    data = req("POST", f"/pub/{ch}", ["Transfer-Encoding: chunked"],
               chunked(b"abc" * 100, b"defg" * 50, b"h")) + req("GET", f"/pub/{ch}", ["Connection: close"])
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(data), 37):
        s.sendall(data[i:i + 37])
        time.sleep(0.005)
    out = recv_to_eof(s)
    s.close()
    rs = parse_responses(out)
    assert [r.status for r in rs] == [201, 200]
    assert rs[1].json()["messages"] == 1
    assert [m["data"] for m in poll_all(server, ch)] == ["abc" * 100 + "defg" * 50 + "h"]


def test_pipelined_chunked_requests(server):
    ch = unique("chkp")
    data = b"".join(req("POST", f"/pub/{ch}", ["Transfer-Encoding: chunked"], chunked(f"m{i}".encode(), b"!"))
                    for i in range(10)) + req("GET", f"/pub/{ch}", ["Connection: close"])
    rs = parse_responses(raw_request(server.port, data))
    assert [r.status for r in rs] == [201] * 10 + [200]
    assert [m["data"] for m in poll_all(server, ch)] == [f"m{i}!" for i in range(10)]


def test_chunked_transfer_encoding_is_case_insensitive(server):
    ch = unique("chkc")
    r = publish_raw(server, ch, ["Transfer-Encoding: Chunked"], chunked(b"ok"))
    assert r.status == 201, r


def test_chunked_with_httpx_generator(server):
    ch = unique("chkg")

    def gen():
        for i in range(100):
            yield f"{i},".encode()

    r = httpx.post(f"{server.url}/pub/{ch}", content=gen(), timeout=5)
    assert r.status_code == 201
    assert [m["data"] for m in poll_all(server, ch)] == ["".join(f"{i}," for i in range(100))]


# --- Expect: 100-continue ---------------------------------------------------------------------------------------


def test_expect_100_continue(server):
    ch = unique("exp")
    c = Conn(server.port)
    c.send(f"POST /pub/{ch} HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n".encode())
    interim = c.read_response()
    assert interim.status == 100, interim
    c.send(b"hello world")
    r = c.read_response()
    assert r.status == 201, r
    assert r.json()["channel"] == ch
    # keep-alive goes on; a second request sends no 100 unless it asks
    c.send(req("POST", f"/pub/{ch}", body="again"))
    r = c.read_response()
    assert r.status == 201, r
    c.close()
    assert [m["data"] for m in poll_all(server, ch)] == ["hello world", "again"]


def test_expect_100_continue_with_chunked_body(server):
    ch = unique("expc")
    c = Conn(server.port)
    c.send(f"POST /pub/{ch} HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
           .encode())
    interim = c.read_response()
    assert interim.status == 100, interim
    c.send(chunked(b"chunk", b"ed"))
    r = c.read_response()
    assert r.status == 201, r
    c.close()
    assert [m["data"] for m in poll_all(server, ch)] == ["chunked"]


def test_expect_100_continue_with_body_already_sent(server):
    # A client that sends the body without waiting: no 100 is required, but
    # whatever is sent, the final answer is there exactly once.
    ch = unique("expb")
    c = Conn(server.port)
    c.send(req("POST", f"/pub/{ch}", ["Expect: 100-continue"], "eager") + req("GET", f"/pub/{ch}"))
    r = c.read_response()
    if r.status == 100:
        r = c.read_response()
    assert r.status == 201, r
    r2 = c.read_response()
    assert r2.status == 200 and r2.json()["published"] == 1
    c.close()


def test_expect_100_continue_ignored_on_http10(server):
    ch = unique("exp10")
    c = Conn(server.port)
    c.send(f"POST /pub/{ch} HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n".encode())
    time.sleep(0.3)
    c.send(b"abc")
    r = c.read_response()
    assert r.status == 201, r  # not a 100 first (RFC 9110 10.1.1)
    c.close()


def test_expect_100_continue_with_httpx(server):
    ch = unique("exph")
    r = httpx.post(f"{server.url}/pub/{ch}", content=b"payload", headers={"Expect": "100-continue"}, timeout=5)
    assert r.status_code == 201


# --- timeouts ------------------------------------------------------------------------------------------------------


def test_header_timeout_408_on_partial_head(make_server):
    srv = make_server("--header-timeout", "1s")
    c = Conn(srv.port, timeout=10)
    t0 = time.time()
    c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n")
    r = c.read_response()
    elapsed = time.time() - t0
    assert_json_error(r, 408)
    assert r.closes()
    assert c.closed_by_peer(timeout=5)
    assert 0.7 <= elapsed < 8, elapsed  # (the default header timeout is 10 s)
    c.close()
    assert_healthy(srv)


def test_header_timeout_408_on_partial_body(make_server):
    srv = make_server("--header-timeout", "1s")
    c = Conn(srv.port, timeout=10)
    c.send(b"POST /pub/slowbody HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly a part")
    r = c.read_response()
    assert_json_error(r, 408)
    c.close()
    assert httpx.get(srv.url + "/pub/slowbody", timeout=5).status_code == 404
    assert_healthy(srv)


def test_header_timeout_silent_close_without_bytes(make_server):
    srv = make_server("--header-timeout", "1s")
    c = Conn(srv.port, timeout=10)
    t0 = time.time()
    assert c.closed_by_peer(timeout=8)
    assert c.buf == b""  # nothing at all was answered
    assert time.time() - t0 >= 0.7
    c.close()
    assert_healthy(srv)


def test_slowloris_trickle_gets_408(make_server):
    # One byte every 0.2 s of a head that would never end: the deadline is for
    # the whole head, so the trickle does not extend it.
    srv = make_server("--header-timeout", "1s")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    trickle = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"s" * 1000
    t0 = time.time()
    out = b""
    closed = False
    i = 0
    while time.time() - t0 < 10:
        if i < len(trickle):
            try:
                s.send(trickle[i:i + 1])
            except OSError:
                pass
            i += 1
        ready, _, _ = select.select([s], [], [], 0.2)
        if ready:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                closed = True
                break
            out += chunk
    elapsed = time.time() - t0
    s.close()
    assert closed, f"still open after {elapsed:.1f}s"
    assert elapsed < 8  # (the default header timeout is 10 s)
    rs = parse_responses(out)
    assert len(rs) == 1
    assert_json_error(rs[0], 408)
    assert i < len(trickle)  # it was cut off long before the trickle ended
    assert_healthy(srv)


def test_idle_keep_alive_connection_closed(make_server):
    srv = make_server("--idle-timeout", "1s")
    c = Conn(srv.port, timeout=10)
    c.send(req("GET", "/health"))
    r = c.read_response()
    assert r.status == 200 and not r.closes()
    t0 = time.time()
    assert c.closed_by_peer(timeout=8)
    assert c.buf == b""  # closed silently, no 408 for an idle connection
    assert time.time() - t0 >= 0.7
    c.close()
    assert_healthy(srv)


def test_active_keep_alive_connection_survives_idle_timeout(make_server):
    # Requests every 0.3 s for 3 s on a server with --idle-timeout 2s: the
    # idle deadline restarts after every request.
    srv = make_server("--idle-timeout", "2s")
    c = Conn(srv.port, timeout=10)
    t0 = time.time()
    n = 0
    while time.time() - t0 < 3:
        c.send(req("GET", "/health"))
        assert c.read_response().status == 200
        n += 1
        time.sleep(0.3)
    assert n >= 5
    c.close()


def test_idle_keep_alive_not_cut_by_header_timeout(make_server):
    # Between requests the idle timeout applies, not the header timeout.
    srv = make_server("--header-timeout", "1s", "--idle-timeout", "10s")
    c = Conn(srv.port, timeout=10)
    c.send(req("GET", "/health"))
    assert c.read_response().status == 200
    assert not c.closed_by_peer(timeout=1.8)
    c.send(req("GET", "/health"))
    assert c.read_response().status == 200
    c.close()


def test_header_timeout_for_second_request_on_keep_alive(make_server):
    srv = make_server("--header-timeout", "1s", "--idle-timeout", "10s")
    c = Conn(srv.port, timeout=10)
    c.send(req("GET", "/health"))
    assert c.read_response().status == 200
    time.sleep(0.5)
    c.send(b"GET /health HTTP/1.1\r\n")  # a second head that never ends
    r = c.read_response()
    assert_json_error(r, 408)
    c.close()


def test_long_poll_not_cut_by_header_timeout(make_server):
    # A held long poll is a request being answered: the header timeout no longer
    # applies; the hold time ends it with 204 and the connection goes on.
    srv = make_server("--header-timeout", "1s", "--hold", "2s", "--idle-timeout", "10s")
    c = Conn(srv.port, timeout=8)
    t0 = time.time()
    c.send(req("GET", f"/sub/{unique('hold')}"))
    r = c.read_response()
    assert r.status == 204, r
    assert time.time() - t0 >= 1.5
    assert r.header("x-crier-cursor") is not None
    c.send(req("GET", "/health"))
    assert c.read_response().status == 200
    c.close()


def test_sse_stream_not_cut_by_idle_or_header_timeout(make_server):
    srv = make_server("--header-timeout", "1s", "--idle-timeout", "1s", "--heartbeat", "500ms")
    ch = unique("sse")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(req("GET", f"/sub/{ch}", ["Accept: text/event-stream"]))
    out = b""
    t0 = time.time()
    while time.time() - t0 < 2.5:
        ready, _, _ = select.select([s], [], [], 0.1)
        if ready:
            chunk = s.recv(65536)
            assert chunk, f"stream closed after {time.time() - t0:.1f}s: {out!r}"
            out += chunk
    assert out.startswith(b"HTTP/1.1 200"), out
    assert out.count(b":\n") >= 2  # heartbeats kept coming
    r = httpx.post(f"{srv.url}/pub/{ch}", content=b"still here", timeout=5)
    assert r.status_code == 201 and r.json()["subscribers"] == 1
    deadline = time.time() + 5
    while b"data: still here" not in out and time.time() < deadline:
        ready, _, _ = select.select([s], [], [], 0.1)
        if ready:
            out += s.recv(65536)
    s.close()
    assert b"data: still here" in out


# --- resets and many connections --------------------------------------------------------------------------------


def test_client_reset_mid_head(server):
    for _ in range(5):
        c = Conn(server.port)
        c.send(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Partial: ")
        c.reset()
    assert_healthy(server)


def test_client_reset_mid_body(server):
    ch = unique("rst")
    for _ in range(5):
        c = Conn(server.port)
        c.send(f"POST /pub/{ch} HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n".encode() + b"x" * 300)
        c.reset()
    for _ in range(5):
        c = Conn(server.port)
        c.send(f"POST /pub/{ch} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nabc".encode())
        c.reset()
    time.sleep(0.2)
    assert_healthy(server)
    # nothing half-received was published
    assert httpx.get(f"{server.url}/pub/{ch}", timeout=5).status_code == 404


def test_client_reset_with_responses_pending(server):
    # Many pipelined requests with big answers, then a reset without reading.
    for _ in range(3):
        c = Conn(server.port)
        c.send(req("GET", "/metrics") * 300)
        c.reset()
    time.sleep(0.2)
    assert_healthy(server)


def test_client_reset_while_long_polling(server):
    ch = unique("rstlp")
    c = Conn(server.port)
    c.send(req("GET", f"/sub/{ch}"))
    time.sleep(0.2)
    c.reset()
    time.sleep(0.2)
    r = httpx.post(f"{server.url}/pub/{ch}", content=b"after", timeout=5)
    assert r.status_code == 201
    assert r.json()["subscribers"] == 0
    assert_healthy(server)


def test_500_connections_at_once(server):
    conns = []
    try:
        for _ in range(500):
            conns.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        health = httpx.get(server.url + "/health", timeout=5).json()
        assert health["connections"] >= 500, health
        for s in conns:
            s.sendall(req("GET", "/health", ["Connection: close"]))
        for s in conns:
            out = recv_to_eof(s)
            rs = parse_responses(out)
            assert [r.status for r in rs] == [200], out[:200]
            assert rs[0].json()["status"] == "ok"
    finally:
        for s in conns:
            s.close()
    assert_healthy(server)


def test_max_conns_refuses_with_503(make_server):
    srv = make_server("--max-conns", "3")
    # Wait until the fixture's start-up probe connection is gone (only the
    # asking connection is counted), then open three, one after the other.
    deadline = time.time() + 5
    while httpx.get(srv.url + "/health", timeout=5).json()["connections"] != 1:
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.1)
    conns = []
    for _ in range(3):
        c = Conn(srv.port)
        c.send(req("GET", "/health"))
        assert c.read_response().status == 200
        conns.append(c)
    extra = Conn(srv.port)
    r = extra.read_response()
    assert_json_error(r, 503)
    assert r.closes()
    extra.close()
    conns.pop().close()
    deadline = time.time() + 5
    while True:
        try:
            assert_healthy(srv)
            break
        except (AssertionError, httpx.HTTPError):
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    for c in conns:
        c.close()


@pytest.mark.parametrize("bad,status", [
    (req("POST", "/pub/bad%20name!", body=b"x"), 400),
    (req("POST", "/pub/ok", headers=["X-TTL: soon"], body=b"x"), 400),
    (req("GET", "/nope"), 404),
    (req("DELETE", "/health"), 405),
    (req("GET", "/sub/ok?transport=carrier-pigeon"), 400),
])
def test_api_error_keeps_the_connection(server, bad, status):
    # A request that was read whole and refused for what it asks leaves the stream
    # in sync: the connection goes on with the next request.
    c = Conn(server.port)
    c.send(bad + req("GET", "/health"))
    assert_json_error(c.read_response(), status)
    r = c.read_response()
    assert r.status == 200, r
    c.close()


def test_higher_minor_version_is_served_as_http11(server):
    # RFC 9110 section 2.5: HTTP/1.2 is handled as the highest 1.x we implement.
    c = Conn(server.port)
    c.send(b"GET /health HTTP/1.2\r\nHost: t\r\n\r\n" + req("GET", "/health"))
    r = c.read_response()
    assert r.status == 200 and r.raw_head.startswith(b"HTTP/1.1 200"), r.raw_head
    assert c.read_response().status == 200  # kept alive, as 1.1 is
    c.close()


def test_options_star_names_the_methods(server):
    c = Conn(server.port)
    c.send(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n" + req("GET", "/health"))
    r = c.read_response()
    assert r.status == 200, r.raw_head
    assert {m.strip() for m in r.header("allow").split(",")} >= {"GET", "POST", "DELETE"}
    assert r.body == b""
    assert c.read_response().status == 200
    c.close()
