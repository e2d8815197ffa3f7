"""Browser tests: Debian's chromium, driven by npm's playwright-core from
tests/browser/run.mjs, against a crier started here. One browser run serves
every scenario (each scenario is one function in run.mjs and one test below);
the run asks this module to restart crier when a scenario needs it.
Run: CRIER_BIN=build/crier /usr/bin/python3 -m pytest -q tests/integration/test_browser.py
"""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

import conftest
from conftest import ROOT, Server

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")


class FixedPortServer(Server):
    """A Server on a given port, so that a restart comes back where clients reconnect."""

    def __init__(self, port, *flags):
        saved = conftest.free_port
        conftest.free_port = lambda: port
        try:
            super().__init__(*flags)
        finally:
            conftest.free_port = saved


@pytest.fixture(scope="module")
def browser_run():
    if not os.path.exists("/usr/bin/chromium") or \
            not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        pytest.fail("browser tests need Debian's chromium and `cd tests/browser && npm install` (make deps-test)")
    data = tempfile.mkdtemp(prefix="crier-browser-")
    # The durable store, so that a restart loses nothing; a 2 s retry, so that the browser
    # reconnects after the restart is over (messages published meanwhile need a resume).
    flags = ("--data", data, "--retry", "2s", "--heartbeat", "5s", "--ws-publish")
    server = Server(*flags)
    port = server.port
    proc = subprocess.Popen(["node", os.path.join(BROWSER_DIR, "run.mjs"), "--base", server.url],
                            cwd=BROWSER_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    results = {}
    try:
        for line in proc.stdout:
            msg = json.loads(line)
            if "control" in msg:
                assert msg["control"] == "restart", msg
                server.stop()
                server = FixedPortServer(port, *flags)
                proc.stdin.write("done\n")
                proc.stdin.flush()
                continue
            results[msg["scenario"]] = msg
        proc.wait(timeout=60)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    assert proc.returncode == 0, stderr[-4000:]
    return results


def result(results, name):
    r = results.get(name)
    assert r is not None, f"scenario {name} did not run"
    assert r["error"] is None, r["error"]
    assert r["console_errors"] == [], r["console_errors"]  # (d) no console errors in any page
    return r["observed"]


def test_eventsource_receives_and_resumes_after_restart(browser_run):
    obs = result(browser_run, "eventsource_resume")
    got = obs["got"]
    assert [g["type"] for g in got] == ["message"] * 5, got  # no gap: the resume reached back
    assert [g["data"] for g in got] == ["one", "two", "three", "four", "five"]
    assert [g["id"] for g in got] == obs["ids"]  # in order, each once, with its id
    assert obs["opens"] == 2  # the second open is the reconnection after the restart


def test_img_shows_each_picture_on_x_mixed_replace(browser_run):
    seen = result(browser_run, "img_replace")["seen"]
    assert seen == [{"w": 20, "h": 10, "rgb": [255, 0, 0]}, {"w": 30, "h": 15, "rgb": [0, 0, 255]}]


def test_pushlet_iframe_calls_parent_callback(browser_run):
    obs = result(browser_run, "pushlet_iframe")
    got = obs["got"]
    assert [g["data"] for g in got] == obs["sent"]  # no "pwned": the payload could not break out
    assert [g["id"] for g in got] == obs["ids"]
    assert all(g["channel"] == "br-pl" for g in got)


def test_websocket_in_chromium(browser_run):
    obs = result(browser_run, "websocket")
    assert obs["extensions"].startswith("permessage-deflate")
    got = obs["got"]
    hello = json.loads(got[0]["text"])
    assert hello["event"] == "crier-hello" and hello["channels"] == ["br-ws"]
    assert got[1:] == [{"text": obs["sent"][0]}, {"text": obs["sent"][1]}, {"bytes": [0, 255, 1, 254]},
                       {"text": "from the browser"}]
    assert obs["stored"][-1] == "from the browser" and obs["stored"][:2] == obs["sent"], obs["stored"]
    assert obs["closed"] == {"code": 1000, "reason": "channel deleted: br-ws", "clean": True}
