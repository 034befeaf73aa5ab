// Ordering and no loss across loops (wsgate --mode pubsub, --threads 2):
// SUBSCRIBERS raw WebSocket subscribers spread over CHANNELS channels (and
// MULTI of them on every channel), publishers on both loops — WS_PUBLISHERS
// client-publish WebSocket connections and HTTP_PUBLISHERS keep-alive HTTP API
// connections (SO_REUSEPORT spreads connections over the loops by their
// source port; with 8 of each, all on one loop has odds 2^-7) — publishing
// concurrently, each one publication at a time, while LATE more subscribers
// join. Every subscriber's stream of every channel is checked: from the
// position its subscribe reply gave (0 for the early ones) offsets go up by
// exactly one with no gap and no duplicate to the channel's total, every
// subscriber sees the same publication at the same offset, each publisher's
// publications in the order it made them, and the offsets the HTTP API
// returned hold the data it published.
//
//   node test_pubsub_ordering.mjs WSGATE_BINARY BACKEND
//
// The subscribers are minimal raw clients (RFC 6455 framing over node:net,
// no compression) so that a few thousand fit in one process and CPU-second.
// Prints `N passed, N failed` last.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';

import { sleep, startWsgate, Suite, until } from './pubsub_proc.mjs';

if (process.argv.length < 4) {
  console.error('usage: test_pubsub_ordering.mjs WSGATE_BINARY BACKEND');
  console.log('0 passed, 1 failed');
  process.exit(2);
}
const [bin, backend] = process.argv.slice(2, 4);
const suite = new Suite('pubsub_ordering', process.argv.slice(4));

const SUBSCRIBERS = Number(process.env.WSGATE_ORDERING_SUBSCRIBERS || 2000);
const CHANNELS = 4;
const MULTI = 100; // subscribers that take every channel (out of SUBSCRIBERS)
const LATE = 200; // more subscribers, one channel each, joining while publications flow
const WS_PUBLISHERS = 8;
const HTTP_PUBLISHERS = Number(process.env.WSGATE_ORDERING_HTTP_PUBLISHERS ?? 8);
const PER_PUBLISHER_PER_CHANNEL = Number(process.env.WSGATE_ORDERING_PUBLICATIONS || 10);
const KEY = 'ordering-key';
const channelName = (i) => `order-${i}`;

function check(cond, what) {
  if (!cond) throw new Error(what);
}

// -- a minimal client ------------------------------------------------------------

