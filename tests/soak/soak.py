#!/usr/bin/python3
"""Soak test: a crier of its own under mixed publishing and subscribing with
churn for SOAK_SECONDS (default 600), its RSS and open descriptors sampled
every SOAK_INTERVAL seconds (default 10) and printed as a table; at the end, a
verdict on whether they were flat after the warm-up, and whether descriptors
and connections went back to the baseline once the load stopped.

The load (one asyncio process):
- publishers on keep-alive connections, pipelining, at SOAK_RATE messages/s
  (default 300) over SOAK_CHANNELS channels (default 100), payloads of 10 B to
  4 KiB carrying their channel's sequence number; the channel names rotate
  every minute, so old channels empty out (--history-age 30s) and are forgotten;
  at each rotation some channels of the last-but-one set are deleted;
- SOAK_SUBSCRIBERS subscribers at a time (default 300): SSE (one channel or
  several), NDJSON, long polling and polling, each connection living 1-20 s,
  then dropped (FIN or reset) and mostly resumed with its cursor; each checks
  that every channel's sequence goes up by one (a gap or deletion notice
  restarts the count, and is counted);
- a few subscribers that never read (cut off by the output queue limit), and
  now and then a bad request (oversized head, garbage, unknown route).

Exit status 0 when RSS and descriptors were flat after warm-up, came back after
the load, no message was out of order or duplicated, and crier is alive.

Run: make soak   (or SOAK_SECONDS=180 make soak;  CRIER_BIN=... /usr/bin/python3 tests/soak/soak.py)
"""
import asyncio
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CRIER = os.environ.get("CRIER_BIN") or os.path.join(ROOT, "build", "crier")
HOST = "127.0.0.1"


def env_num(name, default, cast=int):
    v = os.environ.get(name)
    return cast(v) if v else default


SECONDS = env_num("SOAK_SECONDS", 600, float)
INTERVAL = env_num("SOAK_INTERVAL", 10, float)
SUBSCRIBERS = env_num("SOAK_SUBSCRIBERS", 300)
RATE = env_num("SOAK_RATE", 300, float)
CHANNELS = env_num("SOAK_CHANNELS", 100)
PUBLISHERS = 2
ROTATE = 60.0  # seconds between channel-name generations
WARMUP = min(120.0, max(60.0, SECONDS / 5))
MiB = 1024 * 1024
HISTORY_AGE = "30s"
FLAGS = ["--history", "500", "--history-age", HISTORY_AGE, "--hold", "5s", "--heartbeat", "5s",
         "--queue-hard", "512k", "--queue-soft", "128k", "--queue-soft-time", "2s", "--log-level", "warn"]

HEADER = re.compile(rb"\r\n([^:\r\n]+):[ \t]*([^\r\n]*)")


def parse_head(head):
    return int(head[9:12]), {k.lower(): v.strip() for k, v in HEADER.findall(head)}


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Stats:
    def __init__(self):
        self.received = 0
        self.connects = 0
        self.resumes = 0
        self.errors = []
        self.nerrors = 0
        self.gaps = 0
        self.deleted = 0
        self.published = 0
        self.bad_requests = 0
        self.slow_readers = 0
        self.requests = 0

    def error(self, text):
        self.nerrors += 1
        if len(self.errors) < 30:
            self.errors.append(text)


class World:
    def __init__(self, port, rng):
        self.port = port
        self.rng = rng
        self.stats = Stats()
        self.t0 = time.monotonic()
        self.stop = False
        self.seq = {}  # channel name -> last sequence published

    def generation(self):
        return int((time.monotonic() - self.t0) / ROTATE)

    def channel(self, gen, k):
        return f"soak-g{gen}-{k}"

    def pick_channels(self, n):
        gen = self.generation()
        return [self.channel(gen, k) for k in self.rng.sample(range(CHANNELS), n)]


def payload(channel, seq, size):
    """channel:seq:padding"""
    head = b"%s:%d:" % (channel.encode(), seq)
    return head + b"s" * max(0, size - len(head))


# --- publishers --------------------------------------------------------------------------------------


