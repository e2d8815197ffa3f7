"""Chaos test of resume (DESIGN.md section 3, guarantees 1 and 2).

1,000 subscribers over a mix of mechanisms -- Server-Sent Events, WebSocket
(subprotocol crier.json), long polling, NDJSON streaming and polling; one channel or several per subscription -- are
disconnected and reconnected at random, each time resuming with its cursor,
while messages are published to 50 channels by several keep-alive publisher
connections that pipeline their requests. Every payload carries its channel
and its sequence number in that channel. At the end every subscriber must hold
exactly its channels' sequences: in order, nothing missing, nothing twice, and
each message with the id the publisher was given for it.

Chaos, per subscriber and connection: a random session length; a cut right
after the k-th event of a read, dropping whatever else the read brought (a
client that dies mid-stream, possibly mid-event); closes by FIN or by reset
(SO_LINGER 0); long polls abandoned while held; resume by ?since=,
Last-Event-ID or (long polling) If-None-Match; late joiners that start from
the history. Subscribers start with an explicit cursor on fresh channels
(?since=all; CHAOS_START=time or mixed: a unix time before the test started),
so that a client-built NDJSON cursor may use 0-0 for a channel it has not heard
from yet.

One Python process (asyncio, raw sockets, asyncio.Protocol parsers) drives all
connections. Size it with environment variables:
  CHAOS_MESSAGES        messages published in all (default 100000, 20000 against
                        an AddressSanitizer build: ~25 s on the idle 2-core
                        machine, ~45 s when it is busy with other work; 100000,
                        the design's figure, passes in ~60 s idle: the server's
                        cost of a long-poll answer grows with the subscriber's
                        backlog, so crier's CPU time triples from 50000 to 100000)
  CHAOS_SUBSCRIBERS     subscribers (default 1000)
  CHAOS_CHANNELS        channels (default 50)
  CHAOS_PUBLISHERS      publisher connections (default 4)
  CHAOS_PUBLISH_SECONDS the publishers' pace: spread over at least this long
                        (default CHAOS_MESSAGES / 2800, at least 10)
  CHAOS_DEADLINE        seconds the whole run may take before it fails (default 240)
  CHAOS_SEED            random seed (default: random, printed)
  CHAOS_START           all, time or mixed (default): the first cursor.

Run: CRIER_BIN=$PWD/build/crier /usr/bin/python3 -m pytest -q tests/integration/test_chaos.py
"""
import asyncio
import base64
import json
import os
import random
import re
import socket
import struct
import time

import httpx
import pytest

from conftest import sanitized_build

HOST = "127.0.0.1"


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v else default


N_MESSAGES = env_int("CHAOS_MESSAGES", 20000 if sanitized_build() else 100000)
N_SUBSCRIBERS = env_int("CHAOS_SUBSCRIBERS", 1000)
N_CHANNELS = env_int("CHAOS_CHANNELS", 50)
N_PUBLISHERS = env_int("CHAOS_PUBLISHERS", 4)
PUBLISH_SECONDS = float(os.environ.get("CHAOS_PUBLISH_SECONDS") or max(10.0, N_MESSAGES / 2800))
DEADLINE = float(os.environ.get("CHAOS_DEADLINE") or 240)
START = os.environ.get("CHAOS_START") or "mixed"

# Long polling costs a request per message, so it takes a smaller share (and fewer channels per
# subscriber) than the streams; each share still has hundreds of reconnections per run.
KINDS = [("sse", 34), ("ndjson", 28), ("ws", 16), ("longpoll", 14), ("poll", 8)]
EVENT_EVERY = 7  # every 7th message of a channel is published with X-Event: tick
MAX_ERRORS_KEPT = 40


def payload(ci, seq):
    """The message body: channel index, sequence number, and a pad whose length
    depends on the sequence, so a truncated or spliced body is noticed."""
    return b"%d:%d:%s" % (ci, seq, b"x" * (seq % 23))


HEADER = re.compile(rb"\r\n([^:\r\n]+):[ \t]*([^\r\n]*?)[ \t]*(?=\r\n|$)")


def parse_head(head):
    """A response head (without the final blank line): status, {lowercased name: value}."""
    status = int(head[9:12])
    return status, {k.lower(): v for k, v in HEADER.findall(head)}


