"""Small real clients for crier's push mechanisms, shared by test_delivery.py
and test_resume.py, and the raw HTTP/1.1 helpers (response parsing, reading
until close, the JSON error check) shared by test_http.py, test_hostile.py and
test_publish_api.py.

Streams (SSE, NDJSON, raw) are read on plain sockets so that a test controls
everything: the request bytes, the socket options (a tiny SO_RCVBUF for a slow
subscriber), deadlines, and the exact bytes of the body (chunked transfer
decoded here, chunk by chunk). Long polling and polling use httpx with a
keep-alive connection, as a browser or an app would.

Every reader can stop after N messages or at a deadline, and returns what it
received and the cursor to resume from.
"""
import json
import re
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Optional

import httpx


# --- publishing --------------------------------------------------------------------------------------


class Publisher:
    """POST /pub/{channels} on one keep-alive socket with TCP_NODELAY, head
    and body in one write. (httpx 0.23 writes them apart and cannot set
    TCP_NODELAY, so each publish waited out a delayed ACK: 40 ms apiece.)"""

    def __init__(self, url, timeout=10.0):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.timeout = timeout
        self.sock = None
        self.buf = b""

    def _connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, method, path, body=b"", headers=None):
        """One request on the kept-alive socket; returns (status, headers, body)."""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        for attempt in (0, 1):
            if self.sock is None:
                self._connect()
            try:
                self.sock.sendall(data)
                return self._response()
            except (ConnectionError, EOFError):
                self.close()
                if attempt:
                    raise

    def _recv(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk

    def _response(self):
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            self._recv()
        body, self.buf = self.buf[:n], self.buf[n:]
        if "close" in hdrs.get("connection", "").lower():
            self.close()
        return status, hdrs, body

    def publish(self, channels, data, event=None, content_type=None, ttl=None, params=None, expect=201):
        if isinstance(channels, (list, tuple)):
            channels = ",".join(channels)
        headers = {}
        if event is not None:
            headers["X-Event"] = event
        if content_type is not None:
            headers["Content-Type"] = content_type
        if ttl is not None:
            headers["X-TTL"] = str(ttl)
        if isinstance(data, str):
            data = data.encode()
        path = f"/pub/{channels}"
        if params:
            path += "?" + urllib.parse.urlencode(params)
        status, _, body = self.request("POST", path, data, headers)
        assert status == expect, (status, body)
        return json.loads(body) if body else None

    def publish_many(self, channel, payloads, **kw):
        """Publishes each payload in order; returns their ids."""
        return [self.publish(channel, p, **kw)["id"] for p in payloads]

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# --- messages ------------------------------------------------------------------------------------------


@dataclass
class Msg:
    """One message as a client saw it. `data` is text (bytes for long polling
    and raw); `id` is what the mechanism gave as the message's id (for SSE on
    several channels, the compound cursor); `channel` where the mechanism says."""
    data: object
    id: Optional[str] = None
    event: Optional[str] = None
    channel: Optional[str] = None
    raw: dict = field(default_factory=dict)


@dataclass
class Result:
    """What a reader got: messages, the cursor to resume from, the response's
    status and headers, notices (gap/deleted/close events), heartbeats seen and
    whether the server closed the connection."""
    messages: list = field(default_factory=list)
    cursor: Optional[str] = None
    status: Optional[int] = None
    headers: dict = field(default_factory=dict)
    notices: list = field(default_factory=list)
    heartbeats: int = 0
    closed: bool = False
    retry: Optional[int] = None
    comments: list = field(default_factory=list)
    client: Optional[str] = None  # the client id the server told (SSE crier-hello)

    @property
    def datas(self):
        return [m.data for m in self.messages]


# --- raw HTTP/1.1 responses: parsing, reading, checking -------------------------------------------------


def unique(prefix="ch"):
    """A channel name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Resp:
    """One parsed HTTP response."""

    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-case name, value)
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self):
        return json.loads(self.body)

    def closes(self):
        return "close" in [t.strip().lower() for t in (self.header("connection") or "").split(",")]

    def __repr__(self):
        return f"<Resp {self.status} {self.headers!r} {self.body[:200]!r}>"


def parse_head(head):
    """A response head without its blank line: (status, reason, [(lower-case name, value)])."""
    lines = head.split(b"\r\n")
    m = re.match(rb"^HTTP/1\.[01] (\d{3}) ?(.*)$", lines[0])
    assert m, f"bad status line {lines[0]!r}"
    headers = []
    for line in lines[1:]:
        assert b":" in line, f"bad header line {line!r}"
        k, v = line.split(b":", 1)
        headers.append((k.decode().strip().lower(), v.decode("latin-1").strip()))
    return int(m.group(1)), m.group(2).decode("latin-1"), headers


def _has_no_body(status):
    return status < 200 or status in (204, 304)


def parse_responses(data, head_only_first=False):
    """Splits a byte string into consecutive responses framed by Content-Length
    (1xx, 204 and 304 have no body; a response with neither ends at the end of data)."""
    out = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        assert end >= 0, f"incomplete response head at {pos}: {data[pos:pos + 300]!r}"
        raw_head = data[pos:end]
        status, reason, headers = parse_head(raw_head)
        pos = end + 4
        r = Resp(status, reason, headers, b"", raw_head)
        if (head_only_first and not out) or _has_no_body(status):
            body = b""
        elif r.header("content-length") is not None:
            n = int(r.header("content-length"))
            body = data[pos:pos + n]
            assert len(body) == n, f"truncated body: {len(body)} of {n}"
            pos += n
        else:
            body = data[pos:]
            pos = len(data)
        r.body = body
        out.append(r)
    return out


def parse_complete_responses(buf):
    """For pipelined reads on a connection that stays open, where every answer
    carries Content-Length (none means no body): the complete responses at the
    start of buf, and the bytes left over. Returns ([Resp], rest)."""
    out = []
    pos = 0
    while True:
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        raw_head = buf[pos:end]
        status, reason, headers = parse_head(raw_head)
        r = Resp(status, reason, headers, b"", raw_head)
        n = 0 if _has_no_body(status) else int(r.header("content-length", "0"))
        if len(buf) < end + 4 + n:
            break
        r.body = buf[end + 4:end + 4 + n]
        out.append(r)
        pos = end + 4 + n
    return out, buf[pos:]


def one_response(data):
    """The first complete response in data."""
    rs, _ = parse_complete_responses(data)
    assert rs, f"no complete response in {data[:300]!r}"
    return rs[0]


def assert_json_error(r, status):
    """r (a Resp, an httpx.Response, or the raw bytes of one answer) is status
    with a JSON body {"error": "<non-empty text>"}; returns that body."""
    if isinstance(r, (bytes, bytearray)):
        r = one_response(bytes(r))
    if isinstance(r, Resp):
        got, ctype, body = r.status, r.header("content-type") or "", r.body
    else:
        got, ctype, body = r.status_code, r.headers.get("content-type", ""), r.content
    assert got == status, (got, ctype, body[:300])
    assert ctype.split(";")[0].strip() == "application/json", (got, ctype, body[:300])
    doc = json.loads(body)
    assert isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"], doc
    return doc


def read_until_closed(sock, timeout=10.0):
    """Everything the peer sends until it closes. Returns (data, how): how is
    "eof" for a clean close, "reset" for a reset, None when the timeout came first."""
    out = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return out, None
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            return out, None
        except (ConnectionResetError, BrokenPipeError):
            return out, "reset"
        if not chunk:
            return out, "eof"
        out += chunk


def recv_to_eof(sock, timeout=10.0):
    """Everything until the server closes cleanly, which it must do within timeout."""
    out, how = read_until_closed(sock, timeout)
    assert how == "eof", f"connection not closed cleanly ({how}) after {out[:300]!r}"
    return out


class Conn:
    """A raw client connection that reads responses one by one."""

    def __init__(self, port, timeout=5.0, sock=None):
        self.sock = sock or socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.eof = False

    @classmethod
    def wrap(cls, sock, timeout=5.0):
        """A Conn over a socket the caller already opened (and still closes)."""
        sock.settimeout(timeout)
        return cls(None, sock=sock)

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_response(self, head_request=False):
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise AssertionError(f"connection closed before a response head: {self.buf!r}")
        end = self.buf.index(b"\r\n\r\n")
        raw_head = self.buf[:end]
        status, reason, headers = parse_head(raw_head)
        self.buf = self.buf[end + 4:]
        r = Resp(status, reason, headers, b"", raw_head)
        if head_request or _has_no_body(status):
            return r
        if r.header("content-length") is not None:
            n = int(r.header("content-length"))
            while len(self.buf) < n:
                if not self._fill():
                    raise AssertionError(f"connection closed in a body: {len(self.buf)} of {n}")
            r.body, self.buf = self.buf[:n], self.buf[n:]
        else:
            while self._fill():
                pass
            r.body, self.buf = self.buf, b""
        return r

    def closed_by_peer(self, timeout=3.0):
        """True if the server closes (EOF or reset) within timeout with no further bytes."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
                return False
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()

    def reset(self):
        """Closes with an RST instead of a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


# --- a raw HTTP/1.1 stream on a socket ----------------------------------------------------------------


class HTTPStream:
    """GET on a plain socket; reads the head, then hands out body bytes
    (chunked transfer decoded, keeping chunk boundaries) until a deadline."""

    def __init__(self, port, path, headers=None, rcvbuf=None, host="127.0.0.1", connect_timeout=5.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connect, so the window the server sees is small from the start.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(connect_timeout)
        self.sock.connect((host, port))
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        self.status = None
        self.headers = {}
        self.chunked = False
        self.eof = False
        self._chunk_left = None  # bytes left in the current chunk, None between chunks
        self.body_done = False

    # raw socket reads
    def _fill(self, deadline):
        """Reads more into self.buf; False at the deadline, sets eof at the end."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(min(left, 1.0))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True  # nothing yet; the caller checks its deadline again
        except (ConnectionResetError, BrokenPipeError):
            self.eof = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_head(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline) and (self.eof or time.monotonic() >= deadline):
                raise AssertionError(f"no response head (got {self.buf[:300]!r})")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        return self.status, self.headers

    def read_body(self, deadline):
        """Returns the next piece of body (for chunked bodies: exactly one chunk's
        data, or part of one if it is large), b"" at the end of the body or of
        the connection, None at the deadline."""
        while True:
            if not self.chunked:
                if self.buf:
                    out, self.buf = self.buf, b""
                    return out
                if self.eof:
                    return b""
                if not self._fill(deadline):
                    if self.eof:
                        return b""
                    if time.monotonic() >= deadline:
                        return None
                continue
            if self.body_done:
                return b""
            if self._chunk_left is None:
                if b"\r\n" in self.buf:
                    size_line, rest = self.buf.split(b"\r\n", 1)
                    size = int(size_line.split(b";")[0], 16)
                    self.buf = rest
                    if size == 0:
                        self.body_done = True
                        return b""
                    self._chunk_left = size
                    continue
            elif len(self.buf) >= self._chunk_left + 2:
                data = self.buf[:self._chunk_left]
                assert self.buf[self._chunk_left:self._chunk_left + 2] == b"\r\n", self.buf[:80]
                self.buf = self.buf[self._chunk_left + 2:]
                self._chunk_left = None
                return data
            if not self._fill(deadline):
                if self.eof:
                    return b""
                if time.monotonic() >= deadline:
                    return None

    def wait_closed(self, timeout):
        """Reads and drops everything until the server closes; True if it did.
        Returns (closed, bytes_read)."""
        deadline = time.monotonic() + timeout
        n = len(self.buf)
        self.buf = b""
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, min(1.0, deadline - time.monotonic())))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True, n
            if not chunk:
                return True, n
            n += len(chunk)
        return False, n

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def sub_path(channels, transport=None, since=None, extra=None):
    if isinstance(channels, (list, tuple)):
        channels = ",".join(channels)
    q = {}
    if transport:
        q["transport"] = transport
    if since is not None:
        q["since"] = since
    q.update(extra or {})
    path = f"/sub/{channels}"
    if q:
        path += "?" + urllib.parse.urlencode(q)
    return path


