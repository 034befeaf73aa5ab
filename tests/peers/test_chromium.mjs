// Headless Chromium (Debian's /usr/bin/chromium) through playwright-core:
// the demo page served by wsgate connects, echoes what is typed, and a
// WebSocket opened in the page exchanges text and binary byte for byte
// (empty, multi-byte UTF-8, 100 KB — Chromium fragments large text), then
// closes cleanly with 1000. Chromium offers permessage-deflate
// (client_max_window_bits); the server's default answer is asserted exactly,
// and compressible (JSON) and incompressible (random) 100 KB messages go
// through it byte for byte. Against a second instance with --deflate off the
// offer must be declined (extensions '', RFC 7692 §5).
import { Suite, launchChromium, want } from './chromium_suite.mjs';

const host = process.env.WSGATE_HOST || '127.0.0.1';
const port = process.env.WSGATE_PORT || '8080';
const origin = `http://${host}:${port}`;
const portNoDeflate = process.env.WSGATE_PORT_NODEFLATE || '';
const wantExtensions = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

const suite = new Suite('chromium');
const run = (name, fn) => suite.run(name, fn);

const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(10000);
  console.log(`chromium ${browser.version()} against ${origin}/`);

  await run('demo page: status open', async () => {
    const resp = await page.goto(`${origin}/`);
    want(resp.status() === 200, `GET / status ${resp.status()}`);
    const ct = resp.headers()['content-type'] || '';
    want(ct.startsWith('text/html'), `content-type ${ct}`);
    await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'open');
  });

  await run('demo page: typed message echoed into #log', async () => {
    for (const text of ['hello from chromium', 'héllo wörld — ☃ 𝄞 中文']) {
      const before = await page.locator('#log > *').count();
      await page.fill('#msg', text);
      await page.click('#send');
      await page.waitForFunction((n) => document.querySelectorAll('#log > *').length > n, before);
      const got = await page.locator('#log > *').nth(before).textContent();
      want(got === text, `#log got ${JSON.stringify(got)}, want ${JSON.stringify(text)}`);
    }
  });

  let results;
  await run('page WebSocket: open, permessage-deflate negotiated', async () => {
    results = await page.evaluate(async () => {
      const hex = async (buf) => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', buf)))
        .map((b) => b.toString(16).padStart(2, '0')).join('');
      const enc = new TextEncoder();
      const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/');
      ws.binaryType = 'arraybuffer';
      const queue = [];
      const waiters = [];
      ws.onmessage = (e) => (waiters.length ? waiters.shift()(e.data) : queue.push(e.data));
      const next = () => new Promise((resolve, reject) => {
        if (queue.length) return resolve(queue.shift());
        const t = setTimeout(() => reject(new Error('no echo within 10 s')), 10000);
        waiters.push((d) => { clearTimeout(t); resolve(d); });
      });
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('ws error')); });
      const out = { extensions: ws.extensions, protocol: ws.protocol, cases: [] };
      const big = 100 * 1024;
      const texts = ['', 'héllo wörld — ☃ 𝄞 中文', 'ab☃𝄞x'.repeat(big / 10)];
      for (const t of texts) {
        ws.send(t);
        const got = await next();
        out.cases.push({ kind: 'text', sentBytes: enc.encode(t).length, type: typeof got,
          ok: typeof got === 'string' && got === t,
          sentHash: await hex(enc.encode(t)), gotHash: typeof got === 'string' ? await hex(enc.encode(got)) : '' });
      }
      // Compressible: repeated JSON records (text and binary); incompressible: random bytes.
      const records = [];
      for (let i = 0; records.join(',').length < big; i++) {
        records.push(JSON.stringify({ id: i, user: `user${i % 97}`, price: (i * 37) % 1000 + 0.25,
          tags: ['a', 'bc', 'déf'], text: 'ümlaut ☃ 𝄞' }));
      }
      const json = records.join(',');
      ws.send(json);
      const gotJson = await next();
      out.cases.push({ kind: 'text (JSON)', sentBytes: enc.encode(json).length, type: typeof gotJson,
        ok: gotJson === json, sentHash: await hex(enc.encode(json)),
        gotHash: typeof gotJson === 'string' ? await hex(enc.encode(gotJson)) : '' });
      const random = new Uint8Array(big);
      for (let i = 0; i < big; i += 65536) crypto.getRandomValues(random.subarray(i, i + 65536));
      const bins = [new Uint8Array(0), enc.encode('héllo wörld — ☃ 𝄞 中文'), new Uint8Array(big),
        enc.encode(json), random];
      for (let i = 0; i < big; i++) bins[2][i] = (i * 7 + (i >> 8)) & 0xff;
      for (const b of bins) {
        ws.send(b);
        const got = await next();
        const isBin = got instanceof ArrayBuffer;
        out.cases.push({ kind: 'binary', sentBytes: b.length, type: isBin ? 'arraybuffer' : typeof got,
          gotBytes: isBin ? got.byteLength : -1,
          sentHash: await hex(b), gotHash: isBin ? await hex(got) : '' });
        const last = out.cases[out.cases.length - 1];
        last.ok = isBin && last.gotHash === last.sentHash && last.gotBytes === b.length;
      }
      const closed = await new Promise((resolve) => {
        ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
        ws.close(1000);
      });
      out.close = closed;
      return out;
    });
    console.log(`     negotiated extensions ${JSON.stringify(results.extensions)}, protocol ${JSON.stringify(results.protocol)}`);
    want(results.extensions === wantExtensions,
      `extensions ${JSON.stringify(results.extensions)}, want ${JSON.stringify(wantExtensions)}`);
    want(results.protocol === '', `server chose subprotocol ${JSON.stringify(results.protocol)}`);
  });

  if (results) {
    for (const c of results.cases) {
      await run(`page WebSocket: ${c.kind} ${c.sentBytes} bytes echoed`, async () => {
        want(c.ok, `echo differs: ${JSON.stringify(c)}`);
        want(c.gotHash === c.sentHash, 'hash differs');
      });
    }
    await run('page WebSocket: clean close 1000', async () => {
      want(results.close.code === 1000 && results.close.wasClean,
        `close event ${JSON.stringify(results.close)}`);
    });
  } else {
    suite.fail('page WebSocket: no results');
  }

  await run('--deflate off instance: permessage-deflate declined, echo works', async () => {
    want(portNoDeflate !== '', 'WSGATE_PORT_NODEFLATE not set');
    const r = await page.evaluate(async (url) => {
      const ws = new WebSocket(url);
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('ws error')); });
      const text = 'plain {"a":1} '.repeat(1000);
      const echoed = await new Promise((resolve) => { ws.onmessage = (e) => resolve(e.data); ws.send(text); });
      const ext = ws.extensions;
      ws.close(1000);
      return { extensions: ext, ok: echoed === text };
    }, `ws://${host}:${portNoDeflate}/`);
    console.log(`     --deflate off: negotiated extensions ${JSON.stringify(r.extensions)}`);
    want(r.extensions === '', `extensions ${JSON.stringify(r.extensions)}, want ''`);
    want(r.ok, 'echo differs');
  });
  await page.close();
} finally {
  await browser.close();
}
suite.finish();