class Chaos:
    """State shared by publishers and subscribers."""

    def __init__(self, port, rng):
        self.port = port
        self.rng = rng
        run = "%06x" % rng.getrandbits(24)
        self.names = [f"chaos{run}-{i:02d}" for i in range(N_CHANNELS)]
        self.name_index = {n.encode(): i for i, n in enumerate(self.names)}
        self.pub_ids = [[] for _ in range(N_CHANNELS)]  # ids acknowledged, per channel, by sequence
        self.final = None  # per-channel message counts, once every publish is acknowledged
        self.errors = []
        self.nerrors = 0
        self.stats = {"connects": 0, "connect_failures": 0, "fin": 0, "rst": 0, "cut_mid_read": 0,
                      "abandoned_polls": 0, "requests": 0, "heartbeats": 0,
                      "resume_since": 0, "resume_last_event_id": 0, "resume_if_none_match": 0}
        self.deadline = time.monotonic() + DEADLINE
        self.all_done = None

    def error(self, text):
        self.nerrors += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(text)


class Subscriber:
    def __init__(self, idx, kind, chans, since0, chaos):
        self.idx = idx
        self.kind = kind
        self.chans = chans
        self.slot = {ci: k for k, ci in enumerate(chans)}
        self.last = [0] * len(chans)  # last sequence held, per channel
        self.ids = ["0-0"] * len(chans)  # last id held, per channel (NDJSON builds its cursor from them)
        self.seen_any = False
        self.cursor = None  # the server's cursor (SSE id, X-Crier-Cursor)
        self.since0 = since0  # explicit first cursor: "all" or a unix time before the test
        self.chaos = chaos
        self.received = 0
        self.connects = 0
        self.done = False
        self.path_channels = ",".join(chaos.names[ci] for ci in chans)

    def label(self):
        return f"subscriber {self.idx} ({self.kind}, {len(self.chans)} ch, connect #{self.connects})"

    def resume_cursor(self):
        if self.kind in ("ndjson", "ws"):
            return ",".join(self.ids) if self.seen_any else self.since0
        return self.cursor if self.cursor is not None else self.since0

    def accept(self, ci, seq, pad_len, msg_id, event, extra=""):
        """One message as received; checks it against what the subscriber holds."""
        ch = self.chaos
        k = self.slot.get(ci)
        if k is None:
            ch.error(f"{self.label()}: message {ci}:{seq} from a channel it did not subscribe to{extra}")
            return
        if pad_len != seq % 23:
            ch.error(f"{self.label()}: corrupt payload for {ci}:{seq}{extra}")
        want = self.last[k] + 1
        if seq != want:
            what = "duplicate" if seq < want else "missing %d..%d" % (want, seq - 1)
            ch.error(f"{self.label()}: channel {ci}: got seq {seq}, expected {want} ({what}){extra}")
            if seq < want:
                return
        self.last[k] = seq
        ids = ch.pub_ids[ci]
        if seq <= len(ids) and ids[seq - 1] != msg_id:
            ch.error(f"{self.label()}: channel {ci} seq {seq}: id {msg_id}, publisher got {ids[seq - 1]}{extra}")
        want_event = "tick" if seq % EVENT_EVERY == 0 else None
        if event != want_event:
            ch.error(f"{self.label()}: channel {ci} seq {seq}: event {event!r}, expected {want_event!r}{extra}")
        self.ids[k] = msg_id
        self.seen_any = True
        self.received += 1

    def complete(self):
        final = self.chaos.final
        if final is None:
            return False
        for k, ci in enumerate(self.chans):
            if self.last[k] < final[ci]:
                return False
        return True


# --- clients: one asyncio.Protocol per connection -----------------------------------------------------


