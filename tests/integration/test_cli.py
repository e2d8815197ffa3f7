"""crier pub and crier sub against a real server: publishing from an argument
and from stdin, errors, and sub resuming with its cursor after its connection
is cut (through a TCP proxy the test closes) without loss or duplicates."""
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import CRIER


def run(*args, input=None, env=None):
    return subprocess.run([CRIER, *args], input=input, capture_output=True, timeout=20, env=env)


def test_pub_argument_and_stdin(server):
    r = run("pub", "--url", server.url, "clinews", "from argv")
    assert r.returncode == 0, r.stderr
    assert b'"channel":"clinews"' in r.stdout
    r = run("pub", "--url", server.url, "--event", "alert", "clinews", input=b"from stdin\n")
    assert r.returncode == 0, r.stderr
    r = run("sub", "--url", server.url, "--since", "all", "--count", "2", "--json", "clinews")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().strip().split("\n")
    assert len(lines) == 2
    assert '"data":"from argv"' in lines[0]
    assert '"event":"alert"' in lines[1] and '"data":"from stdin"' in lines[1]


def test_pub_errors_exit_nonzero(server):
    r = run("pub", "--url", server.url, "bad/name", "x")
    assert r.returncode == 1
    assert b"error" in r.stderr
    r = run("pub", "--url", "http://127.0.0.1:1", "ch", "x")
    assert r.returncode == 1
    r = run("pub")
    assert r.returncode == 2


def test_help_documents_flags():
    out = run("serve", "--help").stdout.decode()
    for flag in ("--listen", "--history", "--history-age", "--max-body", "--max-head", "--hold",
                 "--heartbeat", "--queue-hard", "--log-level", "--header-timeout", "--idle-timeout"):
        assert flag in out
    assert run("--help").returncode == 0
    assert b"--url" in run("pub", "--help").stdout
    assert b"--since" in run("sub", "--help").stdout


class Proxy:
    """A TCP proxy whose connections the test can cut."""

    def __init__(self, target_port):
        self.target = target_port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [c, u]
            self.accepted += 1
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns = []


def test_sub_resumes_after_disconnect_without_loss_or_duplicate(server):
    proxy = Proxy(server.port)
    url = f"http://127.0.0.1:{proxy.port}"
    sub = subprocess.Popen([CRIER, "sub", "--url", url, "--count", "9", "resume-cli"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 10
        while proxy.accepted == 0 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        for i in range(3):
            assert run("pub", "--url", server.url, "-q", "resume-cli", f"m{i}").returncode == 0
        time.sleep(0.5)
        proxy.cut()  # sub loses its connection; the next three are published while it is away
        for i in range(3, 6):
            assert run("pub", "--url", server.url, "-q", "resume-cli", f"m{i}").returncode == 0
        deadline = time.time() + 15
        while proxy.accepted < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert proxy.accepted >= 2, "crier sub did not reconnect"
        time.sleep(0.5)
        for i in range(6, 9):
            assert run("pub", "--url", server.url, "-q", "resume-cli", f"m{i}").returncode == 0
        out, err = sub.communicate(timeout=20)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert sub.returncode == 0, err
    assert out.decode().split("\n")[:-1] == [f"m{i}" for i in range(9)]


@pytest.mark.parametrize("args,complaint", [
    (("pub",), "crier pub: which channel?"),
    (("pub", "a", "b", "c"), "crier pub: too many arguments"),
    (("pub", "--type"), "crier pub: --type needs a value"),
    (("pub", "--event=x\ny", "a", "m"), "crier pub: the value of --event must not contain a line break"),
    (("pub", "--nope", "a"), "crier pub: unknown flag --nope"),
    (("sub",), "crier sub: which channel?"),
    (("sub", "a", "b"), "crier sub: one channel list only"),
    (("sub", "--url=", "a"), "crier sub: --url needs a value"),
    (("sub", "--count", "0", "a"), "crier sub: bad value for --count"),
    (("sub", "--bogus", "a"), "crier sub: unknown flag --bogus"),
])
def test_bad_usage_exits_2_with_a_reason(args, complaint):
    r = run(*args)
    assert r.returncode == 2, r
    assert r.stderr.decode().startswith(complaint), r.stderr


def test_dash_dash_ends_the_flags(server):
    # After "--" a message that looks like a flag is the message.
    ch = "cli-dashdash"
    r = run("pub", "--url", server.url, "--", ch, "--not-a-flag")
    assert r.returncode == 0, r
    r = run("sub", "--url", server.url, "--since", "all", "--count", "1", ch)
    assert r.returncode == 0 and r.stdout.decode().strip() == "--not-a-flag", r
