// The real Centrifugo SDK (npm `centrifuge`, Node's `ws` as its WebSocket)
// against three wsgate nodes sharing one channel space through a real
// redis-server (--engine redis, docs/redis-engine.md), while Redis and a node
// fail under a running publisher.
//
//   node test_redis_sdk.mjs WSGATE_BINARY BACKEND [CASE-FILTER...]
//
// Starts its own redis-server (free port, no persistence; killed, frozen and
// restarted by PID) and nodes A 127.0.0.1, B 127.0.0.2, C 127.0.0.3 with
// history. SDK clients subscribe (recoverable, positioned) to several
// channels on B (through a switchable TCP proxy, the stand-in for a load
// balancer) and on C; a publisher per channel posts a sequence number to A's
// /api/publish. Every subscriber's stream is checked: offsets go up by one
// and sequence numbers follow every acknowledged publish in order, unless an
// explicit break lies between (a resubscribe with recovered: false, which the
// SDK does after the server's 3010 insufficient-state disconnect) - never a
// silent gap. A publish answered 503 (Redis unavailable) is not expected, but
// may appear (its outcome is unknown: it may have run in Redis). Every
// process is killed by PID at the end. Prints `N passed, N failed` last.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';

import { freePort, sleep, Suite, until } from './pubsub_proc.mjs';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const { Centrifuge } = require('centrifuge');

if (process.argv.length < 4) {
  console.error('usage: test_redis_sdk.mjs WSGATE_BINARY BACKEND');
  console.log('0 passed, 1 failed');
  process.exit(2);
}
const [bin, backend] = process.argv.slice(2, 4);
const suite = new Suite('redis_sdk', process.argv.slice(4));

const KEY = 'redis-sdk-key';
const COMMAND_TIMEOUT = 0.5; // --redis-command-timeout (s)
const CHANNELS = ['alpha', 'beta', 'gamma'];
const HOSTS = { A: '127.0.0.1', B: '127.0.0.2', C: '127.0.0.3' };

function eq(got, want, what) {
  if (!isDeepStrictEqual(got, want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}
function check(cond, what) {
  if (!cond) throw new Error(what);
}

// Every process this suite started, killed by PID on exit (also on failure
// and when run_peers.sh's `timeout` sends SIGTERM; pubsub_proc.mjs turns
// that into process.exit).
const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try { process.kill(c.pid, 'SIGCONT'); } catch { /* gone */ }
      c.kill('SIGKILL');
    }
  }
});

function spawnTracked(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  child.log = '';
  child.stderr.on('data', (d) => { child.log = (child.log + d.toString()).slice(-20000); });
  child.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return child;
}

async function killNow(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL'); // a stopped process dies too
  await child.exited;
}

// -- redis-server and the nodes ------------------------------------------------

const redis = {
  port: 0,
  proc: null,
  async start() {
    this.proc = spawnTracked('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1',
      '--save', '', '--appendonly', 'no', '--loglevel', 'warning']);
    await until(() => redisPing(this.port), 5000, 'redis-server answering PING');
  },
  kill() { return killNow(this.proc); },
  freeze() { process.kill(this.proc.pid, 'SIGSTOP'); },
  thaw() { process.kill(this.proc.pid, 'SIGCONT'); },
};

function redisPing(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.setTimeout(500, () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { got += d; if (got.includes('\r\n')) { s.destroy(); resolve(got.startsWith('+PONG')); } });
  });
}

class Node {
  constructor(name, port, admin) {
    this.name = name;
    this.host = HOSTS[name];
    this.port = port;
    this.admin = admin;
    this.proc = null;
  }

  async start() {
    this.proc = spawnTracked(bin, ['--mode', 'pubsub', '--backend', backend, '--threads', '2',
      '--listen', `${this.host}:${this.port}`, '--admin-listen', `${this.host}:${this.admin}`,
      '--close-timeout', '2', '--api-key', KEY, '--history-size', '1000', '--history-ttl', '120',
      '--engine', 'redis', '--redis', `127.0.0.1:${redis.port}`,
      '--redis-command-timeout', String(COMMAND_TIMEOUT)]);
    await until(async () => (await this.healthz()) === 200, 10000, `node ${this.name} healthy`);
  }