// One raw WebSocket client on /connection/websocket: sends masked text frames,
// parses the server's frames, answers `{}` pings, splits messages into JSON
// lines and hands each reply/push to `onLine`.
class RawClient {
  constructor(port, onLine) {
    this.onLine = onLine;
    this.buf = Buffer.alloc(0);
    this.upgraded = false;
    this.parts = [];
    this.closeCode = null;
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpen = resolve;
      this.socket.once('error', reject);
      this.socket.once('close', () => reject(new Error('closed before the upgrade')));
    });
    this.socket.on('connect', () => {
      const key = randomBytes(16).toString('base64');
      this.socket.write(`GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    this.socket.on('data', (d) => this.onData(d));
    this.socket.on('error', () => {});
  }

  onData(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      if (!head.startsWith('HTTP/1.1 101 ')) {
        this.socket.destroy(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
        return;
      }
      this.upgraded = true;
      this.buf = this.buf.subarray(end + 4);
      this.resolveOpen();
    }
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0];
      let n = this.buf[1] & 0x7f;
      let at = 2;
      if (n === 126) {
        if (this.buf.length < 4) return;
        n = this.buf.readUInt16BE(2);
        at = 4;
      } else if (n === 127) {
        if (this.buf.length < 10) return;
        n = Number(this.buf.readBigUInt64BE(2));
        at = 10;
      }
      if (this.buf.length < at + n) return;
      const payload = this.buf.subarray(at, at + n);
      this.buf = this.buf.subarray(at + n);
      const op = b0 & 0x0f;
      if (op === 0x8) {
        this.closeCode = n >= 2 ? payload.readUInt16BE(0) : 1005;
        this.socket.end();
        return;
      }
      if (op === 0x9) { this.sendFrame(0xa, Buffer.from(payload)); continue; }
      if (op === 0xa) continue;
      this.parts.push(Buffer.from(payload));
      if (!(b0 & 0x80)) continue;
      const msg = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
      this.parts = [];
      for (const line of msg.toString('utf8').split('\n')) {
        if (line.length === 0) continue;
        if (line === '{}') { this.send('{}'); continue; }
        this.onLine(JSON.parse(line));
      }
    }
  }

  sendFrame(op, payload) {
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x80 | op, 0x80 | n])
      : n < 65536 ? Buffer.from([0x80 | op, 0x80 | 126, n >> 8, n & 0xff])
        : null;
    check(head, 'frame too big for this client');
    const mask = randomBytes(4);
    const body = Buffer.from(payload);
    for (let i = 0; i < n; i++) body[i] ^= mask[i & 3];
    this.socket.write(Buffer.concat([head, mask, body]));
  }

  send(text) {
    this.sendFrame(0x1, Buffer.from(text));
  }

  close() {
    this.socket.destroy();
  }
}

// A client that calls commands and awaits their replies by id; pushes go to `onPush`.
class Caller {
  constructor(port, onPush = () => {}) {
    this.nextId = 1;
    this.waiting = new Map();
    this.client = new RawClient(port, (obj) => {
      if (obj.id !== undefined) {
        const w = this.waiting.get(obj.id);
        this.waiting.delete(obj.id);
        if (w) w(obj);
      } else if (obj.push) {
        onPush(obj.push);
      }
    });
  }

  // `onResult` runs as the reply is read, before any line after it (a push
  // that follows a subscribe reply in the same message) is handled.
  call(method, params, onResult = null) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no reply to ${method} ${id}`)), 15000);
      this.waiting.set(id, (r) => {
        clearTimeout(t);
        if (r.error) {
          reject(new Error(`${method}: error ${JSON.stringify(r.error)}`));
          return;
        }
        if (onResult) onResult(r[method]);
        resolve(r[method]);
      });
      this.client.send(JSON.stringify({ [method]: params, id }));
    });
  }
}

// -- the run --------------------------------------------------------------------

const server = await startWsgate(bin, backend, ['--api-key', KEY, '--allow-client-publish', '--history-size', '16',
  '--max-channels-per-connection', String(CHANNELS + 1)]);
const subs = [];
const publishers = [];
let totalPerChannel = 0;
let published = 0;
const apiOffsets = []; // per channel: Map offset -> "p:k" as the HTTP API answered
const problems = [];
const note = (s) => { if (problems.length < 20) problems.push(s); else if (problems.length === 20) problems.push('...'); };

// A subscriber of `channels`; each stream starts at the position its subscribe
// reply carries (history is on, so the reply has the offset) and must go on
// from there by exactly one per publication.
function newSubscriber(i, channels) {
  const sub = { i, streams: new Map() };
  sub.caller = new Caller(server.port, (push) => {
    if (!push.pub) return;
    const st = sub.streams.get(push.channel);
    if (!st) { note(`sub ${i}: publication on ${push.channel}, not subscribed`); return; }
    const off = push.pub.offset;
    if (st.last === null) note(`sub ${i} ${push.channel}: publication ${off} before the subscribe reply`);
    else if (off !== st.last + 1) note(`sub ${i} ${push.channel}: offset ${off} after ${st.last}`);
    st.last = off;
    st.seen.push(`${push.pub.data.p}:${push.pub.data.k}`);
  });
  for (const c of channels) sub.streams.set(channelName(c), { start: null, last: null, seen: [] });
  subs.push(sub);
  return (async () => {
    await sub.caller.client.opened;
    await sub.caller.call('connect', { name: 'ordering' });
    await Promise.all(channels.map((c) => sub.caller.call('subscribe', { channel: channelName(c) }, (r) => {
      const st = sub.streams.get(channelName(c));
      check(Number.isInteger(r.offset), `subscribe reply without offset: ${JSON.stringify(r)}`);
      st.start = r.offset;
      st.last = r.offset;
    })));
  })();
}