# --- Server-Sent Events ---------------------------------------------------------------------------------


class SSEParser:
    """The EventSource parsing rules (HTML 'event stream interpretation'):
    lines end in CRLF, LF or CR; "field: value" (one leading space dropped);
    data lines joined with LF; a blank line dispatches; ':' starts a comment.
    Also records each event's raw data lines and every comment."""

    def __init__(self):
        self.pending = b""
        self.last_id = None
        self.retry = None
        self.comments = []
        self._reset()

    def _reset(self):
        self.data_lines = []
        self.event = None
        self.id_seen = None
        self.any_field = False

    def feed(self, data):
        """Returns the events completed by these bytes: dicts with id, event,
        data (joined), lines (the data lines) or None for a non-dispatch."""
        self.pending += data
        out = []
        while True:
            # A CR at the very end may be the first half of a CRLF: wait for more.
            m = _EOL.search(self.pending)
            if m is None or (m.group() == b"\r" and m.end() == len(self.pending)):
                break
            idx = m.start()
            line = self.pending[:idx]
            skip = 2 if self.pending[idx] == 0x0D and self.pending[idx + 1:idx + 2] == b"\n" else 1
            self.pending = self.pending[idx + skip:]
            ev = self._line(line.decode("utf-8"))
            if ev is not None:
                out.append(ev)
        return out

    def _line(self, line):
        if line == "":
            if not self.any_field:
                return None
            ev = {"id": self.id_seen if self.id_seen is not None else None, "last_id": self.last_id,
                  "event": self.event, "data": "\n".join(self.data_lines), "lines": list(self.data_lines),
                  "has_data": bool(self.data_lines)}
            self._reset()
            return ev
        if line.startswith(":"):
            self.comments.append(line[1:])
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self.data_lines.append(value)
            self.any_field = True
        elif name == "event":
            self.event = value
            self.any_field = True
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
                self.id_seen = value
            self.any_field = True
        elif name == "retry":
            if value.isdigit():
                self.retry = int(value)
        return None