  async healthz() {
    try {
      const r = await fetch(`http://${this.host}:${this.admin}/healthz`, { signal: AbortSignal.timeout(2000) });
      await r.text();
      return r.status;
    } catch {
      return 0;
    }
  }

  alive() { return this.proc && this.proc.exitCode === null && this.proc.signalCode === null; }
  url() { return `ws://${this.host}:${this.port}/connection/websocket`; }
}

// A TCP proxy on 127.0.0.1 whose target can be switched: B's clients connect
// through it, and when B dies it points at C, as a load balancer would.
async function startSwitch(target) {
  const pairs = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => { pairs.delete(pair); client.destroy(); upstream.destroy(); };
    for (const s of [client, upstream]) { s.on('error', drop); s.on('close', drop); }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `ws://127.0.0.1:${server.address().port}/connection/websocket`,
    target(t) { target = t; },
    close() {
      for (const p of pairs) { p.client.destroy(); p.upstream.destroy(); }
      return new Promise((r) => server.close(r));
    },
  };
}

// -- publisher -------------------------------------------------------------------

// One sequential loop per channel (so a channel's seq order is its offset
// order), posting {seq} to A's /api/publish until stopped.
function startPublisher(A, prefix) {
  const status = {}; // channel -> [status per seq]
  let running = true;
  const loops = CHANNELS.map(async (ch) => {
    const channel = `${prefix}-${ch}`;
    status[channel] = [];
    for (let seq = 0; running; seq++) {
      let st;
      try {
        const r = await fetch(`http://${A.host}:${A.port}/api/publish`, {
          method: 'POST',
          headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' },
          body: JSON.stringify({ channel, data: { seq } }),
          signal: AbortSignal.timeout(3000),
        });
        await r.text();
        st = r.status;
      } catch (e) {
        st = `error ${e.name}`;
      }
      status[channel][seq] = st;
      await sleep(st === 200 ? 8 : 30);
    }
  });
  return {
    status,
    tail: {},
    async stop() { running = false; await Promise.all(loops); },
    count(st) {
      return Object.values(status).reduce((n, a) => n + a.filter((s) => s === st).length, 0);
    },
    others() {
      return Object.entries(status).flatMap(([ch, a]) => a.map((s, i) => [ch, i, s])
        .filter(([, , s]) => s !== 200 && s !== 503));
    },
  };
}

// A final publish per channel after the publisher stopped (retried until
// Redis takes it), so every subscriber has a known last seq to reach.
async function publishTail(A, pub) {
  for (const channel of Object.keys(pub.status)) {
    const seq = pub.status[channel].length;
    let result = null;
    await until(async () => {
      const r = await fetch(`http://${A.host}:${A.port}/api/publish`, {
        method: 'POST',
        headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' },
        body: JSON.stringify({ channel, data: { seq } }),
      });
      const text = await r.text();
      if (r.status === 200) result = JSON.parse(text).result;
      return r.status === 200;
    }, 10000, `tail publish on ${channel}`);
    pub.status[channel][seq] = 200;
    pub.tail[channel] = result; // { offset, epoch } of the last publication
  }
}

// -- subscribers ---------------------------------------------------------------------

const clients = new Set();

