// Headless Chromium (Debian's /usr/bin/chromium, playwright-core) through
// `wsgate --mode proxy` to three real backends, one route each per relay:
//   /wsgate -> a wsgate echo server                         (tunnel)
//   /python -> a python3-websockets echo server (a process)  (tunnel)
//   /node   -> a Node `ws` echo server (in this process)     (tunnel)
//   /frames/python, /frames/node -> the same two backends    (relay=frames)
// Tunnel routes negotiate permessage-deflate end to end: Chromium's offer
// reaches the backend unchanged (python and node report the offer they got),
// and the extension and subprotocol the page sees are exactly what the
// backend answered. Frames routes compress per hop: the page gets wsgate's
// own answer, the backend gets no offer (wsgate's upstream side does not
// compress), and the subprotocol is still the backend's choice. Then text and binary messages (empty,
// multi-byte UTF-8, 100 KB of compressible JSON that Chromium compresses and
// fragments, 100 KB random) come back byte for byte (SHA-256), and a close
// 1000 is answered by the backend through the tunnel (wasClean).
//   node test_proxy_chromium.mjs WSGATE_BINARY BACKEND
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { Suite, launchChromium, want } from './chromium_suite.mjs';
import net from 'node:net';

const require = createRequire(import.meta.url);
const { WebSocketServer } = require('ws');

const [bin, backend] = process.argv.slice(2);
if (!bin || !backend) {
  console.log('usage: test_proxy_chromium.mjs WSGATE_BINARY BACKEND');
  console.log('0 passed, 1 failed');
  process.exit(2);
}
const host = '127.0.0.1';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const suite = new Suite('proxy_chromium');
const run = (name, fn) => suite.run(name, fn);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// A child process, stopped by its PID at the end; ready once its output
// contains `ready`.
async function startProcess(cmd, args, ready) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  for (let i = 0; i < 100; i++) {
    if (log.includes(ready)) return { proc, exited, log: () => log };
    if (proc.exitCode !== null) break;
    await sleep(100);
  }
  proc.kill('SIGKILL');
  throw new Error(`${cmd} ${args.join(' ')} did not start; log: ${log.slice(-500)}`);
}

async function stopProcess(p) {
  if (!p || p.proc.exitCode !== null) return;
  p.proc.kill('SIGTERM');
  const t = setTimeout(() => p.proc.kill('SIGKILL'), 5000);
  await p.exited;
  clearTimeout(t);
}

// python3-websockets echo (its default permessage-deflate offer answer,
// subprotocol "chat"); prints, per handshake, the offer it got and its answer.
const pythonEcho = `
import asyncio, json, sys
import websockets

async def echo(ws, path):
    print(json.dumps({"offer": ws.request_headers.get("Sec-WebSocket-Extensions"),
                      "answer": ws.response_headers.get("Sec-WebSocket-Extensions")}), flush=True)
    async for m in ws:
        await ws.send(m)

async def main():
    async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1]), subprotocols=["chat"],
                                max_size=None, close_timeout=1):
        print("ready", flush=True)
        await asyncio.Future()

asyncio.run(main())
`;

