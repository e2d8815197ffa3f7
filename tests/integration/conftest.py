"""Shared fixtures for the integration tests: a fresh crier process per test
module (or per test when flags differ), on a free loopback port, stopped by
its pid. Run with /usr/bin/python3 -m pytest (Debian's pytest, httpx, websockets).
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from clients import Publisher

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRIER = os.environ.get("CRIER_BIN", os.path.join(ROOT, "build", "crier"))
# CRIER_TEST_THREADS=N runs every server with --threads N (unless the test names its own).
THREADS = os.environ.get("CRIER_TEST_THREADS", "")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A running crier: .url, .port, .proc, .log() returns its stderr so far."""

    live = []   # started and not stopped yet
    started = 0  # how many were ever started: each server's serial number

    def __init__(self, *flags):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logpath = f"/tmp/crier-test-{os.getpid()}-{self.port}.log"
        self.logfile = open(self.logpath, "wb")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
        # The durable store is the default: each server gets a fresh data directory
        # (removed when it stops) unless the test names one or asks for --memory.
        self.tmpdata = None
        if "--data" not in flags and "--memory" not in flags:
            self.tmpdata = tempfile.mkdtemp(prefix="crier-test-data-")
            flags = (*flags, "--data", self.tmpdata)
        if THREADS and "--threads" not in flags:
            flags = (*flags, "--threads", THREADS)
        self.proc = subprocess.Popen(
            [CRIER, "serve", "--listen", f"127.0.0.1:{self.port}", "--log-level", "debug", *flags],
            stdout=self.logfile, stderr=subprocess.STDOUT, env=env)
        Server.started += 1
        self.serial = Server.started
        Server.live.append(self)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("crier exited at start:\n" + self.log())
                time.sleep(0.05)
        raise RuntimeError("crier did not start listening:\n" + self.log())

    def log(self):
        if not self.logfile.closed:
            self.logfile.flush()
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def _release(self):
        """After its exit: its log (returned), and its own data directory, go."""
        if self in Server.live:
            Server.live.remove(self)
        self.logfile.close()
        log = self.log()
        os.unlink(self.logpath)
        if self.tmpdata:
            shutil.rmtree(self.tmpdata, ignore_errors=True)
        return log

    def kill(self):
        """SIGKILL, as a crash: no shutdown at all, so no exit to check. A data directory
        it was given stays for a restart."""
        self.proc.kill()
        self.proc.wait()
        self._release()

    def stop(self):
        """SIGTERM, wait; a sanitizer report or a non-zero exit fails the test."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("crier did not stop on SIGTERM:\n" + self._release()[-4000:])
        log = self._release()
        assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log \
            and "ERROR: LeakSanitizer" not in log, log[-8000:]
        assert self.proc.returncode == 0, f"crier exited with {self.proc.returncode}:\n{log[-4000:]}"


def sanitized_build():
    """True when crier was built with AddressSanitizer (make test-asan): several
    times slower, so tests size their load down there."""
    try:
        with open(CRIER, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


@pytest.fixture(autouse=True)
def no_server_left_running():
    """Stops, after each test, the servers it started and did not stop (it failed before
    it could, or forgot): none outlives its test, and each still gets its exit checked."""
    before = Server.started
    yield
    errors = []
    for s in [s for s in Server.live if s.serial > before]:
        try:
            s.stop()
        except Exception as e:  # every leftover is stopped before the first error is told
            errors.append(e)
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def server():
    s = Server("--hold", "3s", "--heartbeat", "1s")
    yield s
    s.stop()


@pytest.fixture
def pub(server):
    """A keep-alive Publisher on the module's server."""
    p = Publisher(server.url)
    yield p
    p.close()


@pytest.fixture
def make_server():
    """Starts servers with given flags for one test; all are stopped after it."""
    started = []

    def make(*flags):
        s = Server(*flags)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def raw_request(port, data, timeout=5.0, read_until_close=True):
    """Sends raw bytes, returns everything the server answered until it closes
    (or the timeout passes)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(data)
    out = b""
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
            if not read_until_close:
                break
    except socket.timeout:
        pass
    finally:
        sock.close()
    return out
