// crier with a real Node WebSocket client: npm's `ws` package.
//
//   node tests/node/ws_test.mjs http://127.0.0.1:PORT     (or CRIER_URL=...)
//
// Starts no server itself (the server needs --ws-publish). Checks, over one running crier:
//  1. the handshake with permessage-deflate (ws offers it when asked to), the crier-hello
//     message with the client id, then live messages in publish order: text (multi-line,
//     non-ASCII, large enough to be compressed) as strings, non-UTF-8 bytes as binary;
//  2. resume: reconnect with ?since=<an id the publish answered>: exactly the messages after
//     it, in order, then live ones;
//  3. a message the client sends is published (--ws-publish) and reaches an HTTP poll;
//  4. a server ping is answered by ws itself, and the close handshake ends with 1000.
// Exit 0 on success; otherwise a message on stderr and exit 1.
import WebSocket from 'ws';

const base = (process.argv[2] || process.env.CRIER_URL || '').replace(/\/$/, '');
if (!base) {
  console.error('usage: node ws_test.mjs http://127.0.0.1:PORT (or set CRIER_URL)');
  process.exit(2);
}
const wsBase = base.replace(/^http/, 'ws');
const rand = () => Math.random().toString(16).slice(2, 10);

function fail(msg) {
  throw new Error(msg);
}

function assertEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) fail(`${what}:\n  expected ${e}\n  got      ${a}`);
}

async function publish(channel, body, contentType = 'text/plain') {
  const r = await fetch(`${base}/pub/${channel}`, {
    method: 'POST',
    headers: { 'Content-Type': contentType },
    body,
  });
  if (r.status !== 201) fail(`publish answered ${r.status}: ${await r.text()}`);
  return (await r.json()).id;
}

// Opens a WebSocket and queues what arrives: {text} for text frames, {bytes} for binary ones.
function open(path, opts = {}) {
  const ws = new WebSocket(`${wsBase}${path}`, opts);
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const m = isBinary ? { bytes: [...data] } : { text: data.toString('utf8') };
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  const next = (ms = 10000) =>
    queue.length
      ? Promise.resolve(queue.shift())
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`no message on ${path} within ${ms} ms`)), ms);
          waiters.push((m) => {
            clearTimeout(t);
            resolve(m);
          });
        });
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, next, opened };
}

async function main() {
  const ch = `node-ws-${rand()}`;

  // 1. live, with permessage-deflate
  const a = open(`/sub/${ch}`, { perMessageDeflate: { threshold: 0 } });
  await a.opened;
  if (!a.ws.extensions.includes('permessage-deflate')) fail(`no permessage-deflate: "${a.ws.extensions}"`);
  const hello = JSON.parse((await a.next()).text);
  assertEqual(hello.event, 'crier-hello', 'first message');
  if (!/^c[0-9a-f]+$/.test(hello.client)) fail(`client id ${hello.client}`);
  const big = 'crier sends one compressed frame to every subscriber\n'.repeat(50);
  const sent = ['first', 'two\nlines\r\nand € more', big];
  const ids = [];
  for (const s of sent) ids.push(await publish(ch, s));
  ids.push(await publish(ch, Buffer.from([0xff, 0x00, 0xfe]), 'application/octet-stream'));
  const got = [];
  for (let i = 0; i < 4; i++) got.push(await a.next());
  assertEqual(got, [...sent.map((text) => ({ text })), { bytes: [255, 0, 254] }], 'live messages');
  console.log('ok - live messages in order, text and binary, permessage-deflate');

  // 2. resume from the second id
  a.ws.close(1000, 'bye');
  await new Promise((resolve) => a.ws.once('close', (code) => (code === 1000 ? resolve() : fail(`close ${code}`))));
  const later = await publish(ch, 'while away');
  const b = open(`/sub/${ch}?since=${ids[1]}`);
  await b.opened;
  assertEqual(JSON.parse((await b.next()).text).event, 'crier-hello', 'hello on resume');
  const resumed = [];
  for (let i = 0; i < 3; i++) resumed.push(await b.next());
  assertEqual(resumed, [{ text: big }, { bytes: [255, 0, 254] }, { text: 'while away' }], 'resumed');
  if (!later) fail('no id');
  console.log('ok - resume with ?since= replays exactly what followed, in order');

  // 3. publish from the WebSocket
  b.ws.send('sent by ws');
  assertEqual(await b.next(), { text: 'sent by ws' }, 'own message echoed as a subscriber');
  const poll = await (await fetch(`${base}/sub/${ch}?transport=poll&since=${ids[3]}`)).text();
  if (!poll.includes('while away') || !poll.includes('sent by ws')) fail(`poll answered ${poll}`);
  console.log('ok - --ws-publish: a client message is published');

  // 4. ping (the server pings every --ws-ping; ws answers by itself) and close handshake
  await new Promise((resolve) => b.ws.once('ping', resolve));
  await publish(ch, 'after ping');
  assertEqual(await b.next(), { text: 'after ping' }, 'after a ping');
  const closed = new Promise((resolve) => b.ws.once('close', (code, reason) => resolve([code, reason.toString()])));
  b.ws.close(1000, 'done');
  assertEqual(await closed, [1000, 'done'], 'close handshake');
  console.log('ok - server ping answered, close handshake');
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`not ok - ${e.stack || e}`);
    process.exit(1);
  },
);