// An SDK client subscribed to every channel of the case; each subscription
// keeps one log of publications and subscribe contexts in arrival order.
async function subscriber(name, url, prefix) {
  const c = new Centrifuge(url, { websocket: WebSocket, minReconnectDelay: 100, maxReconnectDelay: 400 });
  clients.add(c);
  c.label = name;
  c.reconnects = []; // codes of the disconnects the SDK reconnected after
  c.on('connecting', (ctx) => { if (ctx.code !== 0) c.reconnects.push(ctx.code); });
  c.subs = [];
  for (const ch of CHANNELS) {
    const s = c.newSubscription(`${prefix}-${ch}`, { recoverable: true, positioned: true });
    s.log = [];
    s.on('publication', (ctx) => s.log.push({ pub: ctx.offset, seq: ctx.data.seq }));
    s.on('subscribed', (ctx) => s.log.push({ sub: ctx }));
    s.on('unsubscribed', (ctx) => s.log.push({ unsub: ctx }));
    c.subs.push(s);
  }
  const subscribed = c.subs.map((s) => new Promise((r) => s.once('subscribed', r)));
  c.connect();
  for (const s of c.subs) s.subscribe();
  await Promise.race([Promise.all(subscribed), sleep(5000).then(() => { throw new Error(`${name}: not subscribed`); })]);
  return c;
}

// A subscription has all there is once it saw the last publication, or
// subscribed afresh (not recovered) at or after it: nothing follows that
// position, so nothing is missing.
function caughtUp(s, pub) {
  const last = s.log.at(-1);
  const tail = pub.tail[s.channel];
  if (!last) return false;
  if (last.pub !== undefined) return last.seq === pub.status[s.channel].length - 1;
  const pos = last.sub && last.sub.streamPosition;
  return Boolean(pos && tail && pos.epoch === tail.epoch && pos.offset >= tail.offset);
}

// Checks one subscription's log against the publisher's statuses; returns a
// summary. Between two publications with no non-recovered subscribe between,
// the offset goes up by one and no acknowledged seq is skipped.
function checkLog(who, s, pub) {
  const status = pub.status[s.channel];
  let prev = null; // last publication of the current unbroken run
  let expectOffset = null; // offset the next publication must have
  let broken = 0;
  let recovered = 0;
  let subs = 0;
  let unknownSeen = 0;
  const positions = []; // where each non-recovered resubscribe started
  for (const e of s.log) {
    if (e.unsub) throw new Error(`${who}: unsubscribed ${JSON.stringify(e.unsub)}`);
    if (e.sub) {
      subs++;
      const { wasRecovering, recovered: ok, streamPosition } = e.sub;
      if (subs === 1 || !ok) {
        if (subs > 1) {
          broken++;
          positions.push(streamPosition.offset);
        }
        prev = null;
        expectOffset = streamPosition ? streamPosition.offset + 1 : null;
      } else if (wasRecovering) {
        recovered++;
      }
      continue;
    }
    if (expectOffset !== null) eq(e.pub, expectOffset, `${who}: offset after ${prev ? `seq ${prev.seq}` : 'subscribe'}`);
    if (prev) {
      check(e.seq > prev.seq, `${who}: seq ${e.seq} after ${prev.seq} (duplicate or out of order)`);
      for (let q = prev.seq + 1; q < e.seq; q++) {
        check(status[q] !== 200, `${who}: acknowledged seq ${q} missing between ${prev.seq} and ${e.seq} (silent gap)`);
      }
    }
    if (status[e.seq] !== 200) unknownSeen++;
    prev = e;
    expectOffset = e.pub + 1;
  }
  const pubs = s.log.filter((e) => e.pub !== undefined).length;
  check(caughtUp(s, pub), `${who}: ended at ${JSON.stringify(s.log.at(-1))}, last published ${pub.status[s.channel].length - 1}`);
  return { pubs, subs, broken, recovered, unknownSeen, positions };
}

