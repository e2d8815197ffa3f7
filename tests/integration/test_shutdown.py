"""Stopping the server (SIGTERM): every subscriber is told before its connection
goes, so that it reconnects with its cursor knowing why: SSE gets a crier-close
event, WebSocket a close frame 1001, a held long poll a 503 with a JSON reason.
Run: CRIER_BIN=$PWD/build/crier /usr/bin/python3 -m pytest -q tests/integration/test_shutdown.py
"""
import asyncio
import json
import socket

import websockets

from clients import wait_subscribers


def read_to_eof(sock, timeout=10.0):
    sock.settimeout(timeout)
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out


def open_get(port, path, headers=""):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n".encode())
    return s


def test_subscribers_are_told_when_the_server_stops(make_server):
    srv = make_server("--hold", "60s")
    sse = open_get(srv.port, "/sub/stop-sse", "Accept: text/event-stream\r\n")
    lp = open_get(srv.port, "/sub/stop-lp")

    async def ws_client(ready):
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/sub/stop-ws") as ws:
            json.loads(await ws.recv())  # crier-hello
            ready.set()
            try:
                while True:
                    await ws.recv()
            except websockets.ConnectionClosed as e:
                return e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else None

    async def main():
        ready = asyncio.Event()
        task = asyncio.create_task(ws_client(ready))
        await asyncio.wait_for(ready.wait(), 10)
        for ch in ("stop-sse", "stop-lp", "stop-ws"):
            await asyncio.get_running_loop().run_in_executor(None, wait_subscribers, srv.url, ch, 1)
        srv.proc.terminate()
        return await asyncio.wait_for(task, 10)

    code, reason = asyncio.run(main())
    assert code == 1001, (code, reason)
    assert "shutting down" in reason
    sse_out = read_to_eof(sse)
    assert b"event: crier-close\n" in sse_out, sse_out[-300:]
    lp_out = read_to_eof(lp)
    assert lp_out.startswith(b"HTTP/1.1 503"), lp_out[:200]
    body = lp_out.split(b"\r\n\r\n", 1)[1]
    assert "error" in json.loads(body)
    srv.proc.wait(timeout=10)