async def publisher(world, p):
    rng = random.Random(p)
    st = world.stats
    reader, writer = await asyncio.open_connection(HOST, world.port)
    sent = 0
    t0 = time.monotonic()
    per = RATE / PUBLISHERS
    last_gen = world.generation()
    while not world.stop:
        gen = world.generation()
        if gen != last_gen and p == 0 and gen >= 2:
            # Rotation: delete a few channels of the generation before last.
            for k in rng.sample(range(CHANNELS), max(1, CHANNELS // 10)):
                writer.write(b"DELETE /pub/%s HTTP/1.1\r\nHost: s\r\n\r\n" % world.channel(gen - 2, k).encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status, h = parse_head(head)
                await reader.readexactly(int(h.get(b"content-length", b"0")))
                if status not in (200, 404):
                    st.error(f"DELETE answered {status}")
        last_gen = gen
        batch = []
        for _ in range(20):
            k = rng.randrange(p, CHANNELS, PUBLISHERS)  # channels k % PUBLISHERS == p: one publisher each
            name = world.channel(gen, k)
            seq = world.seq.get(name, 0) + 1
            world.seq[name] = seq
            body = payload(name, seq, int(rng.choice((10, 50, 200, 1000, 4096)) * rng.uniform(0.5, 1)))
            batch.append(b"POST /pub/%s HTTP/1.1\r\nHost: s\r\nContent-Length: %d\r\n\r\n%s"
                         % (name.encode(), len(body), body))
        writer.write(b"".join(batch))
        for _ in batch:
            head = await reader.readuntil(b"\r\n\r\n")
            status, h = parse_head(head)
            body = await reader.readexactly(int(h.get(b"content-length", b"0")))
            if status != 201:
                st.error(f"publish answered {status}: {body[:100]!r}")
        sent += len(batch)
        st.published += len(batch)
        ahead = t0 + sent / per - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)
    writer.close()


# --- subscribers ---------------------------------------------------------------------------------------


class Identity:
    """A subscriber across reconnections: its channels, cursor and last sequences."""

    def __init__(self, world, kind, nch):
        self.world = world
        self.kind = kind
        self.nch = nch
        self.new_channels()

    def new_channels(self):
        self.channels = self.world.pick_channels(self.nch)
        self.gen = self.world.generation()
        self.last = {}
        self.cursor = None
        self.ids = {}

    def accept(self, channel, data, msg_id):
        """One message; channel is what the transport said (None if it says nothing)."""
        st = self.world.stats
        try:
            name, seq, _ = data.split(b":", 2)
            name, seq = name.decode(), int(seq)
        except ValueError:
            st.error(f"{self.kind}: bad payload {data[:40]!r}")
            return
        if name not in self.channels or (channel is not None and channel != name):
            st.error(f"{self.kind} {self.channels}: message of {name} (said {channel})")
            return
        channel = name
        prev = self.last.get(channel)
        if prev is not None and seq != prev + 1:
            st.error(f"{self.kind} {self.channels}: channel {channel} seq {seq} after {prev}")
        self.last[channel] = seq
        self.ids[channel] = msg_id
        st.received += 1

    def notice(self, what):
        st = self.world.stats
        if b"crier-gap" in what or what == b"gap":
            st.gaps += 1
            self.last = {}
        elif b"crier-deleted" in what or what == b"deleted":
            st.deleted += 1
            self.last = {}
        elif b"crier-hello" in what:
            pass  # the client id, first on every stream
        elif b"crier-close" not in what:
            st.error(f"{self.kind}: unexpected notice {what[:200]!r}")

    def request(self, extra_q=""):
        q = [extra_q] if extra_q else []
        hdr = ""
        cursor = self.cursor
        if self.kind == "ndjson" and self.ids:
            cursor = self.ids[self.channels[0]]
        if cursor:
            self.world.stats.resumes += 1
            if self.kind == "sse" and self.world.rng.random() < 0.5:
                hdr = f"Last-Event-ID: {cursor}\r\n"
            else:
                q.append("since=" + cursor)
        accept = {"sse": "Accept: text/event-stream\r\n",
                  "ndjson": "Accept: application/x-ndjson\r\n"}.get(self.kind, "")
        path = "/sub/" + ",".join(self.channels) + ("?" + "&".join(q) if q else "")
        self.world.stats.requests += 1
        return f"GET {path} HTTP/1.1\r\nHost: s\r\n{accept}{hdr}\r\n".encode()


def hard_close(writer, rng):
    if rng.random() < 0.3:
        sock = writer.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        writer.transport.abort()
    else:
        writer.close()


async def stream_session(ident, reader, writer, until):
    """SSE or NDJSON: reads until the deadline."""
    world = ident.world
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status, h = parse_head(head)
    if status != 200:
        world.stats.error(f"{ident.kind} answered {status}")
        return
    buf = b""
    while time.monotonic() < until and not world.stop:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), max(0.05, until - time.monotonic()))
        except asyncio.TimeoutError:
            break
        if not chunk:
            break
        buf += chunk
        if ident.kind == "sse":
            end = buf.rfind(b"\n\n")
            if end < 0:
                continue
            blocks, buf = buf[:end].split(b"\n\n"), buf[end + 2:]
            for blk in blocks:
                data, mid, ev = None, None, None
                for line in blk.split(b"\n"):
                    if line.startswith(b"data: "):
                        data = line[6:]
                    elif line.startswith(b"id: "):
                        mid = line[4:].decode()
                    elif line.startswith(b"event: "):
                        ev = line[7:]
                if ev is not None:
                    ident.notice(blk)
                    if b"crier-deleted" in ev:
                        return
                    continue
                if data is None:
                    continue
                ident.accept(None, data, mid)
                ident.cursor = mid
        else:
            # NDJSON: decode chunks, then lines.
            out = []
            while True:
                crlf = buf.find(b"\r\n")
                if crlf < 0:
                    break
                size = int(buf[:crlf], 16)
                if len(buf) < crlf + 2 + size + 2:
                    break
                out.append(buf[crlf + 2:crlf + 2 + size])
                buf = buf[crlf + 2 + size + 2:]
                if size == 0:
                    return
            for line in b"".join(out).split(b"\n"):
                if not line:
                    continue
                m = json.loads(line)
                if "event" in m and "data" not in m:
                    ident.notice(m["event"].encode())
                    continue
                ident.accept(m["channel"], m["data"].encode(), m["id"])


