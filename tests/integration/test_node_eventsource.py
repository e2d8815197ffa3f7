"""crier with npm's `eventsource` package (a real EventSource in Node):
tests/node/eventsource_test.mjs against a server started here. Needs
`npm install` in tests/node first; skipped (saying so) when it was not run.

Run: CRIER_BIN=$PWD/build/crier /usr/bin/python3 -m pytest -q tests/integration/test_node_eventsource.py
"""
import os
import shutil
import subprocess

import pytest

from conftest import ROOT

NODE_DIR = os.path.join(ROOT, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "eventsource_test.mjs")


def test_eventsource_package_live_resume_and_reconnect(make_server):
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "eventsource")):
        pytest.skip("tests/node/node_modules is missing: run `npm install` in tests/node")
    # A short --retry so the package's own reconnect comes quickly.
    srv = make_server("--retry", "200ms", "--heartbeat", "1s")
    p = subprocess.run([node, SCRIPT, srv.url], cwd=NODE_DIR, capture_output=True, text=True, timeout=50)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"node exited {p.returncode}:\n{out}\n--- server log ---\n{srv.log()[-3000:]}"
    assert out.count("ok - ") == 2, out
    assert srv.alive()