class Conn(asyncio.Protocol):
    """Base: a connection for one session of a subscriber. `ended` resolves when
    the connection is lost or the subscriber is complete. `cut_after`: abort the
    connection right after that many messages (dropping the rest of the read)."""

    def __init__(self, sub, cut_after):
        self.sub = sub
        self.chaos = sub.chaos
        self.transport = None
        self.buf = b""
        self.ended = asyncio.get_running_loop().create_future()
        self.cut_after = cut_after
        self.count = 0
        self.dead = False

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.dead = True
        if not self.ended.done():
            self.ended.set_result("lost")

    def data_received(self, data):
        if self.dead:
            return
        try:
            self.on_data(data)
        except Exception as e:  # a parse failure is a finding, not a crash of the test
            self.chaos.error(f"{self.sub.label()}: client failed on what it received: {e!r}")
            self.close("fin")
            self.finish("error")

    def finish(self, why):
        if not self.ended.done():
            self.ended.set_result(why)

    def check_done(self):
        if self.sub.complete():
            self.sub.done = True
            self.finish("complete")

    def read_head(self, what, ok):
        """Consumes the response head once it is whole: False while it is not, or when
        ok(status, headers) refused it (an error is recorded and the session ends)."""
        if self.head is not None:
            return True
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        status, headers = parse_head(self.buf[:end])
        self.buf = self.buf[end + 4:]
        self.head = headers
        if not ok(status, headers):
            self.chaos.error(f"{self.sub.label()}: {what} answered {status} {headers}")
            self.close("fin")
            self.finish("error")
            return False
        return True

    def accept_json(self, what, raw, m):
        """One message as a JSON object (NDJSON line, crier.json frame); True if cut here."""
        sub = self.sub
        if "data" not in m:
            self.chaos.error(f"{sub.label()}: {what} notice {raw!r} (resumed from {sub.resume_cursor()})")
            return False
        ci, seq, pad = m["data"].split(":", 2)
        ci, seq = int(ci), int(seq)
        if self.chaos.name_index.get(m["channel"].encode()) != ci:
            self.chaos.error(f"{sub.label()}: {what} channel {m['channel']} for payload of channel {ci}")
        sub.accept(ci, seq, len(pad), m["id"], m.get("event"))
        return self.after_message()

    def after_message(self):
        """True when the connection was cut here (the caller stops processing)."""
        self.count += 1
        if self.cut_after is not None and self.count >= self.cut_after:
            self.chaos.stats["cut_mid_read"] += 1
            abort(self.transport, self.chaos)
            self.dead = True
            self.finish("cut")
            return True
        return False

    def close(self, how):
        if self.dead or self.transport is None:
            return
        if how == "rst":
            abort(self.transport, self.chaos)
        else:
            self.chaos.stats["fin"] += 1
            self.transport.close()
        self.dead = True


def abort(transport, chaos):
    """Closes with a reset: SO_LINGER 0, then close without flushing."""
    chaos.stats["rst"] += 1
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