async def poll_session(ident, reader, writer, until):
    """Long polling or polling: requests on one keep-alive connection until the deadline."""
    world = ident.world
    while time.monotonic() < until and not world.stop:
        writer.write(ident.request("transport=poll" if ident.kind == "poll" else ""))
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), max(0.05, until - time.monotonic()))
        except asyncio.TimeoutError:
            return  # abandoned while held
        status, h = parse_head(head)
        body = await reader.readexactly(int(h.get(b"content-length", b"0")))
        if b"x-crier-gap" in h:
            ident.notice(b"gap")
        if status == 200:
            if ident.kind == "poll":
                for m in json.loads(body):
                    ident.accept(m["channel"], m["data"].encode(), m["id"])
            else:
                ident.accept(h[b"x-crier-channel"].decode(), body, h[b"x-crier-id"].decode())
        elif status == 410:
            ident.notice(b"deleted")
            ident.new_channels()
            return
        elif status not in (204, 304):
            world.stats.error(f"{ident.kind} answered {status}: {body[:100]!r}")
            return
        cursor = h.get(b"x-crier-cursor")
        if cursor:
            ident.cursor = cursor.decode()
        if ident.kind == "poll":
            await asyncio.sleep(world.rng.uniform(0.2, 1.0))


async def subscriber(world, slot):
    rng = world.rng
    kind = rng.choice(("sse", "sse", "ndjson", "ndjson", "longpoll", "poll"))
    nch = 1 if kind == "ndjson" or rng.random() < 0.6 else rng.randint(2, 4)
    ident = Identity(world, kind, nch)
    await asyncio.sleep(rng.uniform(0, 3))
    while not world.stop:
        # Mostly resume with the cursor; sometimes (and when the channels went stale) start over.
        if rng.random() < 0.15 or world.generation() - ident.gen >= 1:
            ident.new_channels()
        world.stats.connects += 1
        until = time.monotonic() + rng.uniform(1, 20)
        try:
            reader, writer = await asyncio.open_connection(HOST, world.port)
        except OSError as e:
            world.stats.error(f"connect: {e}")
            await asyncio.sleep(1)
            continue
        try:
            if kind in ("sse", "ndjson"):
                writer.write(ident.request())
                await stream_session(ident, reader, writer, until)
            else:
                await poll_session(ident, reader, writer, until)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError) as e:
            if not world.stop:
                world.stats.error(f"{kind}: {e!r}")
        except asyncio.CancelledError:
            writer.close()
            raise
        except Exception as e:  # noqa: BLE001 - a client crash is a finding
            world.stats.error(f"{kind}: client failed: {e!r}")
        hard_close(writer, rng)
        await asyncio.sleep(rng.uniform(0, 0.5))


