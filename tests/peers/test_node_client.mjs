// Echo through Node's `ws` client: text and binary byte for byte (empty to
// 16 MiB), ping/pong payloads, close 1000, and fragmented sends ({fin:false},
// RFC 6455 §5.4). Prints `N passed, N failed` last.
import { randomBytes } from 'node:crypto';

import { inbox, openClient, sha, wsVersion } from './node_ws_client.mjs';

const host = process.env.WSGATE_HOST || '127.0.0.1';
const port = process.env.WSGATE_PORT || '8080';
const url = `ws://${host}:${port}/`;
const caseTimeoutMs = 30000;

let passed = 0;
let failed = 0;

function open() {
  return openClient(url, false);
}

function assertEcho(got, sent, isBinary) {
  if (got.isBinary !== isBinary) throw new Error(`echo binary=${got.isBinary}, want ${isBinary}`);
  if (!got.data.equals(sent)) {
    throw new Error(`echo differs: sent ${sent.length} bytes ${sha(sent)}, got ${got.data.length} bytes ${sha(got.data)}`);
  }
}

function closeWith(ws, code) {
  return new Promise((resolve, reject) => {
    ws.once('close', (c, reason) => {
      if (c !== code) reject(new Error(`close code ${c}, want ${code}`));
      else if (reason.length !== 0) reject(new Error(`close reason ${JSON.stringify(reason.toString())}, want none`));
      else resolve();
    });
    ws.close(code);
  });
}

async function sizes() {
  const ws = await open();
  const next = inbox(ws);
  for (const n of [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 16 << 20]) {
    const bin = n <= 1 << 20 ? randomBytes(n) : Buffer.concat(Array(256).fill(randomBytes(1 << 16)));
    ws.send(bin, { binary: true });
    assertEcho(await next(), bin, true);
    // Exactly n bytes of UTF-8: 2- and 3-byte characters, padded with ASCII.
    const str = Buffer.from('ü☃'.repeat(Math.floor(n / 5)) + 'a'.repeat(n % 5));
    if (str.length !== n) throw new Error('text size setup');
    ws.send(str.toString('utf8'));
    assertEcho(await next(), str, false);
  }
  await closeWith(ws, 1000);
}

async function pings() {
  const ws = await open();
  for (const payload of [Buffer.alloc(0), Buffer.from('hello'), randomBytes(125)]) {
    const pong = new Promise((resolve) => ws.once('pong', resolve));
    ws.ping(payload);
    const got = await pong;
    if (!Buffer.from(got).equals(payload)) throw new Error(`pong payload ${sha(got)} != ping ${sha(payload)}`);
  }
  await closeWith(ws, 1000);
}

async function fragmented() {
  const ws = await open();
  const next = inbox(ws);
  const parts = ['héllo ', 'wörld', ' — ☃ 𝄞', ' 中文'];
  parts.forEach((p, i) => ws.send(p, { fin: i === parts.length - 1 }));
  assertEcho(await next(), Buffer.from(parts.join('')), false);
  const bins = [randomBytes(70000), Buffer.alloc(0), randomBytes(3)];
  bins.forEach((b, i) => ws.send(b, { binary: true, fin: i === bins.length - 1 }));
  assertEcho(await next(), Buffer.concat(bins), true);
  // A ping between fragments is answered without breaking the message (§5.4).
  const pong = new Promise((resolve) => ws.once('pong', resolve));
  ws.send('first half ', { fin: false });
  ws.ping(Buffer.from('mid'));
  ws.send('second half', { fin: true });
  if (!Buffer.from(await pong).equals(Buffer.from('mid'))) throw new Error('pong mid-message');
  assertEcho(await next(), Buffer.from('first half second half'), false);
  await closeWith(ws, 1000);
}

async function many() {
  const ws = await open();
  const next = inbox(ws);
  const msgs = Array.from({ length: 1000 }, (_, i) => randomBytes(i % 500));
  msgs.forEach((m) => ws.send(m, { binary: true }));
  for (const m of msgs) assertEcho(await next(), m, true);
  await closeWith(ws, 1000);
}

async function run(name, fn) {
  const t0 = Date.now();
  let timer;
  try {
    await Promise.race([fn(), new Promise((_, rej) => { timer = setTimeout(() => rej(new Error('timed out')), caseTimeoutMs); })]);
    passed++;
    console.log(`ok   node ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL node ${name}: ${e && e.message ? e.message : e}`);
  } finally {
    clearTimeout(timer);
  }
}

console.log(`node ${process.version}, ws ${wsVersion} against ${url}`);
await run('text+binary sizes 0..16MiB', sizes);
await run('ping payloads', pings);
await run('fragmented sends', fragmented);
await run('1000 messages in flight', many);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
