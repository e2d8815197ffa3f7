// crier with a real EventSource client: npm's `eventsource` package.
//
//   node tests/node/eventsource_test.mjs http://127.0.0.1:PORT     (or CRIER_URL=...)
//
// Starts no server itself. Checks, over one running crier:
//  1. live messages: a plain one, a multi-line one (LF, CRLF and a lone CR all
//     arrive as LF-separated lines), a named event via addEventListener, each
//     with the id the publish answered;
//  2. resume: close the EventSource, publish 3 more, open a new EventSource
//     sending Last-Event-ID (the package's documented way to set headers is a
//     custom fetch), and the 3 arrive exactly once, in order, then a live one;
//  3. the package's own reconnect: the channel is deleted (crier tells
//     subscribers with a crier-deleted event and closes the stream), the
//     EventSource reconnects by itself with Last-Event-ID, crier answers that
//     cursor with a crier-gap notice (it came from the channel's earlier life),
//     and new messages flow again. Best with a server started with a short
//     --retry (the delay crier tells EventSource to wait before reconnecting).
// Exit 0 on success; otherwise a message on stderr and exit 1.
import { EventSource } from 'eventsource';

const base = (process.argv[2] || process.env.CRIER_URL || '').replace(/\/$/, '');
if (!base) {
  console.error('usage: node eventsource_test.mjs http://127.0.0.1:PORT (or set CRIER_URL)');
  process.exit(2);
}

const rand = () => Math.random().toString(16).slice(2, 10);

function fail(msg) {
  throw new Error(msg);
}

function assertEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) fail(`${what}:\n  expected ${e}\n  got      ${a}`);
}

async function publish(channel, body, event) {
  const headers = { 'Content-Type': 'text/plain' };
  if (event) headers['X-Event'] = event;
  const r = await fetch(`${base}/pub/${channel}`, { method: 'POST', body, headers });
  if (r.status !== 201) fail(`publish to ${channel}: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()).id;
}

async function subscribers(channel) {
  const r = await fetch(`${base}/pub/${channel}`);
  return r.status === 200 ? (await r.json()).subscribers : 0;
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

async function waitFor(pred, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await sleep(20);
  }
  fail(`timed out waiting for ${what}`);
}

// Records every event (default, named, and crier's notices) and every open/error.
function record(es, names) {
  const got = { events: [], opens: 0, errors: 0 };
  es.onmessage = (e) => got.events.push({ type: e.type, data: e.data, id: e.lastEventId });
  for (const name of names) {
    es.addEventListener(name, (e) => got.events.push({ type: e.type, data: e.data, id: e.lastEventId }));
  }
  es.onopen = () => { got.opens++; };
  es.onerror = () => { got.errors++; };
  return got;
}

async function liveThenResume() {
  const ch = `node-${rand()}`;
  const url = `${base}/sub/${ch}`;
  const es = new EventSource(url);
  const got = record(es, ['score']);
  await waitFor(() => got.opens === 1, 'the first EventSource to open');
  await waitFor(async () => (await subscribers(ch)) === 1, 'the subscription');

  const multi = 'line one\nline two\r\nline three\rline four';
  const ids = [];
  ids.push(await publish(ch, 'hello'));
  ids.push(await publish(ch, multi));
  ids.push(await publish(ch, '42', 'score'));
  await waitFor(() => got.events.length >= 3, '3 live events');
  await sleep(200); // anything extra would show now
  assertEqual(got.events, [
    { type: 'message', data: 'hello', id: ids[0] },
    { type: 'message', data: 'line one\nline two\nline three\nline four', id: ids[1] },
    { type: 'score', data: '42', id: ids[2] },
  ], 'live events');
  const last = got.events[got.events.length - 1].id;
  es.close();
  await waitFor(async () => (await subscribers(ch)) === 0, 'the closed EventSource to leave');

  const missed = [];
  for (const p of ['after-1', 'after-2', 'after-3']) missed.push(await publish(ch, p));

  const es2 = new EventSource(url, {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, 'Last-Event-ID': last } }),
  });
  const got2 = record(es2, ['score', 'crier-gap']);
  await waitFor(() => got2.events.length >= 3, 'the 3 missed messages');
  await sleep(300);
  assertEqual(got2.events, [
    { type: 'message', data: 'after-1', id: missed[0] },
    { type: 'message', data: 'after-2', id: missed[1] },
    { type: 'message', data: 'after-3', id: missed[2] },
  ], 'messages after resuming with Last-Event-ID');
  const live = await publish(ch, 'live-again');
  await waitFor(() => got2.events.length >= 4, 'a live message after the resume');
  assertEqual(got2.events[3], { type: 'message', data: 'live-again', id: live }, 'live message after resume');
  es2.close();
}

async function reconnectsByItself() {
  const ch = `node-re-${rand()}`;
  const es = new EventSource(`${base}/sub/${ch}`);
  const got = record(es, ['crier-deleted', 'crier-gap']);
  await waitFor(() => got.opens === 1, 'the EventSource to open');
  await waitFor(async () => (await subscribers(ch)) === 1, 'the subscription');
  const first = await publish(ch, 'before-delete');
  await waitFor(() => got.events.length >= 1, 'the first message');

  const del = await fetch(`${base}/pub/${ch}`, { method: 'DELETE' });
  if (del.status !== 200) fail(`DELETE /pub/${ch}: HTTP ${del.status}`);
  // The stream ends; the EventSource reconnects on its own, with Last-Event-ID.
  await waitFor(() => got.opens === 2, 'the EventSource to reconnect by itself', 15000);
  await waitFor(async () => (await subscribers(ch)) === 1, 'the new subscription');
  const after = await publish(ch, 'after-reconnect');
  await waitFor(() => got.events.some((e) => e.data === 'after-reconnect'), 'a message after the reconnect');
  await sleep(200);

  if (got.errors < 1) fail('no error event when the stream ended');
  const types = got.events.map((e) => e.type);
  assertEqual(types, ['message', 'crier-deleted', 'crier-gap', 'message'], 'event types around the reconnect');
  assertEqual(got.events[0], { type: 'message', data: 'before-delete', id: first }, 'first message');
  assertEqual(JSON.parse(got.events[1].data), { channel: ch }, 'crier-deleted data');
  const gap = JSON.parse(got.events[2].data);
  // The cursor crier answered is the one the package sent by itself.
  assertEqual(gap, { channels: [ch], cursor: first }, 'crier-gap data after the reconnect');
  assertEqual(got.events[3], { type: 'message', data: 'after-reconnect', id: after }, 'message after reconnect');
  es.close();
}

const watchdog = setTimeout(() => {
  console.error('eventsource_test: overall timeout (40 s)');
  process.exit(1);
}, 40000);

try {
  await liveThenResume();
  console.log('ok - live messages, multi-line data, named event, resume with Last-Event-ID');
  await reconnectsByItself();
  console.log('ok - the EventSource reconnected by itself with Last-Event-ID and was told of the gap');
  clearTimeout(watchdog);
  process.exit(0);
} catch (e) {
  console.error(`eventsource_test: FAILED: ${e.message}`);
  process.exit(1);
}