const procs = [];
let nodeServer;
let browser;
const nodeSeen = []; // {offer, answer} per handshake
try {
  const ports = { wsgate: await freePort(), python: await freePort(), node: await freePort(),
    proxy: await freePort() };
  procs.push(await startProcess(bin, ['--listen', `${host}:${ports.wsgate}`, '--backend', backend,
    '--threads', '1', '--close-timeout', '1'], 'listening on'));
  const python = await startProcess('/usr/bin/python3', ['-c', pythonEcho, String(ports.python)], 'ready');
  procs.push(python);
  nodeServer = new WebSocketServer({ host, port: ports.node, perMessageDeflate: true, maxPayload: 0,
    handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false) });
  nodeServer.on('headers', (headers, req) => {
    const answer = headers.find((h) => h.toLowerCase().startsWith('sec-websocket-extensions:'));
    nodeSeen.push({ offer: req.headers['sec-websocket-extensions'],
      answer: answer ? answer.slice(answer.indexOf(':') + 1).trim() : undefined });
  });
  nodeServer.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise((resolve) => nodeServer.once('listening', resolve));
  const proxy = await startProcess(bin, ['--mode', 'proxy', '--listen', `${host}:${ports.proxy}`,
    '--backend', backend, '--threads', '1', '--close-timeout', '1',
    '--upstream', `wsgate=${host}:${ports.wsgate}`, '--upstream', `python=${host}:${ports.python}`,
    '--upstream', `node=${host}:${ports.node}`,
    '--route', '/wsgate=wsgate', '--route', '/python=python', '--route', '/node=node',
    '--route', '/frames/python=python,relay=frames', '--route', '/frames/node=node,relay=frames'],
  'listening on');
  procs.push(proxy);

  browser = await launchChromium();
  const page = await browser.newPage();
  page.setDefaultTimeout(15000);
  const origin = `http://${host}:${ports.proxy}`;
  console.log(`chromium ${browser.version()} through ${origin} (${backend})`);
  await run('proxy answers GET /healthz (the page origin)', async () => {
    const resp = await page.goto(`${origin}/healthz`);
    want(resp.status() === 200, `GET /healthz status ${resp.status()}`);
  });

  // In the page: open, exchange, close; returns what was seen.
  const exchange = (path, protocols) => page.evaluate(async ({ path, protocols }) => {
    const hex = async (buf) => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', buf)))
      .map((b) => b.toString(16).padStart(2, '0')).join('');
    const enc = new TextEncoder();
    const ws = new WebSocket(`ws://${location.host}${path}`, protocols);
    ws.binaryType = 'arraybuffer';
    const queue = [];
    const waiters = [];
    ws.onmessage = (e) => (waiters.length ? waiters.shift()(e.data) : queue.push(e.data));
    const next = () => new Promise((resolve, reject) => {
      if (queue.length) return resolve(queue.shift());
      waiters.push(resolve);
      setTimeout(() => reject(new Error('no echo within 10 s')), 10000);
    });
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error('WebSocket error before open'));
    });
    const json = JSON.stringify(Array.from({ length: 1500 }, (_, i) => ({ id: i, user: `user-${i % 17}`,
      text: 'héllo wörld ☃ 𝄞' })));
    const random = new Uint8Array(100 * 1024);
    for (let i = 0; i < random.length; i += 65536) crypto.getRandomValues(random.subarray(i, i + 65536));
    const cases = [['empty text', ''], ['utf-8 text', 'héllo wörld — ☃ 𝄞 中文 🙂'],
      ['json text', json], ['empty binary', new Uint8Array(0)], ['random binary', random]];
    const mismatches = [];
    for (const [name, payload] of cases) {
      ws.send(payload);
      const got = await next();
      if (typeof payload === 'string') {
        if (typeof got !== 'string') mismatches.push(`${name}: came back binary`);
        else if (await hex(enc.encode(got)) !== await hex(enc.encode(payload))) mismatches.push(`${name}: differs`);
      } else if (!(got instanceof ArrayBuffer)) {
        mismatches.push(`${name}: came back as text`);
      } else if (await hex(got) !== await hex(payload)) {
        mismatches.push(`${name}: differs`);
      }
    }
    const closed = new Promise((resolve) => { ws.onclose = (e) => resolve({ code: e.code, clean: e.wasClean }); });
    ws.close(1000, 'done');
    const close = await closed;
    return { extensions: ws.extensions, protocol: ws.protocol, mismatches, close };
  }, { path, protocols });

  const checkExchange = (r) => {
    want(r.mismatches.length === 0, `echoes: ${r.mismatches.join('; ')}`);
    want(r.close.code === 1000 && r.close.clean, `close ${JSON.stringify(r.close)}`);
  };

  await run('/wsgate -> wsgate echo: permessage-deflate end to end, byte for byte, close 1000',
    async () => {
      const r = await exchange('/wsgate/echo', []);
      want(r.extensions === 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
        `extensions ${JSON.stringify(r.extensions)} (wsgate echo's own answer expected)`);
      checkExchange(r);
    });

  await run('/python -> python3-websockets: offer and answer relayed, subprotocol, byte for byte',
    async () => {
      const before = python.log().split('\n').filter((l) => l.startsWith('{')).length;
      const r = await exchange('/python/room', ['chat', 'other']);
      const seen = python.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      want(seen.length === before + 1, `python saw ${seen.length - before} handshakes`);
      const last = seen[seen.length - 1];
      want(last.offer && last.offer.startsWith('permessage-deflate'),
        `python got the offer ${JSON.stringify(last.offer)}`);
      want(last.answer && r.extensions === last.answer,
        `page sees ${JSON.stringify(r.extensions)}, python answered ${JSON.stringify(last.answer)}`);
      want(r.protocol === 'chat', `subprotocol ${JSON.stringify(r.protocol)}`);
      checkExchange(r);
    });

  await run('/node -> Node ws: offer and answer relayed, subprotocol, byte for byte', async () => {
    const before = nodeSeen.length;
    const r = await exchange('/node/room', ['other', 'chat']);
    want(nodeSeen.length === before + 1, `node saw ${nodeSeen.length - before} handshakes`);
    const last = nodeSeen[nodeSeen.length - 1];
    want(last.offer && last.offer.startsWith('permessage-deflate'),
      `node got the offer ${JSON.stringify(last.offer)}`);
    want(last.answer && r.extensions === last.answer,
      `page sees ${JSON.stringify(r.extensions)}, node answered ${JSON.stringify(last.answer)}`);
    want(r.protocol === 'chat', `subprotocol ${JSON.stringify(r.protocol)}`);
    checkExchange(r);
  });

  const wsgateAnswer = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
  await run('/frames/python -> python3-websockets (frames): deflate per hop, subprotocol, byte for byte',
    async () => {
      const before = python.log().split('\n').filter((l) => l.startsWith('{')).length;
      const r = await exchange('/frames/python/room', ['chat']);
      const seen = python.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      want(seen.length === before + 1, `python saw ${seen.length - before} handshakes`);
      const last = seen[seen.length - 1];
      want(!last.offer && !last.answer, `python got the offer ${JSON.stringify(last.offer)}`);
      want(r.extensions === wsgateAnswer, `page sees ${JSON.stringify(r.extensions)}`);
      want(r.protocol === 'chat', `subprotocol ${JSON.stringify(r.protocol)}`);
      checkExchange(r);
    });

  await run('/frames/node -> Node ws (frames): deflate per hop, subprotocol, byte for byte', async () => {
    const before = nodeSeen.length;
    const r = await exchange('/frames/node/room', ['chat']);
    want(nodeSeen.length === before + 1, `node saw ${nodeSeen.length - before} handshakes`);
    const last = nodeSeen[nodeSeen.length - 1];
    want(!last.offer && !last.answer, `node got the offer ${JSON.stringify(last.offer)}`);
    want(r.extensions === wsgateAnswer, `page sees ${JSON.stringify(r.extensions)}`);
    want(r.protocol === 'chat', `subprotocol ${JSON.stringify(r.protocol)}`);
    checkExchange(r);
  });

  await run('no route: the page\'s WebSocket fails (404), the proxy keeps serving', async () => {
    const r = await page.evaluate(async () => new Promise((resolve) => {
      const ws = new WebSocket(`ws://${location.host}/nowhere`);
      ws.onopen = () => resolve('opened');
      ws.onclose = (e) => resolve(`closed ${e.code}`);
    }));
    want(r === 'closed 1006', `unrouted WebSocket: ${r}`);
    const again = await exchange('/node/again', []);
    checkExchange(again);
  });
} catch (e) {
  suite.fail(`setup: ${e && e.message ? e.message.split('\n')[0] : e}`);
} finally {
  if (browser) await browser.close();
  if (nodeServer) await new Promise((resolve) => nodeServer.close(resolve));
  for (const p of procs.reverse()) await stopProcess(p);
}
suite.finish();