def request(sub, transport_param=None, methods=("since", "last-event-id")):
    """The GET for a (re)connection, resuming with the subscriber's cursor."""
    chaos = sub.chaos
    cursor = sub.resume_cursor()
    how = chaos.rng.choice(methods)
    if how == "if-none-match" and "-" not in cursor:
        how = "since"  # Nchan's If-None-Match carries an id (an Etag), never "all" or a time
    q = []
    if transport_param:
        q.append("transport=" + transport_param)
    headers = [f"Host: {HOST}"]
    if sub.kind == "sse":
        headers.append("Accept: text/event-stream")
    elif sub.kind == "ndjson":
        headers.append("Accept: application/x-ndjson")
    if how == "since":
        q.append("since=" + cursor)
        chaos.stats["resume_since"] += 1
    elif how == "last-event-id":
        headers.append("Last-Event-ID: " + cursor)
        chaos.stats["resume_last_event_id"] += 1
    else:
        headers.append(f'If-None-Match: "{cursor}"')
        chaos.stats["resume_if_none_match"] += 1
    path = f"/sub/{sub.path_channels}" + ("?" + "&".join(q) if q else "")
    chaos.stats["requests"] += 1
    return (f"GET {path} HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode()


class SSEConn(Conn):
    def connection_made(self, transport):
        super().connection_made(transport)
        self.head = None
        transport.write(request(self.sub))

    def on_data(self, data):
        self.buf += data
        if not self.read_head("SSE", lambda st, h: st == 200 and
                              h.get(b"content-type", b"").startswith(b"text/event-stream")):
            return
        end = self.buf.rfind(b"\n\n")
        if end < 0:
            return
        blocks = self.buf[:end].split(b"\n\n")
        self.buf = self.buf[end + 2:]
        sub = self.sub
        multi = len(sub.chans) > 1
        for blk in blocks:
            data = ev = mid = None
            for line in blk.split(b"\n"):
                if line.startswith(b"data: "):
                    data = line[6:] if data is None else data + b"\n" + line[6:]
                elif line.startswith(b"id: "):
                    mid = line[4:].decode()
                elif line.startswith(b"event: "):
                    ev = line[7:].decode()
                elif line == b":":
                    self.chaos.stats["heartbeats"] += 1
                elif line.startswith(b":") or line.startswith(b"retry: ") or not line:
                    pass
                else:
                    self.chaos.error(f"{sub.label()}: unexpected SSE line {line!r}")
            if ev == "crier-hello":
                continue  # the client id, told first on every stream
            if ev is not None and ev != "tick":
                self.chaos.error(f"{sub.label()}: SSE notice {ev}: {blk!r} (resumed from {sub.resume_cursor()})")
                continue
            if data is None:
                continue
            if mid is None:
                self.chaos.error(f"{sub.label()}: SSE event without id: {blk!r}")
                continue
            ci, seq, pad = data.split(b":", 2)
            ci, seq = int(ci), int(seq)
            if multi:
                # The id is the compound cursor: this channel's part must be the message's id.
                parts = mid.split(",")
                k = sub.slot.get(ci)
                if len(parts) != len(sub.chans) or k is None:
                    self.chaos.error(f"{sub.label()}: compound cursor {mid} does not fit {sub.chans}")
                    continue
                msg_id = parts[k]
            else:
                msg_id = mid
            sub.accept(ci, seq, len(pad), msg_id, ev)
            sub.cursor = mid
            if self.after_message():
                return
        self.check_done()


class NDJSONConn(Conn):
    def connection_made(self, transport):
        super().connection_made(transport)
        self.head = None
        self.body = b""
        transport.write(request(self.sub))

    def on_data(self, data):
        self.buf += data
        if not self.read_head("NDJSON", lambda st, h: st == 200 and h.get(b"transfer-encoding") == b"chunked"):
            return
        # Decode chunked framing into self.body.
        buf, pos, out = self.buf, 0, []
        while True:
            crlf = buf.find(b"\r\n", pos)
            if crlf < 0:
                break
            size = int(buf[pos:crlf], 16)
            start = crlf + 2
            if len(buf) < start + size + 2:
                break
            if buf[start + size:start + size + 2] != b"\r\n":
                self.chaos.error(f"{self.sub.label()}: bad chunk framing")
                self.close("fin")
                self.finish("error")
                return
            if size == 0:
                self.chaos.error(f"{self.sub.label()}: NDJSON stream ended by the server")
            out.append(buf[start:start + size])
            pos = start + size + 2
        self.buf = buf[pos:]
        if not out:
            return
        body = self.body + b"".join(out)
        end = body.rfind(b"\n")
        if end < 0:
            self.body = body
            return
        self.body = body[end + 1:]
        for line in body[:end].split(b"\n"):
            if not line:
                self.chaos.stats["heartbeats"] += 1
                continue
            if self.accept_json("NDJSON", line, json.loads(line)):
                return
        self.check_done()


class WSConn(Conn):
    """A WebSocket subscriber (RFC 6455 by hand, so that it can be cut anywhere): the
    subprotocol crier.json makes each message a text frame holding its JSON object with
    its id; it resumes from those ids like NDJSON."""

    def connection_made(self, transport):
        super().connection_made(transport)
        self.head = None
        key = base64.b64encode(self.chaos.rng.randbytes(16)).decode()
        req = request(self.sub).decode().replace(
            "\r\n\r\n", f"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Protocol: crier.json\r\n\r\n", 1)
        transport.write(req.encode())

    def on_data(self, data):
        self.buf += data
        sub = self.sub
        if not self.read_head("WebSocket", lambda st, h: st == 101 and h.get(b"sec-websocket-protocol") == b"crier.json"):
            return
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            n, hl = b1 & 0x7F, 2
            if b1 & 0x80:
                self.chaos.error(f"{sub.label()}: a masked server frame")
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, hl = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, hl = struct.unpack("!Q", self.buf[2:10])[0], 10
            if len(self.buf) < hl + n:
                return
            op, payload = b0 & 0x0F, self.buf[hl:hl + n]
            self.buf = self.buf[hl + n:]
            if not b0 & 0x80 or op == 0:
                self.chaos.error(f"{sub.label()}: a fragmented message from the server")
                continue
            if op == 9:  # ping: a masked pong with the same payload
                mask = b"\x00\x00\x00\x00"
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + payload)
                continue
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.chaos.error(f"{sub.label()}: WebSocket closed by the server ({code} {payload[2:]!r})")
                self.close("fin")
                self.finish("error")
                return
            if op != 1:
                self.chaos.error(f"{sub.label()}: WebSocket frame opcode {op}")
                continue
            m = json.loads(payload)
            if m.get("event") == "crier-hello":
                continue
            if self.accept_json("WebSocket", payload, m):
                return
        self.check_done()