async def slow_reader(world):
    """Subscribes to ten channels from their history with a tiny receive buffer
    and never reads: more than the output queue may hold, so it is cut off."""
    rng = world.rng
    while not world.stop:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(s, (HOST, world.port))
            chs = ",".join(world.pick_channels(10))
            await asyncio.get_running_loop().sock_sendall(
                s, f"GET /sub/{chs}?since=all HTTP/1.1\r\nHost: s\r\nAccept: text/event-stream\r\n\r\n".encode())
            world.stats.slow_readers += 1
            await asyncio.sleep(rng.uniform(10, 30))
        finally:
            s.close()


async def bad_client(world):
    rng = world.rng
    bad = [b"GET /health HTTP/1.1\r\nHost: s\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n",
           b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
           b"GET /nope HTTP/1.1\r\nHost: s\r\n\r\n",
           b"POST /pub/bad%20name HTTP/1.1\r\nHost: s\r\nContent-Length: 1\r\n\r\nx",
           b"GET /sub/x HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"]
    while not world.stop:
        await asyncio.sleep(rng.uniform(0.1, 0.5))
        writer = None
        try:
            reader, writer = await asyncio.open_connection(HOST, world.port)
            writer.write(rng.choice(bad))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            status = int(head[9:12])
            if not (400 <= status < 500 or status == 505):
                world.stats.error(f"bad request answered {status}")
            world.stats.bad_requests += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
            world.stats.error(f"bad client: {e!r}")
        finally:
            if writer is not None:
                writer.close()


# --- sampling and the verdict -----------------------------------------------------------------------------


async def health(port):
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n")
    data = await asyncio.wait_for(reader.read(-1), 10)
    writer.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def trend(samples):
    """Least-squares slope (per second) of (t, v) samples."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    den = sum((t - mt) ** 2 for t, _ in samples)
    return sum((t - mt) * (v - mv) for t, v in samples) / den if den else 0.0


def flat(samples, abs_slack, rel_slack):
    """Flat: the fitted trend over the window, and the rise from the first to the
    second half's peak, both stay within max(abs_slack, rel_slack * mean)."""
    if len(samples) < 3:
        return True, "too few samples"
    span = samples[-1][0] - samples[0][0]
    mean = sum(v for _, v in samples) / len(samples)
    allowed = max(abs_slack, rel_slack * mean)
    growth = trend(samples) * span
    half = len(samples) // 2
    rise = max(v for _, v in samples[half:]) - max(v for _, v in samples[:half])
    ok = growth <= allowed and rise <= allowed
    return ok, f"trend {growth:+.1f} over {span:.0f} s, peak rise {rise:+.1f}, allowed {allowed:.1f}"


