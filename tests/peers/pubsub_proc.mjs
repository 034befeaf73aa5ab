// What the Node pub/sub suites share: a wsgate --mode pubsub instance of the
// suite's own (started directly, stopped by its PID), HTTP API calls, HS256
// connection tokens made with node:crypto, and a cuttable TCP proxy that
// stands for a network drop or a stalled reader between an SDK and wsgate.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import net from 'node:net';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Every instance this process started, so none outlives it: killed by PID on
// exit, also when run_peers.sh's `timeout` ends the suite with SIGTERM.
const children = new Set();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    console.log(`interrupted by ${sig}`);
    process.exit(1);
  });
}

// Starts `bin --mode pubsub` on a free port; resolves once it logged its
// listening line. `stop()` sends SIGTERM and resolves with the exit status
// (SIGKILL after `graceMs`, then null).
export async function startWsgate(bin, backend, flags, threads = 2) {
  const port = await freePort();
  const args = ['--mode', 'pubsub', '--listen', `127.0.0.1:${port}`, '--backend', backend,
    '--threads', String(threads), '--close-timeout', '2', ...flags];
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let log = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.stderr.on('data', (d) => { log += d.toString(); });
  await new Promise((resolve, reject) => {
    const deadline = Date.now() + 10000;
    const poll = () => {
      if (log.includes('wsgate: listening on ')) return resolve();
      if (child.exitCode !== null) return reject(new Error(`wsgate exited ${child.exitCode}: ${log.slice(-400)}`));
      if (Date.now() > deadline) return reject(new Error(`wsgate did not listen: ${log.slice(-400)}`));
      setTimeout(poll, 50);
    };
    poll();
  });
  return {
    port,
    pid: child.pid,
    url: `ws://127.0.0.1:${port}/connection/websocket`,
    log: () => log,
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop(graceMs = 8000) {
      if (child.exitCode !== null || child.signalCode !== null) return (await exited).code;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(t);
      return r.signal === 'SIGKILL' ? null : r.code;
    },
  };
}

// POST /api/<method>; returns { status, body (parsed when JSON) }.
export async function api(port, key, method, body) {
  const res = await fetch(`http://127.0.0.1:${port}/api/${method}`, {
    method: 'POST',
    headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* left as text */ }
  return { status: res.status, body: parsed };
}

export async function apiResult(port, key, method, body) {
  const r = await api(port, key, method, body);
  if (r.status !== 200 || !r.body || r.body.result === undefined) {
    throw new Error(`/api/${method} ${JSON.stringify(body).slice(0, 80)}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  }
  return r.body.result;
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// A JWS compact token (RFC 7515 §7.1) with HMAC-SHA256 (RFC 7518 §3.2).
export function hs256Token(secret, claims, header = { alg: 'HS256', typ: 'JWT' }) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = createHmac('sha256', secret).update(input).digest();
  return `${input}.${b64url(sig)}`;
}

// A TCP proxy to 127.0.0.1:target. block(): drops every connection and
// refuses new ones until unblock() (a network outage); stall(): stops reading
// from the server side, so the server's output for every client backs up
// (a stalled reader), resume() reads again.
export async function startProxy(target) {
  const pairs = new Set();
  let blocked = false;
  let stalled = false;
  const server = net.createServer((client) => {
    if (blocked) { client.destroy(); return; }
    const upstream = net.connect(target, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    if (stalled) upstream.pause(); // (pipe() would set it flowing)
    else upstream.pipe(client);
    // pipe() ends the other side after what is left was written (a close
    // frame behind stalled data still arrives); errors end both at once.
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', () => pairs.delete(pair));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return {
    port,
    url: `ws://127.0.0.1:${port}/connection/websocket`,
    connections: () => pairs.size,
    block() {
      blocked = true;
      for (const p of pairs) { p.client.destroy(); p.upstream.destroy(); }
      pairs.clear();
    },
    unblock() { blocked = false; },
    stall() {
      stalled = true;
      for (const p of pairs) { p.upstream.unpipe(p.client); p.upstream.pause(); }
    },
    resume() {
      stalled = false;
      for (const p of pairs) { p.upstream.pipe(p.client); p.upstream.resume(); }
    },
    close() {
      for (const p of pairs) { p.client.destroy(); p.upstream.destroy(); }
      return new Promise((r) => server.close(r));
    },
  };
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Resolves with the first event's argument, rejects after `ms`. A case that
// fails before awaiting it must not end the process with an unhandled
// rejection: the rejection is also caught here (awaiting it still throws).
export function once(emitter, event, ms = 5000) {
  const p = new Promise((resolve, reject) => {
    const t = setTimeout(() => { emitter.off(event, h); reject(new Error(`no ${event} within ${ms} ms`)); }, ms);
    const h = (ctx) => { clearTimeout(t); resolve(ctx); };
    emitter.once(event, h);
  });
  p.catch(() => {});
  return p;
}

// Polls `pred` until it is true (or returns a truthy value), rejects after `ms`.
export async function until(pred, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

// Runs named cases; prints `N passed, N failed` last (see wsraw.Suite).
export class Suite {
  constructor(name, only = []) {
    this.name = name;
    this.only = only;
    this.passed = 0;
    this.failed = 0;
  }

  async run(name, fn, timeoutMs = 20000) {
    if (this.only.length && !this.only.some((o) => name.includes(o))) return;
    const t0 = Date.now();
    let timer;
    try {
      await Promise.race([fn(), new Promise((_, rej) => {
        timer = setTimeout(() => rej(new Error(`case timed out after ${timeoutMs} ms`)), timeoutMs);
      })]);
      this.passed++;
      const dt = (Date.now() - t0) / 1000;
      console.log(`ok   ${this.name} ${name}${dt > 1 ? ` (${dt.toFixed(1)}s)` : ''}`);
    } catch (e) {
      this.failed++;
      console.log(`FAIL ${this.name} ${name}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
    } finally {
      clearTimeout(timer);
    }
  }

  // A case not run, said so and counted (shown as `, N skipped`).
  skip(name, reason) {
    if (this.only.length && !this.only.some((o) => name.includes(o))) return;
    this.skipped = (this.skipped || 0) + 1;
    console.log(`skip ${this.name} ${name}: ${reason}`);
  }

  finish() {
    const skipped = this.skipped ? `, ${this.skipped} skipped` : '';
    console.log(`${this.passed} passed, ${this.failed} failed${skipped}`);
    process.exit(this.failed === 0 ? 0 : 1);
  }
}
