// Browser scenarios against a running crier, in Debian's chromium driven by
// playwright-core. Each scenario is one async function below that returns what
// the page observed; tests/integration/test_browser.py starts crier, runs this
// and asserts on the observations. To add a scenario, add a function to
// SCENARIOS (it gets a fresh page whose origin is crier's own, so EventSource,
// <img>, iframes and WebSocket need no CORS).
//
//   node run.mjs --base http://127.0.0.1:PORT [--only a,b]
//
// Output: one JSON line per scenario {"scenario", "observed", "console_errors", "error"}.
// A scenario that needs the test runner (e.g. to restart crier) writes
// {"control": "..."} and waits for one line on stdin.
// SPDX-License-Identifier: MIT
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const BASE = args.base;
const WAIT_MS = 20000;

const stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/* Asks the test runner to do something (restart crier) and waits until it is done. */
async function control(what) {
  process.stdout.write(JSON.stringify({ control: what }) + '\n');
  const { value } = await stdinLines.next();
  return value;
}

async function publish(channel, body, contentType = 'text/plain') {
  const r = await fetch(`${BASE}/pub/${channel}`, { method: 'POST', body, headers: { 'Content-Type': contentType } });
  if (r.status !== 201) throw new Error(`publish to ${channel}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function waitSubscribers(channel, n) {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const r = await fetch(`${BASE}/pub/${channel}`);
    if (r.status === 200 && (await r.json()).subscribers >= n) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`${channel}: no ${n} subscribers`);
}

/* CRC-32 (ISO 3309, as PNG chunks need); zlib.crc32 is missing from older Node. */
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/* A solid-colour RGB PNG of w x h. */
function png(w, h, [r, g, b]) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array(w).fill([r, g, b]).flat())]);
  const raw = Buffer.concat(Array(h).fill(row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const PAGE = (title) =>
  `<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${title}</title></head><body></body></html>`;

// --- scenarios ----------------------------------------------------------------------------------------

/* EventSource gets messages, and after crier restarts (the durable store keeps the
 * messages) it reconnects with Last-Event-ID and gets what it missed, in order, once. */
async function eventsource_resume(page) {
  await page.evaluate((url) => {
    window.got = [];
    window.opens = 0;
    window.errors = 0;
    const es = new EventSource(url);
    es.onopen = () => window.opens++;
    es.onerror = () => window.errors++;
    es.onmessage = (e) => window.got.push({ data: e.data, id: e.lastEventId, type: e.type });
    es.addEventListener('crier-gap', (e) => window.got.push({ data: e.data, id: e.lastEventId, type: e.type }));
  }, `${BASE}/sub/br-es`);
  await page.waitForFunction(() => window.opens === 1, null, { timeout: WAIT_MS });
  await waitSubscribers('br-es', 1);
  const before = [];
  for (const d of ['one', 'two', 'three']) before.push((await publish('br-es', d)).id);
  await page.waitForFunction(() => window.got.length >= 3, null, { timeout: WAIT_MS });
  await control('restart');
  // Published while the browser is still waiting out its retry delay: only a resume from
  // Last-Event-ID brings these.
  const after = [];
  for (const d of ['four', 'five']) after.push((await publish('br-es', d)).id);
  await page.waitForFunction(() => window.got.length >= 5 && window.opens >= 2, null, { timeout: WAIT_MS });
  await new Promise((res) => setTimeout(res, 300)); // a duplicate, if any, would show up here
  return { got: await page.evaluate(() => window.got), opens: await page.evaluate(() => window.opens), ids: [...before, ...after] };
}

/* An <img> on multipart/x-mixed-replace shows each picture published: a red 20x10
 * PNG, then a blue 30x15 one (size and pixel colour read from the page). */
async function img_replace(page) {
  await page.evaluate((url) => {
    const img = document.createElement('img');
    img.id = 'cam';
    img.src = url;
    document.body.appendChild(img);
    window.sample = () => {
      if (!img.naturalWidth) return null;
      const c = document.createElement('canvas');
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const [r, g, b] = ctx.getImageData(1, 1, 1, 1).data;
      return { w: img.naturalWidth, h: img.naturalHeight, rgb: [r, g, b] };
    };
  }, `${BASE}/sub/br-cam?transport=replace`);
  await waitSubscribers('br-cam', 1);
  const seen = [];
  for (const [w, h, rgb] of [[20, 10, [255, 0, 0]], [30, 15, [0, 0, 255]]]) {
    await publish('br-cam', png(w, h, rgb), 'image/png');
    const handle = await page.waitForFunction(
      ([w2, rgb2]) => {
        const s = window.sample();
        return s && s.w === w2 && s.rgb.every((v, i) => v === rgb2[i]) ? s : null;
      },
      [w, rgb],
      { timeout: WAIT_MS },
    );
    seen.push(await handle.jsonValue());
  }
  return { seen };
}

/* A pushlet iframe calls the parent's callback with each message, intact. */
async function pushlet_iframe(page) {
  await page.evaluate((url) => {
    window.got = [];
    window.onMsg = (m) => window.got.push(m);
    const f = document.createElement('iframe');
    f.src = url;
    document.body.appendChild(f);
  }, `${BASE}/sub/br-pl?transport=pushlet&callback=parent.onMsg`);
  await waitSubscribers('br-pl', 1);
  const sent = ['plain', '</script><script>parent.onMsg("pwned")</script><!-- \u2028 & "q"'];
  const ids = [];
  for (const d of sent) ids.push((await publish('br-pl', d)).id);
  await page.waitForFunction(() => window.got.length >= 2, null, { timeout: WAIT_MS });
  await new Promise((res) => setTimeout(res, 300)); // an injected extra call would show up here
  return { got: await page.evaluate(() => window.got), sent, ids };
}

/* Chromium's own WebSocket: permessage-deflate negotiated, text and binary frames intact, and
 * the close 1000 that a channel deletion sends. */
async function websocket(page) {
  // A page crier itself served: Chromium's local-network checks refuse a WebSocket to
  // 127.0.0.1 from the intercepted page, whose address it cannot know.
  await page.goto(`${BASE}/health`);
  await page.evaluate((url) => {
    window.got = [];
    window.wsClosed = null;
    const ws = new WebSocket(url);
    window.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => (window.extensions = ws.extensions);
    ws.onmessage = (e) =>
      window.got.push(typeof e.data === 'string' ? { text: e.data } : { bytes: [...new Uint8Array(e.data)] });
    ws.onclose = (e) => (window.wsClosed = { code: e.code, reason: e.reason, clean: e.wasClean });
  }, `${BASE.replace(/^http/, 'ws')}/sub/br-ws`);
  await waitSubscribers('br-ws', 1);
  const big = 'a line the browser inflates\n'.repeat(100);
  await publish('br-ws', 'two\nlines \u20ac');
  await publish('br-ws', big);
  await publish('br-ws', Buffer.from([0, 255, 1, 254]), 'application/octet-stream');
  await page.waitForFunction(() => window.got.length >= 4, null, { timeout: WAIT_MS });
  // Publishing back (crier runs with --ws-publish): the page's message is stored on the
  // channel like an HTTP publish, and comes back to the page as a subscriber too.
  await page.evaluate(() => window.ws.send('from the browser'));
  await page.waitForFunction(() => window.got.length >= 5, null, { timeout: WAIT_MS });
  const stored = await (await fetch(`${BASE}/sub/br-ws?transport=poll&since=all`)).json();
  const r = await fetch(`${BASE}/pub/br-ws`, { method: 'DELETE' });
  if (r.status !== 200) throw new Error(`DELETE answered ${r.status}`);
  await page.waitForFunction(() => window.wsClosed !== null, null, { timeout: WAIT_MS });
  const observed = await page.evaluate(() => ({ extensions: window.extensions, got: window.got, closed: window.wsClosed }));
  return { ...observed, sent: ['two\nlines \u20ac', big], stored: stored.map((m) => m.data) };
}

const SCENARIOS = { eventsource_resume, img_replace, pushlet_iframe, websocket };

// --- runner -------------------------------------------------------------------------------------------

const only = args.only ? args.only.split(',') : Object.keys(SCENARIOS);
const profile = mkdtempSync(join(tmpdir(), 'crier-chromium-'));
// A persistent context on a fresh, throw-away profile directory (the --user-data-dir).
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  for (const name of only) {
    const page = await context.newPage();
    const consoleErrors = [];
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    // The page is served at crier's own origin (intercepted, never reaching crier).
    await page.route(`${BASE}/__browser/**`, (route) =>
      route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: PAGE(name) }),
    );
    const out = { scenario: name, observed: null, console_errors: consoleErrors, error: null };
    try {
      await page.goto(`${BASE}/__browser/${name}.html`);
      out.observed = await SCENARIOS[name](page);
    } catch (e) {
      out.error = String(e && e.stack ? e.stack : e);
    }
    await page.close();
    process.stdout.write(JSON.stringify(out) + '\n');
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  process.exit(0);
}