async function runCase(A, prefix, subscribers, fault) {
  const pub = startPublisher(A, prefix);
  let faultInfo;
  try {
    faultInfo = await fault(pub);
  } finally {
    await pub.stop();
  }
  await publishTail(A, pub);
  const others = pub.others();
  check(others.length === 0, `publishes neither 200 nor 503: ${JSON.stringify(others.slice(0, 5))}`);
  await until(() => subscribers.every((c) => c.subs.every((s) => caughtUp(s, pub))), 15000, 'every subscriber reaching the last publication').catch((e) => {
    for (const c of subscribers) for (const s of c.subs) {
      const events = s.log.filter((x) => x.pub === undefined).map((x) => JSON.stringify(x.sub ?
        [x.sub.wasRecovering, x.sub.recovered, x.sub.streamPosition] : x)).join(' ');
      console.log(`     ${c.label} ${s.channel}: state ${s.state}, client ${c.state}, reconnects ` +
        `${JSON.stringify(c.reconnects)}, want seq ${pub.status[s.channel].length - 1}, last ` +
        `${JSON.stringify(s.log.filter((x) => x.pub !== undefined).at(-1))}, subscribes ${events}`);
    }
    throw e;
  });
  const summary = { ok: pub.count(200), '503': pub.count(503) };
  const seen = [];
  for (const c of subscribers) {
    for (const s of c.subs) {
      const r = checkLog(`${c.label} ${s.channel}`, s, pub);
      seen.push({ who: `${c.label}/${s.channel.split('-').at(-1)}`, channel: s.channel, ...r });
    }
  }
  console.log(`     publishes: ${summary.ok} ok, ${summary['503']} answered 503${faultInfo ? `; ${faultInfo}` : ''}`);
  for (const c of subscribers) {
    const mine = seen.filter((x) => x.who.startsWith(`${c.label}/`));
    console.log(`     ${c.label}: reconnects ${JSON.stringify(c.reconnects)}; ` + mine.map((x) =>
      `${x.who.split('/')[1]} ${x.pubs} pubs, ${x.subs} subscribes, ${x.recovered} recovered, ${x.broken} broken` +
      (x.broken ? ` (resubscribed at offset ${x.positions.join(', ')}; last ${pub.tail[x.channel].offset})` : '') +
      (x.unknownSeen ? `, ${x.unknownSeen} unacknowledged seen` : '')).join('; '));
  }
  for (const c of subscribers) { c.disconnect(); clients.delete(c); }
  return { pub, seen, subscribers };
}

// -- cases -------------------------------------------------------------------------------

const nodes = {};
let bswitch = null;

async function steadyState() {
  const { A, C } = nodes;
  const subs = [await subscriber('B1', bswitch.url, 'steady'), await subscriber('C1', C.url(), 'steady'),
    await subscriber('B2', bswitch.url, 'steady')];
  const { pub, seen } = await runCase(A, 'steady', subs, async () => { await sleep(1500); });
  eq(pub.count(503), 0, 'publishes answered 503 in steady state');
  for (const x of seen) eq([x.subs, x.broken], [1, 0], `${x.who}: subscribes, breaks`);
  check(seen.every((x) => x.pubs >= 20), `too few publications: ${JSON.stringify(seen.map((x) => x.pubs))}`);
}

async function redisKilled() {
  const { A, C } = nodes;
  const subs = [await subscriber('B1', bswitch.url, 'killed'), await subscriber('C1', C.url(), 'killed')];
  const { pub, seen } = await runCase(A, 'killed', subs, async (p) => {
    await sleep(700);
    await redis.kill();
    await sleep(1000);
    const failed = p.count(503);
    await redis.start(); // empty: the streams and their epochs are gone
    await until(async () => (await A.healthz()) === 200, 10000, 'A healthy after the restart');
    await sleep(1000);
    return `${failed} answered 503 while Redis was down`;
  });
  check(pub.count(503) >= 1, 'no publish failed while Redis was down');
  // Redis lost the streams: each subscription must be told (3010, then a
  // resubscribe that is not recovered), never left with a silent hole.
  for (const x of seen) check(x.broken >= 1, `${x.who}: no explicit break after Redis lost the stream`);
  for (const c of subs) check(c.reconnects.includes(3010), `${c.label}: no 3010 seen (${JSON.stringify(c.reconnects)})`);
}

