// Headless Chromium (playwright-core) against TLS listeners of wsgate
// instances this suite starts (echo, and pubsub), with a certificate chain
// from a test CA made at start by the openssl CLI (tls_certs.py). Only these
// browsers trust it: the first with --ignore-certificate-errors-spki-list
// (the SHA-256 of the leaf's SubjectPublicKeyInfo), another through an NSS
// database of its own that trusts the test root CA, so Chromium validates
// the real chain (root -> intermediate -> leaf).
//   - the demo page over https: a secure context, its WebSocket is wss://,
//     permessage-deflate negotiated, typed text echoed;
//   - a page WebSocket over wss: text and binary (100 KB, compressible and
//     random) byte for byte, close 1000;
//   - pub/sub over wss: two page sockets speak the Centrifugo JSON protocol
//     on /connection/websocket; a publication by one reaches the other;
//   - NSS: a browser whose HOME is a temporary directory holding
//     .pki/nssdb with the root CA added by certutil (libnss3-tools, trust
//     "C,,": a CA for TLS servers) and no SPKI flag loads the demo page over
//     https (the chain's issuer is the intermediate) and echoes over wss;
//   - a browser launched with neither refuses the certificate.
//   node test_tls_chromium.mjs WSGATE_BINARY BACKEND
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Suite, launchChromium, want } from './chromium_suite.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [bin, backend] = process.argv.slice(2);

const suite = new Suite('tls_chromium');
const run = (name, fn) => suite.run(name, fn);