_EOL = re.compile(rb"\r\n|\n|\r")

GAP_EVENTS = ("crier-gap", "crier-deleted", "crier-close")


class SSEClient:
    """An SSE subscriber on a raw socket. Connects in the constructor (so a
    test can open it, then publish), read() collects messages."""

    def __init__(self, port, channels, since=None, last_event_id=None, headers=None, rcvbuf=None,
                 use_transport_param=False, extra=None):
        h = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            h["Last-Event-ID"] = last_event_id
        h.update(headers or {})
        path = sub_path(channels, "sse" if use_transport_param else None, since, extra)
        self.stream = HTTPStream(port, path, h, rcvbuf=rcvbuf)
        self.parser = SSEParser()
        self.result = Result()

    def open(self, timeout=10.0):
        """Reads the response head (the body, preamble included, is read())."""
        status, headers = self.stream.read_head(timeout)
        self.result.status, self.result.headers = status, headers
        return self

    def read(self, n=None, timeout=10.0, until=None):
        """Reads until n messages in total (gap/close notices not counted), the
        `until(result)` predicate holds, the deadline passes or the stream
        ends. Returns the Result (the same object across calls)."""
        deadline = time.monotonic() + timeout
        res = self.result
        while True:
            if n is not None and len(res.messages) >= n:
                break
            if until is not None and until(res):
                break
            piece = self.stream.read_body(deadline)
            if piece is None:
                break
            if piece == b"":
                res.closed = True
                break
            before = len(self.parser.comments)
            for ev in self.parser.feed(piece):
                if ev["event"] == "crier-hello":
                    res.client = json.loads(ev["data"])["client"]
                    continue
                if ev["event"] in GAP_EVENTS:
                    res.notices.append({"event": ev["event"], "data": json.loads(ev["data"]), "id": ev["id"]})
                    continue
                if not ev["has_data"]:
                    continue
                res.messages.append(Msg(data=ev["data"], id=ev["id"], event=ev["event"], raw=ev))
            res.heartbeats += sum(1 for c in self.parser.comments[before:] if c == "")
            res.comments = self.parser.comments
        res.cursor = self.parser.last_id
        res.retry = self.parser.retry
        return res

    def close(self):
        self.stream.close()