class PollConn(Conn):
    """Long polling (one message per answer) or polling (?transport=poll: every
    newer message at once), several requests per keep-alive connection. The
    session may end while a long poll is held: it is abandoned."""

    def __init__(self, sub, cut_after, session_end):
        super().__init__(sub, cut_after)
        self.session_end = session_end
        self.waiting = False
        self.pending = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self.send()

    def send(self):
        self.pending = None
        if self.dead:
            return
        if self.sub.kind == "poll":
            req = request(self.sub, "poll")
        else:
            req = request(self.sub, None, ("since", "last-event-id", "if-none-match"))
        self.waiting = True
        self.transport.write(req)

    def on_data(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status, headers = parse_head(self.buf[:end])
            clen = int(headers.get(b"content-length", b"0"))
            if len(self.buf) < end + 4 + clen:
                return
            body = self.buf[end + 4:end + 4 + clen]
            self.buf = self.buf[end + 4 + clen:]
            self.waiting = False
            if not self.answer(status, headers, body):
                return
            if self.buf:
                self.chaos.error(f"{self.sub.label()}: bytes after an answer: {self.buf[:80]!r}")
                self.buf = b""
            self.check_done()
            if self.ended.done() or self.dead:
                return
            if time.monotonic() >= self.session_end:
                if self.chaos.rng.random() < 0.5:
                    self.send()  # and drop it at once: the answer is lost in flight or never sent
                self.finish("session over")
                return
            if self.sub.kind == "poll" and status == 204:
                # Nothing new: poll again a little later, as a polling client would.
                self.pending = asyncio.get_running_loop().call_later(self.chaos.rng.uniform(0.02, 0.15), self.send)
            else:
                self.send()
            return

    def answer(self, status, headers, body):
        sub = self.sub
        cursor = headers.get(b"x-crier-cursor")
        if status in (204, 304):
            if cursor is None:
                self.chaos.error(f"{sub.label()}: {status} without X-Crier-Cursor")
            else:
                sub.cursor = cursor.decode()
            return True
        if status != 200 or b"x-crier-gap" in headers:
            self.chaos.error(f"{sub.label()}: {sub.kind} answered {status} {headers} {body[:200]!r}")
            self.close("fin")
            self.finish("error")
            return False
        if sub.kind == "poll":
            for m in json.loads(body):
                ci, seq, pad = m["data"].split(":", 2)
                ci, seq = int(ci), int(seq)
                if self.chaos.name_index.get(m["channel"].encode()) != ci:
                    self.chaos.error(f"{sub.label()}: poll channel {m['channel']} for payload of channel {ci}")
                sub.accept(ci, seq, len(pad), m["id"], m.get("event"))
        else:
            ci, seq, pad = body.split(b":", 2)
            ci, seq = int(ci), int(seq)
            if self.chaos.name_index.get(headers.get(b"x-crier-channel")) != ci:
                self.chaos.error(f"{sub.label()}: X-Crier-Channel {headers.get(b'x-crier-channel')} for {ci}")
            ev = headers.get(b"x-crier-event")
            sub.accept(ci, seq, len(pad), headers[b"x-crier-id"].decode(), ev.decode() if ev else None)
        sub.cursor = cursor.decode()
        if self.after_message():
            return False
        return True

    def close(self, how):
        if self.pending is not None:
            self.pending.cancel()
        if self.waiting and not self.dead:
            self.chaos.stats["abandoned_polls"] += 1
        super().close(how)


async def run_subscriber(sub, start_delay):
    chaos = sub.chaos
    rng = chaos.rng
    loop = asyncio.get_running_loop()
    await asyncio.sleep(start_delay)
    while not sub.complete():
        if time.monotonic() > chaos.deadline:
            return
        sub.connects += 1
        chaos.stats["connects"] += 1
        # A session: mostly short, sometimes long; one in four is cut after a few messages.
        session = rng.choice((rng.uniform(0.05, 0.6), rng.uniform(0.3, 2.5)))
        cut_after = rng.randint(1, 60) if rng.random() < 0.25 else None
        if sub.kind == "sse":
            conn = SSEConn(sub, cut_after)
        elif sub.kind == "ndjson":
            conn = NDJSONConn(sub, cut_after)
        elif sub.kind == "ws":
            conn = WSConn(sub, cut_after)
        else:
            conn = PollConn(sub, cut_after, time.monotonic() + session)
        try:
            await loop.create_connection(lambda: conn, HOST, chaos.port)
        except OSError as e:
            chaos.stats["connect_failures"] += 1
            if chaos.stats["connect_failures"] > 50:
                chaos.error(f"{sub.label()}: connect failed: {e}")
                return
            await asyncio.sleep(0.2)
            continue
        try:
            await asyncio.wait_for(asyncio.shield(conn.ended), timeout=session + 0.5)
        except asyncio.TimeoutError:
            pass
        if sub.complete():
            sub.done = True
            # Stay connected (streams) until every subscriber is done, to catch late duplicates.
            if sub.kind in ("sse", "ndjson", "ws") and not conn.dead:
                await chaos.all_done.wait()
                await asyncio.sleep(0.5)
            conn.close("fin")
            return
        conn.close("rst" if rng.random() < 0.4 else "fin")
        await asyncio.sleep(rng.uniform(0, 0.1))


# --- publishing -------------------------------------------------------------------------------------------


async def run_publisher(chaos, p, n, counts):
    """Publishes n messages to the channels this publisher owns (ci % N_PUBLISHERS == p),
    pipelining batches on one keep-alive connection; seq = the channel's count."""
    rng = random.Random(chaos.rng.random())
    mine = [ci for ci in range(N_CHANNELS) if ci % N_PUBLISHERS == p]
    reader, writer = await asyncio.open_connection(HOST, chaos.port)
    t0 = time.monotonic()
    sent = 0
    batch = 32
    try:
        while sent < n:
            k = min(batch, n - sent)
            reqs, chans = [], []
            for _ in range(k):
                ci = rng.choice(mine)
                seq = counts[ci] + 1
                counts[ci] = seq
                body = payload(ci, seq)
                ev = b"X-Event: tick\r\n" if seq % EVENT_EVERY == 0 else b""
                reqs.append(b"POST /pub/%s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s"
                            % (chaos.names[ci].encode(), ev, len(body), body))
                chans.append(ci)
            writer.write(b"".join(reqs))
            for ci in chans:
                head = await reader.readuntil(b"\r\n\r\n")
                status, headers = parse_head(head[:-4])
                body = await reader.readexactly(int(headers[b"content-length"]))
                if status != 201:
                    raise AssertionError(f"publish to channel {ci} answered {status}: {body!r}")
                chaos.pub_ids[ci].append(json.loads(body)["id"])
            sent += k
            ahead = t0 + PUBLISH_SECONDS * sent / n - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
    finally:
        writer.close()


# --- the run ------------------------------------------------------------------------------------------------


async def chaos_run(port, seed):
    rng = random.Random(seed)
    chaos = Chaos(port, rng)
    chaos.all_done = asyncio.Event()
    kinds = [k for k, w in KINDS for _ in range(w)]
    since_time = str(int(time.time()) - 2)
    starts = {"all": ["all"], "time": [since_time], "mixed": ["all", since_time]}[START]
    subs = []
    for i in range(N_SUBSCRIBERS):
        kind = kinds[i % len(kinds)] if i < len(kinds) else rng.choice(kinds)
        single = 0.55 if kind in ("sse", "ndjson") else 0.7
        nch = 1 if rng.random() < single else rng.randint(2, 4)
        chans = rng.sample(range(N_CHANNELS), nch)
        subs.append(Subscriber(i, kind, chans, rng.choice(starts), chaos))
    # Most start before the first publish; a quarter join while publishing goes on (from the history).
    tasks = []
    for s in subs:
        delay = rng.uniform(0, 0.5) if rng.random() < 0.75 else rng.uniform(1, PUBLISH_SECONDS * 0.8)
        tasks.append(asyncio.ensure_future(run_subscriber(s, delay)))
    await asyncio.sleep(0.6)
    counts = [0] * N_CHANNELS
    share = [N_MESSAGES // N_PUBLISHERS + (1 if p < N_MESSAGES % N_PUBLISHERS else 0) for p in range(N_PUBLISHERS)]
    t_pub = time.monotonic()
    await asyncio.gather(*(run_publisher(chaos, p, share[p], counts) for p in range(N_PUBLISHERS)))
    publish_time = time.monotonic() - t_pub
    chaos.final = counts

    async def watch():
        while not all(s.complete() for s in subs) and time.monotonic() < chaos.deadline:
            await asyncio.sleep(0.1)
        chaos.all_done.set()

    t_catch = time.monotonic()
    watcher = asyncio.ensure_future(watch())
    remaining = chaos.deadline - time.monotonic()
    done, pending = await asyncio.wait(tasks, timeout=max(remaining, 1) + 5)
    for t in pending:
        t.cancel()
    watcher.cancel()
    for t in done:
        if t.exception() is not None:
            chaos.error(f"subscriber task failed: {t.exception()!r}")
    return chaos, subs, counts, publish_time, time.monotonic() - t_catch


def test_chaos_resume(make_server):
    srv = make_server("--history", "1000000", "--hold", "2s", "--heartbeat", "1s", "--log-level", "info")
    seed = env_int("CHAOS_SEED", random.SystemRandom().randrange(1 << 30))
    t0, cpu0 = time.monotonic(), os.times()
    chaos, subs, counts, publish_time, catch_time = asyncio.run(chaos_run(srv.port, seed))
    elapsed, cpu1 = time.monotonic() - t0, os.times()
    with open(f"/proc/{srv.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    server_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    test_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    st = chaos.stats
    by_kind = {}
    for s in subs:
        by_kind.setdefault(s.kind, [0, 0, 0])
        by_kind[s.kind][0] += 1
        by_kind[s.kind][1] += s.connects
        by_kind[s.kind][2] += s.received
    summary = (f"seed {seed}: {N_SUBSCRIBERS} subscribers, {sum(counts)} messages on {N_CHANNELS} channels, "
               f"publish {publish_time:.1f} s, catch-up {catch_time:.1f} s, total {elapsed:.1f} s "
               f"(CPU: test {test_cpu:.1f} s, crier {server_cpu:.1f} s); "
               f"per kind (subs, connects, messages) {by_kind}; {st}")
    print(summary)

    assert srv.alive(), "crier died:\n" + srv.log()[-4000:]
    incomplete = [s for s in subs if not s.complete()]
    assert not chaos.errors, f"{chaos.nerrors} errors, first ones:\n" + "\n".join(chaos.errors) + "\n" + summary
    assert not incomplete, (f"{len(incomplete)} subscribers did not get everything in {DEADLINE} s, e.g. "
                            + "; ".join(f"{s.label()} holds {s.last} of {[counts[c] for c in s.chans]}"
                                        for s in incomplete[:5]) + "\n" + summary)
    assert sum(counts) == N_MESSAGES
    # Every subscriber holds exactly its channels' sequences (checked message by message above).
    for s in subs:
        assert s.last == [counts[c] for c in s.chans], s.label()
    # The chaos happened: reconnects, resets, cuts mid-read, abandoned polls, every resume style.
    assert st["connects"] >= 2 * N_SUBSCRIBERS, summary
    assert st["rst"] > 0 and st["cut_mid_read"] > 0 and st["abandoned_polls"] > 0, summary
    assert st["resume_since"] and st["resume_last_event_id"] and st["resume_if_none_match"], summary
    assert set(by_kind) == {k for k, _ in KINDS}
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        health = c.get("/health").json()
        assert health["status"] == "ok" and health["published"] == N_MESSAGES, health
    log = srv.log()
    assert "cut off" not in log, [l for l in log.splitlines() if "cut off" in l][:5]


# --- a finding of the chaos run, pinned down ---------------------------------------------------------------
#
# The chaos run first started half of its subscribers with ?since=<unix time>; those that resumed with the
# cursor the server had handed them were told of gaps that did not exist (no message was missing). A
# subscription with ?since=<unix time> older than a channel gets the synthetic position
# "<T*1000-1>-18446744073709551615" for that channel, and a later resume with a cursor carrying it is judged
# "older than the channel, so from an earlier life of it" (stream.c, channel_gap). The single-channel 204
# case is fixed; a compound cursor still carries the synthetic part for a channel whose messages the
# subscriber has not received yet.


def sse_events(sock, n, timeout=5.0):
    """Reads SSE from sock until n events with data have arrived; returns their blocks."""
    buf = b""
    deadline = time.monotonic() + timeout
    while True:
        blocks = [b for b in buf.split(b"\n\n")[:-1]
                  if b"\ndata: " in b"\n" + b and b"event: crier-hello" not in b]
        if len(blocks) >= n:
            return [b for b in buf.split(b"\n\n")[:-1]]
        assert time.monotonic() < deadline, buf
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        assert chunk, buf
        buf += chunk


def sse_open(port, path, headers=""):
    s = socket.create_connection((HOST, port), timeout=5)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{headers}\r\n".encode())
    return s


def test_since_time_then_resume_from_204_cursor_is_not_a_gap(make_server):
    srv = make_server("--hold", "1s", "--log-level", "info")
    t = int(time.time()) - 5
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.get("/sub/gapless1", params={"since": str(t)})
        assert r.status_code == 204
        cursor = r.headers["x-crier-cursor"]
        assert c.post("/pub/gapless1", content=b"one").status_code == 201
        r = c.get("/sub/gapless1", params={"since": cursor})
        assert r.status_code == 200 and r.content == b"one"
        assert "x-crier-gap" not in r.headers, (cursor, r.headers)


# A compound cursor from a ?since=<unix time> subscription carries the time part
# <T-1>-18446744073709551615 for a channel the subscriber has had nothing from yet;
# resuming with it must not be reported as a gap (it once was).


def test_since_time_long_poll_two_channels_resume_is_not_a_gap(make_server):
    # Both channels are fresh and each has one message newer than T. The first answer
    # carries channel a's message and the cursor "<id a>,<T-1>-18446744073709551615";
    # resuming with it must give channel b's message without a gap notice.
    srv = make_server("--hold", "1s", "--log-level", "info")
    t = int(time.time()) - 5
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        assert c.post("/pub/gl-a", content=b"a").status_code == 201
        assert c.post("/pub/gl-b", content=b"b").status_code == 201
        r = c.get("/sub/gl-a,gl-b", params={"since": str(t)})
        assert r.status_code == 200 and r.content == b"a"
        cursor = r.headers["x-crier-cursor"]
        r = c.get("/sub/gl-a,gl-b", params={"since": cursor})
        assert r.status_code == 200 and r.content == b"b"
        assert "x-crier-gap" not in r.headers, (cursor, dict(r.headers))


def test_since_time_sse_two_channels_resume_is_not_a_gap(make_server):
    # The client drops after the first event (channel a's); EventSource resumes with its
    # Last-Event-ID, the compound id of that event. Channel b's message must come, with no
    # crier-gap event.
    srv = make_server("--log-level", "info")
    t = int(time.time()) - 5
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        assert c.post("/pub/gs-a", content=b"a").status_code == 201
        assert c.post("/pub/gs-b", content=b"b").status_code == 201
    s = sse_open(srv.port, f"/sub/gs-a,gs-b?since={t}")
    first = [b for b in sse_events(s, 1) if b"data: a" in b][0]
    s.close()
    last_id = first.split(b"id: ")[1].split(b"\n")[0].decode()
    s = sse_open(srv.port, "/sub/gs-a,gs-b", f"Last-Event-ID: {last_id}\r\n")
    blocks = sse_events(s, 1)
    s.close()
    assert any(b"data: b" in b for b in blocks), blocks
    assert not any(b"crier-gap" in b for b in blocks), (last_id, blocks)
