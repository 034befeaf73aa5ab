// wsgate --mode pubsub in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core), on an instance this suite starts itself:
//
//   node test_pubsub_chromium.mjs WSGATE_BINARY BACKEND
//
// - The Centrifugo SDK's browser bundle (node_modules/centrifuge/dist/
//   centrifuge.js, which sets globalThis.Centrifuge) is injected into a page
//   served by wsgate, connects to /connection/websocket and subscribes;
//   publications arrive with offsets increasing by one from the subscribe
//   reply's, and the data the SDK decodes equals what was published:
//   non-ASCII UTF-8, JSON escapes, numbers, arrays, a ~64 KiB object,
//   whitespace between tokens (also a line feed, which must not split the
//   newline-separated push). Sources: publications posted with curl (POST
//   /api/publish, X-API-Key; the offsets it answers must be the ones
//   delivered) and client publish from a Node client.
// - A WebSocket opened by hand in the same page sees every push's raw text:
//   the data bytes are exactly the bytes published (the hub never
//   re-encodes); connect and subscribe sent in one message, as the SDK does,
//   get both replies in order.
// - permessage-deflate was negotiated: the Sec-WebSocket-Extensions header of
//   the handshake response, from CDP's Network.webSocketHandshakeResponseReceived.
// - The demo chat page at /: two pages on one channel, one sends through its
//   form, the other shows name and text; a curl publication shows too; a page opened later shows the history; pages answer the server's
//   pings (--ping-interval 1) and stay connected; a page whose connection
//   drops recovers the publications it missed.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Suite, launchChromium, want } from './chromium_suite.mjs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const here = path.dirname(fileURLToPath(import.meta.url));
const sdkBundle = path.join(here, 'node_modules', 'centrifuge', 'dist', 'centrifuge.js');

if (process.argv.length < 4) {
  console.error('usage: test_pubsub_chromium.mjs WSGATE_BINARY BACKEND');
  console.log('0 passed, 1 failed');
  process.exit(2);
}
const [bin, backend] = process.argv.slice(2, 4);
const host = '127.0.0.1';
const apiKey = `test-key-${randomBytes(6).toString('hex')}`;
const pingSeconds = 1;

const suite = new Suite('pubsub_chromium');
const run = (name, fn) => suite.run(name, fn);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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