def sse_collect(port, channels, n=None, timeout=10.0, **kw):
    c = SSEClient(port, channels, **kw).open()
    try:
        return c.read(n=n, timeout=timeout)
    finally:
        c.close()


# --- chunked streams: NDJSON and raw ---------------------------------------------------------------------


class NDJSONClient:
    """An NDJSON subscriber: one JSON object per line; blank lines are
    heartbeats; objects with "event" crier-gap/crier-deleted/crier-close are
    notices. The cursor is built from the last id seen per channel, in the
    subscription's channel order (a compound cursor for several channels);
    `start_cursor` gives the ids to use for channels that sent nothing."""

    def __init__(self, port, channels, since=None, headers=None, use_accept=False, start_cursor=None,
                 rcvbuf=None):
        self.channels = channels.split(",") if isinstance(channels, str) else list(channels)
        h = {"Accept": "application/x-ndjson"} if use_accept else {}
        h.update(headers or {})
        path = sub_path(self.channels, None if use_accept else "ndjson", since)
        self.stream = HTTPStream(port, path, h, rcvbuf=rcvbuf)
        self.result = Result()
        self.pending = b""
        self.last = {}
        if start_cursor:
            for ch, i in zip(self.channels, start_cursor.split(",")):
                self.last[ch] = i

    def open(self, timeout=10.0):
        self.result.status, self.result.headers = self.stream.read_head(timeout)
        return self

    def read(self, n=None, timeout=10.0, until=None):
        deadline = time.monotonic() + timeout
        res = self.result
        while True:
            if n is not None and len(res.messages) >= n:
                break
            if until is not None and until(res):
                break
            piece = self.stream.read_body(deadline)
            if piece is None:
                break
            if piece == b"":
                res.closed = True
                break
            self.pending += piece
            while b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                if not line.strip():
                    res.heartbeats += 1
                    continue
                obj = json.loads(line)
                if obj.get("event") in GAP_EVENTS and "id" not in obj:
                    res.notices.append(obj)
                    continue
                self.last[obj["channel"]] = obj["id"]
                data = obj["data"] if "data" in obj else obj.get("data_base64")
                res.messages.append(Msg(data=data, id=obj["id"], event=obj.get("event"),
                                        channel=obj["channel"], raw=obj))
        res.cursor = self.cursor()
        return res

    def cursor(self):
        if not all(ch in self.last for ch in self.channels):
            return None
        return ",".join(self.last[ch] for ch in self.channels)

    def close(self):
        self.stream.close()