async function redisFrozen() {
  const { A, C } = nodes;
  const subs = [await subscriber('B1', bswitch.url, 'frozen'), await subscriber('C1', C.url(), 'frozen')];
  const { pub } = await runCase(A, 'frozen', subs, async (p) => {
    await sleep(700);
    redis.freeze();
    const t0 = Date.now();
    try {
      await sleep(4000);
    } finally {
      redis.thaw();
    }
    const failed = p.count(503);
    await until(async () => (await A.healthz()) === 200, 10000, 'A healthy after SIGCONT');
    await sleep(800);
    return `frozen ${((Date.now() - t0) / 1000).toFixed(1)} s, ${failed} answered 503 meanwhile`;
  });
  check(pub.count(503) >= 1, 'no publish failed while Redis was frozen');
}

async function nodeKilled() {
  const { A, B, C } = nodes;
  const subs = [await subscriber('B1', bswitch.url, 'nodekill'), await subscriber('B2', bswitch.url, 'nodekill'),
    await subscriber('C1', C.url(), 'nodekill')];
  const { seen } = await runCase(A, 'nodekill', subs, async () => {
    await sleep(700);
    bswitch.target({ host: C.host, port: C.port }); // new connections go to C
    await killNow(B.proc);
    await sleep(1500);
    return 'B SIGKILLed, its clients reconnect through the switch to C';
  });
  for (const x of seen.filter((y) => y.who.startsWith('B'))) {
    eq([x.subs, x.recovered, x.broken], [2, 1, 0], `${x.who}: subscribes, recovered, broken`);
  }
  for (const x of seen.filter((y) => y.who.startsWith('C'))) eq([x.subs, x.broken], [1, 0], `${x.who}: subscribes, broken`);
}

// -- main -----------------------------------------------------------------------------------

async function main() {
  const which = spawn('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' });
  const found = await new Promise((r) => which.once('exit', (code) => r(code === 0)));
  if (!found) {
    suite.skip('all', 'redis-server not installed');
    suite.finish();
  }
  redis.port = await freePort();
  await redis.start();
  for (const name of ['A', 'B', 'C']) nodes[name] = new Node(name, await freePort(), await freePort());
  await Promise.all(Object.values(nodes).map((n) => n.start()));
  bswitch = await startSwitch({ host: nodes.B.host, port: nodes.B.port });
  console.log(`redis_sdk: centrifuge ${JSON.parse(readFileSync(new URL('./node_modules/centrifuge/package.json', import.meta.url))).version}, backend ${backend}, ` +
    `redis :${redis.port}, A ${nodes.A.host}:${nodes.A.port} B ${nodes.B.host}:${nodes.B.port} C ${nodes.C.host}:${nodes.C.port}`);

  await suite.run('steady state: 3 channels, subscribers on B and C, every sequence complete', steadyState);
  await suite.run('Redis SIGKILLed + restarted mid-stream: 503s, then 3010 and a non-recovered resubscribe, no silent gap',
    redisKilled, 30000);
  await suite.run('Redis SIGSTOP 4 s + SIGCONT mid-stream: 503s, sequences in order, no silent gap', redisFrozen, 30000);
  await suite.run('node B SIGKILLed: its clients reconnect to C and recover (recovered: true), no gap', nodeKilled, 30000);
  await suite.run('nodes A and C alive', async () => {
    for (const n of [nodes.A, nodes.C]) check(n.alive(), `${n.name} exited: ${n.proc.log.slice(-400)}`);
  });
}

try {
  await main();
} catch (e) {
  console.log(`FAIL redis_sdk setup: ${e.message}`);
  suite.failed++;
  for (const n of Object.values(nodes)) if (n.proc) console.log(`     ${n.name} log: ${n.proc.log.slice(-300)}`);
} finally {
  for (const c of clients) c.disconnect();
  if (bswitch) await bswitch.close();
  for (const n of Object.values(nodes)) if (n.proc) await killNow(n.proc);
  if (redis.proc) await redis.kill();
}
suite.finish();