// POST body (a string, sent as UTF-8) to /api/METHOD with curl: {status, body}.
function curlApi(port, method, body) {
  return new Promise((resolve, reject) => {
    const child = execFile('curl', ['-sS', '--max-time', '10', '-o', '-', '-w', '\n%{http_code}',
      '-X', 'POST', '-H', 'Content-Type: application/json', '-H', `X-API-Key: ${apiKey}`,
      '--data-binary', '@-', `http://${host}:${port}/api/${method}`],
    { encoding: 'buffer', maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl: ${err.message} ${stderr}`));
      const text = stdout.toString('utf8');
      const cut = text.lastIndexOf('\n');
      resolve({ status: Number(text.slice(cut + 1)), body: text.slice(0, cut) });
    });
    child.stdin.end(Buffer.from(body, 'utf8'));
  });
}

async function publish(port, channel, rawData) {
  const r = await curlApi(port, 'publish', `{"channel":${JSON.stringify(channel)},"data":${rawData}}`);
  want(r.status === 200, `/api/publish status ${r.status}: ${r.body.slice(0, 200)}`);
  const reply = JSON.parse(r.body);
  want(reply.result && Number.isInteger(reply.result.offset),
    `/api/publish answered ${r.body.slice(0, 200)}`);
  return reply.result.offset;
}

// A client of the hub in this process that publishes with client publish
// (--allow-client-publish), the raw data written into the command as it is.
async function openPublisher(endpoint) {
  const ws = new WebSocket(endpoint);
  const waiting = new Map(); // command id -> function(reply)
  ws.on('message', (m) => {
    for (const line of m.toString().split('\n')) {
      if (line === '') continue;
      if (line === '{}') { ws.send('{}'); continue; }
      const reply = JSON.parse(line);
      const onReply = waiting.get(reply.id);
      waiting.delete(reply.id);
      if (onReply) onReply(reply);
    }
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let nextId = 1;
  const request = (method, params) => new Promise((resolve, reject) => {
    const id = nextId++;
    const t = setTimeout(() => reject(new Error(`no reply to ${method}`)), 5000);
    waiting.set(id, (reply) => { clearTimeout(t); resolve(reply); });
    ws.send(`{"id":${id},"${method}":${params}}`);
  });
  const connected = await request('connect', '{}');
  want(connected.connect, `connect answered ${JSON.stringify(connected)}`);
  return {
    // Resolves to null: a client publish reply carries no offset.
    async publish(channel, raw) {
      const reply = await request('publish', `{"channel":${JSON.stringify(channel)},"data":${raw}}`);
      want(reply.publish !== undefined, `publish answered ${JSON.stringify(reply)}`);
      return null;
    },
    close() { ws.close(1000); },
  };
}

// The server, stopped by its PID at the end.
async function startServer() {
  const port = await freePort();
  const args = ['--mode', 'pubsub', '--listen', `${host}:${port}`, '--backend', backend,
    '--threads', '2', '--api-key', apiKey, '--history-size', '100', '--allow-client-publish',
    '--ping-interval', String(pingSeconds)];
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) break;
    try {
      const r = await fetch(`http://${host}:${port}/healthz`);
      if (r.status === 200 && (await r.text()) === 'ok\n') return { port, proc, exited, log: () => log };
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  proc.kill('SIGKILL');
  throw new Error(`wsgate ${args.join(' ')} did not become healthy; log: ${log.slice(-500)}`);
}

async function stopServer(server) {
  if (server.proc.exitCode !== null) return;
  server.proc.kill('SIGTERM');
  const t = setTimeout(() => server.proc.kill('SIGKILL'), 5000);
  await server.exited;
  clearTimeout(t);
}

// Data posted through the API, as raw JSON text; each must come back as these bytes.
function payloads() {
  const big = [];
  for (let i = 0; big.join('').length < 64 * 1024; i++) big.push(`ü☃𝄞 line ${i} \\"q\\" \\\\ \\n \\u00e9 `);
  return [
    { name: 'non-ASCII UTF-8', raw: '{"name":"zoë","text":"héllo wörld — ☃ 𝄞 中文 🙂"}' },
    { name: 'JSON escapes', raw: '{"s":"q\\" b\\\\ s\\/ n\\n t\\t r\\r u\\u00e9\\u2603 pair\\ud834\\udd1e c\\u0001"}' },
    { name: 'numbers and literals', raw: '[0,-1,2.5e-3,1E+300,12345678901234567890,true,false,null,"",{}]' },
    { name: 'string', raw: '"just a string"' },
    { name: 'number', raw: '42' },
    { name: 'whitespace between tokens', raw: '{ "a" :\t[ 1 , 2 ] ,"b" : { } }' },
    { name: '~64 KiB object', raw: `{"blob":"${big.join('')}","n":[1,2,3]}` },
    { name: 'line feed between tokens', raw: '{"a":1,\n"b":[2,\n3]}' },
  ];
}

// The raw text of `"data":` in a publication push for `channel` (the push
// as wsgate wrote it), or null when `line` is not such a push.
function rawPushData(line, channel) {
  const prefix = `{"push":{"channel":${JSON.stringify(channel)},"pub":{"data":`;
  if (!line.startsWith(prefix)) return null;
  const value = JSON.parse(line).push.pub;
  return { value, text: line.slice(prefix.length) };
}

// Whether push text `text` starts with the posted bytes `raw`, followed by the
// rest of the pub object. A line feed of raw (only ever whitespace between
// tokens in valid JSON, RFC 8259 §2) may have become another whitespace byte
// so that it does not split the newline-separated push; nothing else changes.
function sameBytes(raw, text) {
  if (text.length <= raw.length || !/[,}]/.test(text[raw.length])) return false;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== text[i] && !(raw[i] === '\n' && ' \t\r'.includes(text[i]))) return false;
  }
  return true;
}

let server;
const pageErrors = [];
const browser = await launchChromium();
try {
  server = await startServer();
  const origin = `http://${host}:${server.port}`;
  const endpoint = `ws://${host}:${server.port}/connection/websocket`;
  console.log(`chromium ${browser.version()} against wsgate --mode pubsub ${origin} (${backend})`);
  const publisher = await openPublisher(endpoint);
  const context = await browser.newContext();
  const newPage = async () => {
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    return page;
  };

  // ---- the SDK in a page served by wsgate ----
  const sdkPage = await newPage();
  const cdp = await context.newCDPSession(sdkPage);
  const handshakes = new Map(); // requestId -> {url, headers}
  cdp.on('Network.webSocketCreated', (e) => handshakes.set(e.requestId, { url: e.url }));
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
    const h = handshakes.get(e.requestId) || {};
    h.status = e.response.status;
    h.headers = e.response.headers;
    handshakes.set(e.requestId, h);
  });
  await cdp.send('Network.enable');
  const base = `browser-${randomBytes(4).toString('hex')}`;
  const data = payloads();
  // Where publications come from: each source publishes every payload it can
  // carry to a channel of its own, which the SDK and the raw socket watch.
  const sources = [
    // A client command is one line (commands are newline-separated), so its
    // data cannot hold a raw line feed.
    { name: 'client publish', channel: `${base}-client`, publish: (ch, raw) => publisher.publish(ch, raw),
      payloads: data.filter((d) => !d.raw.includes('\n')) },
    // The API takes any JSON, a line feed between tokens included: the hub
    // writes it as a space so the newline-separated push stays one line.
    { name: 'curl /api/publish', channel: `${base}-api`, publish: (ch, raw) => publish(server.port, ch, raw),
      payloads: data },
  ];
  const sdkStart = {}; // channel -> offset the subscribe reply gave

  await run('SDK bundle injected into a page from wsgate connects and subscribes', async () => {
    // A page of wsgate's own whose chat client stays on another channel.
    const resp = await sdkPage.goto(`${origin}/?channel=idle-${base}`);
    want(resp.status() === 200, `GET / status ${resp.status()}`);
    await sdkPage.addScriptTag({ path: sdkBundle });
    const states = await sdkPage.evaluate(async ({ endpoint, channels }) => {
      if (typeof globalThis.Centrifuge !== 'function') throw new Error('no globalThis.Centrifuge');
      const client = new globalThis.Centrifuge(endpoint);
      window.sdkClient = client;
      window.sdkPubs = {};
      const subscribed = channels.map((channel) => {
        const sub = client.newSubscription(channel);
        window.sdkPubs[channel] = [];
        sub.on('publication', (ctx) => window.sdkPubs[channel].push({ data: ctx.data, offset: ctx.offset }));
        const done = new Promise((resolve, reject) => {
          sub.on('subscribed', resolve);
          sub.on('error', (ctx) => reject(new Error(`subscription error ${JSON.stringify(ctx.error)}`)));
          setTimeout(() => reject(new Error('not subscribed within 8 s')), 8000);
        });
        sub.subscribe();
        return done;
      });
      const connected = new Promise((resolve) => client.on('connected', resolve));
      client.connect();
      const c = await connected;
      return (await Promise.all(subscribed)).map((s) => ({ client: c.client, transport: c.transport,
        recoverable: s.recoverable, positioned: s.positioned,
        offset: s.streamPosition ? s.streamPosition.offset : null }));
    }, { endpoint, channels: sources.map((s) => s.channel) });
    console.log(`     SDK connected: ${JSON.stringify(states[0])}`);
    for (let i = 0; i < sources.length; i++) {
      const st = states[i];
      want(st.transport === 'websocket', `transport ${st.transport}`);
      want(st.recoverable === true && st.positioned === true,
        'subscribe reply not recoverable/positioned with --history-size 100');
      sdkStart[sources[i].channel] = st.offset;
    }
  });

  // ---- a hand-made WebSocket in the same page: raw push text ----
  await run('raw WebSocket in the page: connect and subscribe replies', async () => {
    const replies = await sdkPage.evaluate(async ({ endpoint, channels }) => {
      const ws = new WebSocket(endpoint);
      window.rawLines = {};
      for (const channel of channels) window.rawLines[channel] = [];
      const replies = [];
      ws.onmessage = (e) => {
        for (const line of e.data.split('\n')) {
          if (line === '') continue;
          if (line === '{}') { ws.send('{}'); continue; }
          if (line.startsWith('{"push"')) {
            // A push cut in two by a raw line feed is kept for the check, not thrown.
            let channel = 'unparsable';
            try { channel = JSON.parse(line).push.channel; } catch { /* counted below */ }
            (window.rawLines[channel] || (window.rawLines[channel] = [])).push(line);
          }
          else replies.push(line);
        }
      };
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('ws error')); });
      const until = async (n) => {
        for (let t = 0; replies.length < n; t += 10) {
          if (t > 5000) throw new Error(`replies ${JSON.stringify(replies)}`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      };
      ws.send('{"id":1,"connect":{}}');
      await until(1);
      for (let i = 0; i < channels.length; i++) {
        ws.send(`{"id":${i + 2},"subscribe":{"channel":${JSON.stringify(channels[i])}}}`);
        await until(i + 2);
      }
      window.rawSocket = ws;
      return replies;
    }, { endpoint, channels: sources.map((s) => s.channel) });
    const connect = JSON.parse(replies[0]);
    want(connect.id === 1 && connect.connect && typeof connect.connect.client === 'string',
      `connect reply ${replies[0]}`);
    for (let i = 1; i < replies.length; i++) {
      const subscribe = JSON.parse(replies[i]);
      want(subscribe.id === i + 1 && subscribe.subscribe && subscribe.subscribe.recoverable === true,
        `subscribe reply ${replies[i]}`);
    }
  });

  // centrifuge-js sends connect and the subscribes made before it in one
  // message (docs/centrifugo-protocol.md, Framing). A channel's home is one of
  // the two loops, so over 8 connections and channels both cases occur.
  await run('connect and subscribe in one message, as the SDK sends them: both replies, in order (8 connections)', async () => {
    const results = await sdkPage.evaluate(async ({ endpoint, base }) => {
      const one = (i) => new Promise((resolve) => {
        const ws = new WebSocket(endpoint);
        const ids = [];
        const finish = () => { ws.close(1000); resolve(ids); };
        const timer = setTimeout(finish, 3000);
        ws.onmessage = (e) => {
          for (const line of e.data.split('\n')) {
            if (line === '' || line === '{}') continue;
            ids.push(JSON.parse(line).id);
            if (ids.length === 2) { clearTimeout(timer); finish(); }
          }
        };
        ws.onopen = () => ws.send(`{"connect":{"name":"js"},"id":1}\n{"subscribe":{"channel":"${base}-batched-${i}","flag":1},"id":2}`);
      });
      return Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(one));
    }, { endpoint, base });
    const bad = results.map((ids, i) => ({ connection: i, ids })).filter((r) => r.ids.join() !== '1,2');
    want(bad.length === 0, `reply ids (want 1,2): ${JSON.stringify(bad)}`);
  });

  for (const source of sources) {
    const { channel, payloads: sent } = source;
    for (const name of source.skipped || []) {
      suite.skip(`${source.name}: ${name} (a raw line feed in data splits the push)`);
    }
    const first = (sdkStart[channel] || 0) + 1;
    const offsets = sent.map((_, i) => first + i); // what the channel's offsets must be
    await run(`${source.name}: ${sent.length} payloads published`, async () => {
      const answered = [];
      for (const d of sent) answered.push(await source.publish(channel, d.raw));
      // The API answers each publication's offset; a client publish does not.
      if (answered.some((o) => o !== null)) {
        want(answered.join() === offsets.join(), `offsets answered ${answered}, want ${offsets}`);
      }
    });

    let got = [];
    await run(`${source.name}: the SDK receives every publication with its offset, in order`, async () => {
      await sdkPage.waitForFunction(({ channel, n }) => window.sdkPubs[channel].length >= n,
        { channel, n: sent.length }, { timeout: 8000, polling: 50 }).catch(() => {});
      got = await sdkPage.evaluate((channel) => window.sdkPubs[channel].map((p) =>
        ({ json: JSON.stringify(p.data), offset: p.offset })), channel);
      want(got.length === sent.length, `SDK got ${got.length} publications, want ${sent.length}`);
      want(got.map((p) => p.offset).join() === offsets.join(),
        `offsets ${got.map((p) => p.offset)}, want ${offsets}`);
    });
    for (let i = 0; i < sent.length; i++) {
      await run(`${source.name}: SDK data equals what was published: ${sent[i].name}`, async () => {
        want(i < got.length, 'not received');
        const wantJson = JSON.stringify(JSON.parse(sent[i].raw));
        want(got[i].json === wantJson,
          `got ${got[i].json.slice(0, 120)} (${got[i].json.length} chars), want ${wantJson.slice(0, 120)} (${wantJson.length})`);
      });
    }

    await run(`${source.name}: raw pushes carry the published bytes unchanged`, async () => {
      await sdkPage.waitForFunction(({ channel, n }) => window.rawLines[channel].length >= n,
        { channel, n: sent.length }, { timeout: 5000, polling: 50 }).catch(() => {});
      const lines = await sdkPage.evaluate((channel) => window.rawLines[channel], channel);
      want(lines.length === sent.length, `${lines.length} push lines, want ${sent.length}`);
      const enc = new TextEncoder();
      for (let i = 0; i < sent.length; i++) {
        const p = rawPushData(lines[i], channel);
        want(p !== null, `push ${i} has another shape: ${lines[i].slice(0, 120)}`);
        want(p.value.offset === offsets[i], `push ${i} offset ${p.value.offset}, want ${offsets[i]}`);
        want(sameBytes(sent[i].raw, p.text),
          `${sent[i].name}: push data differs from the ${enc.encode(sent[i].raw).length} bytes published: ` +
          `${p.text.slice(0, 100)}`);
      }
    });
  }

  await run('permessage-deflate negotiated (CDP handshake response)', async () => {
    const ours = [...handshakes.values()].filter((h) => h.url === endpoint && h.headers);
    want(ours.length >= 2, `saw ${ours.length} handshakes to ${endpoint}: ${JSON.stringify([...handshakes.values()])}`);
    for (const h of ours) {
      const ext = Object.entries(h.headers).find(([k]) => k.toLowerCase() === 'sec-websocket-extensions');
      want(h.status === 101, `handshake status ${h.status}`);
      want(ext && /^permessage-deflate\b/.test(ext[1]),
        `Sec-WebSocket-Extensions ${ext ? JSON.stringify(ext[1]) : 'absent'}`);
    }
    const extensions = await sdkPage.evaluate(() => window.rawSocket.extensions);
    console.log(`     negotiated: ${JSON.stringify(extensions)}`);
    want(extensions.startsWith('permessage-deflate'), `raw socket extensions ${JSON.stringify(extensions)}`);
  });
  await sdkPage.evaluate(() => { window.sdkClient.disconnect(); window.rawSocket.close(1000); });

  // ---- the demo chat page ----
  const room = `room-${randomBytes(4).toString('hex')}`;
  const alice = await newPage();
  const bob = await newPage();
  // Polling by interval: pages in the background get few animation frames
  // (waitForFunction's default polling).
  const ready = (page) => page.waitForFunction(() =>
    document.querySelector('#status').textContent === 'connected' &&
    document.querySelector('#sub-status').textContent === 'subscribed', null, { polling: 50 });
  const messages = (page) => page.$$eval('#messages > .message', (els) => els.map((el) => ({
    name: el.querySelector('.name').textContent, text: el.querySelector('.text').textContent,
    offset: el.dataset.offset })));

  await run('chat page: two pages connect and join the channel from ?channel=', async () => {
    for (const page of [alice, bob]) {
      const resp = await page.goto(`${origin}/?channel=${room}`);
      want(resp.status() === 200, `GET / status ${resp.status()}`);
      want((resp.headers()['content-type'] || '').startsWith('text/html'), 'not text/html');
      await ready(page);
      want(await page.inputValue('#channel') === room, 'channel input not taken from the URL');
    }
  });

  const said = 'héllo from alice ☃ 𝄞 <b>not bold</b>';
  await run('chat page: a message sent through one page\'s form shows on the other', async () => {
    await alice.fill('#name', 'alice');
    await alice.fill('#text', said);
    await alice.click('#send');
    for (const page of [bob, alice]) {
      await page.waitForFunction(() => document.querySelectorAll('#messages > .message').length >= 1, null, { polling: 50 });
      const shown = await messages(page);
      want(shown.length === 1 && shown[0].name === 'alice' && shown[0].text === said,
        `shown ${JSON.stringify(shown)}`);
      want(shown[0].offset === '1', `offset ${shown[0].offset}`);
    }
    want(await alice.inputValue('#text') === '', 'text input not cleared after sending');
    want(await alice.textContent('#error') === '', `error ${await alice.textContent('#error')}`);
  });

  await run('chat page: a curl publication shows on both, after the first', async () => {
    const offset = await publish(server.port, room, '{"name":"backend","text":"from curl ✓"}');
    want(offset === 2, `offset ${offset}`);
    for (const page of [alice, bob]) {
      await page.waitForFunction(() => document.querySelectorAll('#messages > .message').length >= 2, null, { polling: 50 });
      const shown = await messages(page);
      want(shown.map((m) => `${m.offset} ${m.name}: ${m.text}`).join('|') ===
        `1 alice: ${said}|2 backend: from curl ✓`, `shown ${JSON.stringify(shown)}`);
    }
  });

  await run('chat page: a page loaded later shows the channel\'s history', async () => {
    const carol = await newPage();
    await carol.goto(`${origin}/?channel=${room}`);
    await ready(carol);
    await carol.waitForFunction(() => document.querySelectorAll('#messages > .message').length >= 2, null, { polling: 50 });
    const shown = await messages(carol);
    want(shown.map((m) => m.offset).join(',') === '1,2', `shown ${JSON.stringify(shown)}`);
    await carol.close();
  });

  await run(`chat page: server pings answered, still connected after ${3 * pingSeconds + 1} s`, async () => {
    await sleep((3 * pingSeconds + 1) * 1000);
    for (const page of [alice, bob]) {
      const status = await page.textContent('#status');
      const pings = Number(await page.textContent('#pings'));
      want(status === 'connected', `status ${status} ${await page.textContent('#status-detail')}`);
      want(pings >= 2, `${pings} pings answered in ${3 * pingSeconds + 1} s at --ping-interval ${pingSeconds}`);
    }
  });

  await run('chat page: a dropped connection reconnects and recovers what it missed', async () => {
    // Holds the page's reconnect (its global connect()) until two publications
    // were made while it was away.
    await bob.evaluate(() => {
      const realConnect = window.connect;
      window.connect = () => { window.releaseReconnect = realConnect; };
      ws.close(4000, 'test drop');
    });
    await bob.waitForFunction(() => typeof window.releaseReconnect === 'function', null, { polling: 50 });
    want(await bob.textContent('#status') === 'disconnected', 'status not disconnected');
    const o3 = await publish(server.port, room, '{"name":"backend","text":"missed one"}');
    const o4 = await publisher.publish(room, '{"name":"backend","text":"missed two"}');
    want(o3 === 3 && o4 === null, `offsets ${o3} ${o4}`);
    await bob.evaluate(() => { window.connect = window.releaseReconnect; window.connect(); });
    await ready(bob);
    const detail = await bob.textContent('#sub-detail');
    want(detail.startsWith('recovered 2 missed'), `#sub-detail ${JSON.stringify(detail)}`);
    const shown = await messages(bob);
    want(shown.map((m) => `${m.offset} ${m.text}`).join('|') ===
      `1 ${said}|2 from curl ✓|3 missed one|4 missed two`, `shown ${JSON.stringify(shown)}`);
    want(await bob.$$eval('#messages > .gap', (els) => els.length) === 0, 'gap marker shown');
  });

  await run('no script errors in any page', async () => {
    want(pageErrors.length === 0, `page errors: ${pageErrors.join(' | ')}`);
  });
  await context.close();
  publisher.close();
} catch (e) {
  suite.fail(`set-up: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' ') : e}`);
} finally {
  await browser.close();
  if (server) {
    await stopServer(server);
    const { code, signal } = await server.exited;
    if (code !== 0) {
      suite.fail(`exit: wsgate exited with ${code ?? signal}; log ends: ${server.log().slice(-800)}`);
    }
  }
}
suite.finish();