async def main():
    port = free_port()
    log_path = f"/tmp/crier-soak-{os.getpid()}.log"
    log = open(log_path, "wb")
    # The default (durable) store, in a directory of the soak's own.
    data = tempfile.mkdtemp(prefix="crier-soak-data-")
    proc = subprocess.Popen([CRIER, "serve", "--listen", f"{HOST}:{port}", "--data", data, *FLAGS], stdout=log,
                            stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    pid = proc.pid
    rng = random.Random(env_num("SOAK_SEED", int(time.time())))
    world = World(port, rng)
    base_fds = proc_fds(pid)
    base_rss = proc_rss(pid)
    print(f"soak: crier pid {pid} on port {port}, {SECONDS:.0f} s, {SUBSCRIBERS} subscribers, "
          f"{RATE:.0f} msgs/s over {CHANNELS} channels (rotated every {ROTATE:.0f} s), warm-up {WARMUP:.0f} s; "
          f"flags {' '.join(FLAGS)}")
    print(f"soak: baseline RSS {base_rss / MiB:.1f} MiB, fds {base_fds}; log {log_path}")
    cols = ("t/s", "RSS MiB", "fds", "conns", "channels", "published", "delivered", "received", "connects",
            "cut off", "cpu s", "errors")
    print(" ".join(f"{c:>10}" for c in cols))
    tasks = [asyncio.ensure_future(publisher(world, p)) for p in range(PUBLISHERS)]
    tasks += [asyncio.ensure_future(subscriber(world, i)) for i in range(SUBSCRIBERS)]
    tasks += [asyncio.ensure_future(slow_reader(world)) for _ in range(3)]
    tasks.append(asyncio.ensure_future(bad_client(world)))
    samples = []
    next_t = world.t0 + INTERVAL
    alive = True
    while time.monotonic() - world.t0 < SECONDS:
        await asyncio.sleep(max(0, next_t - time.monotonic()))
        next_t += INTERVAL
        if proc.poll() is not None:
            alive = False
            print(f"soak: crier exited with {proc.returncode}")
            break
        t = time.monotonic() - world.t0
        h = await health(port)
        with open(log_path, "rb") as f:
            cut = f.read().count(b"cut off")
        row = (t, proc_rss(pid), proc_fds(pid), h["connections"], h["channels"], h["published"], h["delivered"],
               world.stats.received, world.stats.connects, cut, proc_cpu(pid), world.stats.nerrors)
        samples.append(row)
        print(" ".join(f"{v:>10.0f}" if i != 1 else f"{v / MiB:>10.1f}" for i, v in enumerate(row)), flush=True)
        for task in tasks:
            if task.done() and task.exception() is not None:
                world.stats.error(f"task failed: {task.exception()!r}")
                tasks.remove(task)
                break
    world.stop = True
    await asyncio.sleep(1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    # After the load: every connection gone, descriptors back to the baseline.
    settle_deadline = time.monotonic() + 20
    end_fds = proc_fds(pid) if alive else -1
    while alive and end_fds > base_fds and time.monotonic() < settle_deadline:
        await asyncio.sleep(0.5)
        end_fds = proc_fds(pid)
    end_conns = (await health(port))["connections"] if alive and proc.poll() is None else -1
    end_rss = proc_rss(pid) if alive else 0

    st = world.stats
    steady = [s for s in samples if s[0] >= WARMUP]
    rss_ok, rss_why = flat([(s[0], s[1] / MiB) for s in steady], 4.0, 0.10)
    fds_ok, fds_why = flat([(s[0], s[2]) for s in steady], 50, 0.20)
    back_ok = alive and end_fds <= base_fds and end_conns <= 1
    print(f"soak: published {st.published}, received {st.received}, connects {st.connects} "
          f"({st.resumes} requests with a cursor), gap notices {st.gaps}, deleted notices {st.deleted}, slow readers "
          f"{st.slow_readers}, bad requests {st.bad_requests}, errors {st.nerrors}")
    for e in st.errors[:10]:
        print("soak: error:", e)
    print(f"soak: RSS after warm-up ({len(steady)} samples): {'FLAT' if rss_ok else 'GROWING'} ({rss_why} MiB)")
    print(f"soak: fds after warm-up: {'FLAT' if fds_ok else 'GROWING'} ({fds_why})")
    print(f"soak: after the load: fds {end_fds} (baseline {base_fds}), connections {end_conns}, "
          f"RSS {end_rss / MiB:.1f} MiB: {'BACK TO BASELINE' if back_ok else 'NOT BACK'}")
    if alive:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            alive = False
            print("soak: crier did not stop on SIGTERM")
    log.close()
    shutil.rmtree(data, ignore_errors=True)
    with open(log_path, "rb") as f:
        text = f.read()
    if b"AddressSanitizer" in text or b"runtime error:" in text:
        alive = False
        print("soak: sanitizer report in the log")
    ok = alive and rss_ok and fds_ok and back_ok and st.nerrors == 0 and proc.returncode == 0
    print(f"soak: {'PASS' if ok else 'FAIL'} (crier exit {proc.returncode})")
    if ok:
        os.unlink(log_path)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