class RawClient:
    """A raw-line subscriber: payload + LF per message; blank lines are
    heartbeats (so payloads must be non-empty and without line breaks). Raw
    carries no ids in band: the messages' `id` stays None, and a test that
    wants to resume maps payloads to the ids the publisher was given."""

    def __init__(self, port, channels, since=None, headers=None, rcvbuf=None):
        self.stream = HTTPStream(port, sub_path(channels, "raw", since), headers or {}, rcvbuf=rcvbuf)
        self.result = Result()
        self.pending = b""

    def open(self, timeout=10.0):
        self.result.status, self.result.headers = self.stream.read_head(timeout)
        return self

    def read(self, n=None, timeout=10.0, until=None):
        deadline = time.monotonic() + timeout
        res = self.result
        while True:
            if n is not None and len(res.messages) >= n:
                break
            if until is not None and until(res):
                break
            piece = self.stream.read_body(deadline)
            if piece is None:
                break
            if piece == b"":
                res.closed = True
                break
            self.pending += piece
            while b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                if not line:
                    res.heartbeats += 1
                    continue
                res.messages.append(Msg(data=line.decode("utf-8")))
        return res

    def close(self):
        self.stream.close()


# --- long polling and polling (httpx, keep-alive) ----------------------------------------------------------


class LongPoller:
    """The RFC 6202 loop: GET /sub/{ch}, one message per answer, the next
    request sends X-Crier-Cursor back. `how` picks the way the cursor goes
    back: "since" (?since=), "last-event-id", or "nchan" (If-None-Match with
    the Etag and If-Modified-Since with Last-Modified)."""

    def __init__(self, url, channels, cursor=None, how="since", hold_timeout=30.0, transport_param=False):
        self.client = httpx.Client(base_url=url, timeout=hold_timeout)
        self.channels = ",".join(channels) if isinstance(channels, (list, tuple)) else channels
        self.cursor = cursor
        self.how = how
        self.etag = None
        self.last_modified = None
        self.transport_param = transport_param
        self.result = Result(cursor=cursor)
        self.responses = []  # (status, headers) of every answer
        self.connections = set()

    def request(self):
        params, headers = {}, {}
        if self.transport_param:
            params["transport"] = "longpoll"
        if self.how == "since":
            if self.cursor is not None:
                params["since"] = self.cursor
        elif self.how == "last-event-id":
            if self.cursor is not None:
                headers["Last-Event-ID"] = self.cursor
        elif self.how == "nchan":
            if self.etag is not None:
                headers["If-None-Match"] = self.etag
            if self.last_modified is not None:
                headers["If-Modified-Since"] = self.last_modified
        else:
            raise ValueError(self.how)
        r = self.client.get(f"/sub/{self.channels}", params=params, headers=headers)
        self.responses.append((r.status_code, r.headers))
        res = self.result
        res.status, res.headers = r.status_code, r.headers
        if r.status_code in (200, 204, 304):
            cur = r.headers.get("x-crier-cursor")
            assert cur, f"answer {r.status_code} without X-Crier-Cursor: {dict(r.headers)}"
            self.cursor = res.cursor = cur
            if "etag" in r.headers:
                self.etag = r.headers["etag"]
            if "last-modified" in r.headers:
                self.last_modified = r.headers["last-modified"]
        if r.headers.get("x-crier-gap"):
            res.notices.append({"event": "crier-gap", "header": r.headers["x-crier-gap"]})
        if r.status_code == 200:
            res.messages.append(Msg(data=r.content, id=r.headers.get("x-crier-id"),
                                    event=r.headers.get("x-crier-event"),
                                    channel=r.headers.get("x-crier-channel"),
                                    raw={"content_type": r.headers.get("content-type"),
                                         "cursor": r.headers.get("x-crier-cursor")}))
        return r

    def run(self, n=None, timeout=10.0, until=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if n is not None and len(self.result.messages) >= n:
                break
            if until is not None and until(self.result):
                break
            r = self.request()
            if r.status_code not in (200, 204, 304):
                break
        return self.result

    def close(self):
        self.client.close()


class Poller:
    """?transport=poll in a loop: each answer is every message newer than the
    cursor (200 JSON array) or 204; X-Crier-Cursor is the next cursor."""

    def __init__(self, url, channels, cursor=None, interval=0.02):
        self.client = httpx.Client(base_url=url, timeout=10.0)
        self.channels = ",".join(channels) if isinstance(channels, (list, tuple)) else channels
        self.cursor = cursor
        self.interval = interval
        self.result = Result(cursor=cursor)
        self.answers = []

    def poll_once(self):
        params = {"transport": "poll"}
        if self.cursor is not None:
            params["since"] = self.cursor
        r = self.client.get(f"/sub/{self.channels}", params=params)
        res = self.result
        res.status, res.headers = r.status_code, r.headers
        self.answers.append(r)
        if r.status_code in (200, 204):
            cur = r.headers.get("x-crier-cursor")
            assert cur, f"poll answer {r.status_code} without X-Crier-Cursor"
            self.cursor = res.cursor = cur
        if r.headers.get("x-crier-gap"):
            res.notices.append({"event": "crier-gap", "header": r.headers["x-crier-gap"]})
        if r.status_code == 200:
            for obj in r.json():
                data = obj["data"] if "data" in obj else obj.get("data_base64")
                res.messages.append(Msg(data=data, id=obj["id"], event=obj.get("event"),
                                        channel=obj["channel"], raw=obj))
        return r

    def run(self, n=None, timeout=10.0, until=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.poll_once()
            if r.status_code not in (200, 204):
                break
            if n is not None and len(self.result.messages) >= n:
                break
            if until is not None and until(self.result):
                break
            time.sleep(self.interval)
        return self.result

    def close(self):
        self.client.close()


# --- running readers side by side --------------------------------------------------------------------------


class Background:
    """Runs fn() in a thread; .join() returns its value or raises its error."""

    def __init__(self, fn):
        self.value = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn):
        try:
            self.value = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            self.error = e

    def join(self, timeout=60.0):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "reader thread did not finish"
        if self.error:
            raise self.error
        return self.value


def wait_subscribers(url, channel, n, timeout=15.0):
    """Waits until GET /pub/{channel} counts n subscribers (so a publish that
    follows reaches them all)."""
    deadline = time.monotonic() + timeout
    last = None
    with httpx.Client(base_url=url, timeout=5.0) as c:
        while time.monotonic() < deadline:
            r = c.get(f"/pub/{channel}")
            if r.status_code == 200:
                last = r.json()["subscribers"]
                if last >= n:
                    return last
            time.sleep(0.02)
    raise AssertionError(f"channel {channel}: {last} subscribers, expected {n}")


def proc_status(pid):
    """VmRSS and VmHWM of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out