function makePki() {
  const script = `
import json, sys
sys.path.insert(0, ${JSON.stringify(here)})
from tls_certs import TestPki
p = TestPki()
chain, key = p.leaf("localhost", ["DNS:localhost", "IP:127.0.0.1"], "ec")
print(json.dumps({"dir": p.dir, "ca": p.ca, "chain": chain, "key": key,
                  "spki": p.spki_sha256_base64(chain)}))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`test PKI: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// A home directory whose NSS database (sql:HOME/.pki/nssdb, where Chromium
// on Linux looks) trusts `ca` as an issuer of TLS server certificates.
function nssHome(ca) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-nss.'));
  const db = `sql:${path.join(home, '.pki', 'nssdb')}`;
  fs.mkdirSync(path.join(home, '.pki', 'nssdb'), { recursive: true });
  for (const args of [['-N', '-d', db, '--empty-password'],
    ['-A', '-d', db, '-t', 'C,,', '-n', 'wsgate-test', '-i', ca]]) {
    const r = spawnSync('certutil', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`certutil ${args[0]}: ${r.error || r.stderr}`);
  }
  return home;
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer(args) {
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const deadline = Date.now() + 10000;
  while (!log.includes('wsgate: listening on ')) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`wsgate did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, log: () => log };
}

async function stopServer(s) {
  if (s.proc.exitCode !== null) return s.proc.exitCode;
  const done = new Promise((r) => s.proc.on('exit', (code) => r(code)));
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 10000);
  const code = await done;
  clearTimeout(t);
  return code;
}

const pki = makePki();
const echoPort = await freePort();
const hubPort = await freePort();
const tlsFlags = ['--backend', backend, '--threads', '2', '--tls-cert', pki.chain, '--tls-key', pki.key];
const servers = [];
let browser;
try {
  servers.push(await startServer(['--listen', `127.0.0.1:${echoPort},tls`, ...tlsFlags]));
  servers.push(await startServer(['--mode', 'pubsub', '--allow-client-publish',
    '--listen', `127.0.0.1:${hubPort},tls`, ...tlsFlags]));
  browser = await launchChromium([`--ignore-certificate-errors-spki-list=${pki.spki}`]);
  const page = await browser.newPage();
  page.setDefaultTimeout(10000);
  const origin = `https://localhost:${echoPort}`;
  console.log(`chromium ${browser.version()} against ${origin}/ (${backend})`);

  await run('demo page over https: secure context, wss:// open, deflate, echo', async () => {
    const resp = await page.goto(`${origin}/`);
    want(resp.status() === 200, `GET / status ${resp.status()}`);
    const sec = await resp.securityDetails();
    want(sec && /TLS 1\.3/.test(sec.protocol), `protocol ${sec && sec.protocol}`);
    want(sec.subjectName === 'localhost', `subject ${sec.subjectName}`);
    want(/intermediate/.test(sec.issuer), `issuer ${sec.issuer}`);
    want(await page.evaluate(() => window.isSecureContext), 'not a secure context');
    await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'open');
    const text = 'héllo over wss — ☃';
    const before = await page.locator('#log > *').count();
    await page.fill('#msg', text);
    await page.click('#send');
    await page.waitForFunction((n) => document.querySelectorAll('#log > *').length > n, before);
    const got = await page.locator('#log > *').nth(before).textContent();
    want(got === text, `#log got ${JSON.stringify(got)}`);
  });

  await run('page WebSocket over wss: deflate, 100 KB text/binary byte for byte, close 1000', async () => {
    const r = await page.evaluate(async () => {
      const ws = new WebSocket(`wss://${location.host}/`);
      ws.binaryType = 'arraybuffer';
      const queue = [];
      const waiters = [];
      ws.onmessage = (e) => (waiters.length ? waiters.shift()(e.data) : queue.push(e.data));
      const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((res) => waiters.push(res)));
      await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error('error')); });
      const out = { extensions: ws.extensions, same: [] };
      const json = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ i, name: `item ${i}` }))).slice(0, 100000);
      ws.send(json);
      out.same.push((await next()) === json);
      const bytes = crypto.getRandomValues(new Uint8Array(65536));
      const big = new Uint8Array(100000);
      big.set(bytes);
      big.set(bytes.subarray(0, 100000 - 65536), 65536);
      ws.send(big);
      const back = new Uint8Array(await next());
      out.same.push(back.length === big.length && back.every((b, i) => b === big[i]));
      const closed = new Promise((res) => { ws.onclose = (e) => res(e.code); });
      ws.close(1000);
      out.close = await closed;
      return out;
    });
    want(r.extensions.startsWith('permessage-deflate'), `extensions ${JSON.stringify(r.extensions)}`);
    want(r.same.every(Boolean), `echoes ${JSON.stringify(r.same)}`);
    want(r.close === 1000, `close ${r.close}`);
  });

  await run('pub/sub over wss: a publication reaches the other subscriber', async () => {
    const hub = await browser.newPage();
    hub.setDefaultTimeout(10000);
    await hub.goto(`https://localhost:${hubPort}/`);
    const r = await hub.evaluate(async () => {
      const open = async () => {
        const ws = new WebSocket(`wss://${location.host}/connection/websocket`);
        const queue = [];
        const waiters = [];
        ws.onmessage = (e) => {
          for (const line of e.data.split('\n').filter(Boolean)) {
            const m = JSON.parse(line);
            waiters.length ? waiters.shift()(m) : queue.push(m);
          }
        };
        await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error('error')); });
        const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((res) => waiters.push(res)));
        return { ws, next, extensions: ws.extensions };
      };
      const a = await open();
      const b = await open();
      a.ws.send(JSON.stringify({ id: 1, connect: {} }));
      b.ws.send(JSON.stringify({ id: 1, connect: {} }));
      const connected = [await a.next(), await b.next()];
      b.ws.send(JSON.stringify({ id: 2, subscribe: { channel: 'news' } }));
      const subscribed = await b.next();
      a.ws.send(JSON.stringify({ id: 2, publish: { channel: 'news', data: { text: 'over wss ☃' } } }));
      const published = await a.next();
      const push = await b.next();
      a.ws.close(1000);
      b.ws.close(1000);
      return { connected, subscribed, published, push, extensions: b.extensions };
    });
    want(r.connected.every((m) => m.id === 1 && m.connect), `connect ${JSON.stringify(r.connected)}`);
    want(r.subscribed.id === 2 && r.subscribed.subscribe, `subscribe ${JSON.stringify(r.subscribed)}`);
    want(r.published.id === 2 && !r.published.error, `publish ${JSON.stringify(r.published)}`);
    want(r.push.push?.channel === 'news' && r.push.push?.pub?.data?.text === 'over wss ☃',
      `push ${JSON.stringify(r.push)}`);
    want(r.extensions.startsWith('permessage-deflate'), `extensions ${JSON.stringify(r.extensions)}`);
    await hub.close();
  });

  const haveCertutil = spawnSync('certutil', ['-H'], { encoding: 'utf8' }).error === undefined;
  const nssCase = 'NSS db trusting the root CA (no SPKI flag): chain validated, demo page, wss echo';
  if (!haveCertutil) {
    suite.skip(`${nssCase}: no certutil (Debian's libnss3-tools, scripts/setup.sh)`);
  } else {
    await run(nssCase, async () => {
      const home = nssHome(pki.ca);
      const trusted = await launchChromium([], { HOME: home });
      try {
        const p = await trusted.newPage();
        p.setDefaultTimeout(10000);
        const resp = await p.goto(`${origin}/`);
        want(resp.status() === 200, `GET / status ${resp.status()}`);
        const sec = await resp.securityDetails();
        want(sec && sec.subjectName === 'localhost', `subject ${sec && sec.subjectName}`);
        want(/intermediate/.test(sec.issuer), `issuer ${sec.issuer}`);
        await p.waitForFunction(() => document.querySelector('#status')?.textContent === 'open');
        const r = await p.evaluate(async () => {
          const ws = new WebSocket(`wss://${location.host}/`);
          await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error('error')); });
          const got = new Promise((res) => { ws.onmessage = (e) => res(e.data); });
          ws.send('trusted through NSS');
          const echo = await got;
          const closed = new Promise((res) => { ws.onclose = (e) => res(e.code); });
          ws.close(1000);
          return { echo, close: await closed };
        });
        want(r.echo === 'trusted through NSS', `echo ${JSON.stringify(r.echo)}`);
        want(r.close === 1000, `close ${r.close}`);
      } finally {
        await trusted.close();
        fs.rmSync(home, { recursive: true, force: true });
      }
    });
  }

  await run('a browser with neither the SPKI flag nor the NSS db refuses the certificate', async () => {
    const plain = await launchChromium();
    try {
      const p = await plain.newPage();
      let error = '';
      try {
        await p.goto(`${origin}/`, { timeout: 10000 });
      } catch (e) {
        error = String(e.message);
      }
      want(/ERR_CERT_AUTHORITY_INVALID/.test(error), `navigation: ${error.split('\n')[0] || 'succeeded'}`);
    } finally {
      await plain.close();
    }
  });
} catch (e) {
  suite.fail(`set-up: ${e && e.message ? e.message.split('\n')[0] : e}`);
} finally {
  if (browser) await browser.close();
  for (const s of servers) {
    const code = await stopServer(s);
    if (code !== 0) {
      suite.fail(`exit status ${code} after SIGTERM`);
    }
  }
  fs.rmSync(pki.dir, { recursive: true, force: true });
}
suite.finish();