async function connectAll() {
  const t0 = Date.now();
  for (let base = 0; base < SUBSCRIBERS; base += 200) {
    const batch = [];
    for (let i = base; i < Math.min(SUBSCRIBERS, base + 200); i++) {
      batch.push(newSubscriber(i, i < MULTI ? Array.from({ length: CHANNELS }, (_, c) => c) : [i % CHANNELS]));
    }
    await Promise.all(batch);
  }
  for (const s of subs) for (const [ch, st] of s.streams) check(st.start === 0, `sub ${s.i} ${ch}: starts at ${st.start}`);
  console.log(`     ${SUBSCRIBERS} subscribers connected and subscribed in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}

async function presenceAgrees() {
  const observer = new Caller(server.port);
  publishers.push(observer); // closed with them
  await observer.client.opened;
  await observer.call('connect', { name: 'observer' });
  for (let c = 0; c < CHANNELS; c++) {
    const want = subs.filter((s) => s.streams.has(channelName(c))).length;
    const r = await observer.call('presence_stats', { channel: channelName(c) });
    check(r.num_clients === want, `${channelName(c)}: presence ${JSON.stringify(r)}, want ${want}`);
  }
}

// HTTP API through one keep-alive agent per publisher (one TCP connection each).
function apiCall(agent, method, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request({ host: '127.0.0.1', port: server.port, path: `/api/${method}`, method: 'POST', agent,
      headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json', 'Content-Length': data.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`/api/${method}: ${res.statusCode}`));
        else resolve(JSON.parse(Buffer.concat(chunks).toString()));
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function publishAll() {
  for (let c = 0; c < CHANNELS; c++) apiOffsets.push(new Map());
  const sockets = new Set();
  const wsLoops = new Map();
  const runs = [];
  for (let p = 0; p < WS_PUBLISHERS; p++) {
    const pub = new Caller(server.port);
    publishers.push(pub);
    await pub.client.opened;
    const hello = await pub.call('connect', { name: `ws-publisher-${p}` });
    // wsgate's client id ends with the connection handle, whose top byte is the
    // loop: shown for information only (nothing is asserted on an id's format).
    const m = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-([0-9a-f]{2})/.exec(hello.client || '');
    if (m) wsLoops.set(m[1], (wsLoops.get(m[1]) || 0) + 1);
    runs.push((async () => {
      for (let k = 0; k < PER_PUBLISHER_PER_CHANNEL; k++) {
        for (let c = 0; c < CHANNELS; c++) {
          await pub.call('publish', { channel: channelName(c), data: { p: `w${p}`, k } });
          published++;
        }
      }
    })());
  }
  for (let p = 0; p < HTTP_PUBLISHERS; p++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agent.on('free', (s) => sockets.add(s));
    runs.push((async () => {
      for (let k = 0; k < PER_PUBLISHER_PER_CHANNEL; k++) {
        for (let c = 0; c < CHANNELS; c++) {
          const r = await apiCall(agent, 'publish', { channel: channelName(c), data: { p: `h${p}`, k } });
          published++;
          check(r.result && Number.isInteger(r.result.offset), `publish answer ${JSON.stringify(r)}`);
          if (apiOffsets[c].has(r.result.offset)) note(`${channelName(c)}: offset ${r.result.offset} returned twice`);
          apiOffsets[c].set(r.result.offset, `h${p}:${k}`);
        }
      }
      agent.destroy();
    })());
  }
  const t0 = Date.now();
  totalPerChannel = (WS_PUBLISHERS + HTTP_PUBLISHERS) * PER_PUBLISHER_PER_CHANNEL;
  // Late subscribers join while the publications flow: each stream must go
  // on from its subscribe position with no gap and no duplicate.
  await until(() => published >= (totalPerChannel * CHANNELS) / 4, 20000, 'a quarter published');
  const late = [];
  for (let j = 0; j < LATE; j++) late.push(newSubscriber(SUBSCRIBERS + j, [j % CHANNELS]));
  await Promise.all(late);
  const starts = subs.slice(SUBSCRIBERS).map((s) => [...s.streams.values()][0].start);
  await Promise.all(runs);
  console.log(`     ${LATE} late subscribers joined at offsets ${Math.min(...starts)}..${Math.max(...starts)} of ${totalPerChannel}`);
  console.log(`     ${totalPerChannel * CHANNELS} publications (${WS_PUBLISHERS} WebSocket + ${HTTP_PUBLISHERS} HTTP ` +
    `publishers, ${sockets.size} HTTP connections) in ${((Date.now() - t0) / 1000).toFixed(1)}s; ` +
    `WebSocket publishers per loop by client id: ${JSON.stringify(Object.fromEntries(wsLoops))}`);
  check(sockets.size === HTTP_PUBLISHERS, `HTTP publishers used ${sockets.size} connections, want one each (keep-alive)`);
}

async function everyoneGotEverything() {
  const deliveries = () => subs.reduce((a, s) => a + [...s.streams.values()].reduce((b, st) => b + st.seen.length, 0), 0);
  const want = subs.reduce((a, s) => a + [...s.streams.values()].reduce((b, st) => b + totalPerChannel - st.start, 0), 0);
  const t0 = Date.now();
  await until(() => deliveries() >= want || problems.length > 0, 20000, `deliveries (${deliveries()} of ${want})`)
    .catch((e) => note(e.message));
  await sleep(200); // anything extra (a duplicate) would show up now
  console.log(`     ${deliveries()} deliveries of ${want} expected, last ones ${((Date.now() - t0) / 1000).toFixed(1)}s after the publishers finished`);
  // The reference sequence per channel: the first subscriber's.
  // The reference sequence per channel: the first subscriber's (from offset 1).
  const reference = new Map();
  for (const s of subs) {
    for (const [ch, st] of s.streams) {
      if (st.seen.length !== totalPerChannel - st.start) {
        note(`sub ${s.i} ${ch}: ${st.seen.length} publications after offset ${st.start}, want ${totalPerChannel - st.start}`);
      }
      if (!reference.has(ch)) reference.set(ch, st.seen);
      const ref = reference.get(ch);
      for (let j = 0; j < st.seen.length; j++) {
        const at = st.start + j;
        if (st.seen[j] !== ref[at]) { note(`sub ${s.i} ${ch}: offset ${at + 1} holds ${st.seen[j]}, another subscriber got ${ref[at]}`); break; }
      }
    }
  }
  for (const [ch, ref] of reference) {
    // Each publisher's publications in the order it made them, none missing.
    const nextK = new Map();
    for (const pk of ref) {
      const [p, k] = pk.split(':');
      const want = nextK.get(p) || 0;
      if (Number(k) !== want) note(`${ch}: publisher ${p} publication ${k} where ${want} was next`);
      nextK.set(p, Number(k) + 1);
    }
    const c = Number(ch.split('-')[1]);
    for (const [off, pk] of apiOffsets[c]) {
      if (ref[off - 1] !== pk) note(`${ch}: the API answered offset ${off} for ${pk}, subscribers got ${ref[off - 1]} there`);
    }
  }
  check(problems.length === 0, problems.join('; '));
}

async function noneClosed() {
  const closed = subs.filter((s) => s.caller.client.closeCode !== null);
  check(closed.length === 0, `${closed.length} subscribers closed, e.g. code ${closed[0] && closed[0].caller.client.closeCode}`);
  check(server.alive(), 'server exited');
}

await suite.run(`${SUBSCRIBERS} subscribers connect and subscribe (${CHANNELS} channels, ${MULTI} on all)`, connectAll, 30000);
if (suite.failed === 0) {
  await suite.run('presence_stats counts every subscriber', presenceAgrees);
  await suite.run(`publishers on both loops publish concurrently; ${LATE} subscribers join meanwhile`, publishAll, 30000);
  await suite.run('every subscriber: offsets up by one from its subscribe position to N, no gap, no duplicate, same data, publisher order', everyoneGotEverything, 30000);
  await suite.run('no subscriber closed, server alive', noneClosed);
}
for (const s of subs) s.caller.client.close();
for (const p of publishers) p.client.close();
await suite.run('SIGTERM -> exit 0', async () => {
  const code = await server.stop();
  if (code !== 0) console.log(`     ${server.log().slice(-6000).split('\n').join('\n     ')}`);
  check(code === 0, `exit status ${code} (its log above)`);
});
await server.stop(); // when a case filter left it running
suite.finish();
