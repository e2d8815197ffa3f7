"""A real redis-server for the cluster tests (Debian's redis-server), started on a
free loopback port with no persistence in a temp dir and stopped by its pid, and
a tiny RESP client on a raw socket to look at what crier stored."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from conftest import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class Redis:
    def __init__(self, port=None, extra=(), password=None):
        self.port = port or free_port()
        self.password = password
        self.extra = list(extra) + (["--requirepass", password] if password else [])
        self.dir = tempfile.mkdtemp(prefix="crier-redis-")
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self):
        self.log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--daemonize", "no", "--protected-mode", "yes", *self.extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.cmd("PING") == "PONG" or self.password:
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("redis-server exited at start")
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cmd(self, *args):
        """One command on a fresh connection; returns the decoded reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            if self.password:
                s.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(self.password), self.password.encode()))
                RESPReader(s).reply()
            s.sendall(out)
            return RESPReader(s).reply()

    def info_stats(self):
        text = self.cmd("INFO", "stats")
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


class RESPReader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError(f"bad RESP {line!r}")
