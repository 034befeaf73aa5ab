// permessage-deflate through Node's `ws` client: `perMessageDeflate: true`
// (offer "permessage-deflate; client_max_window_bits") and specific
// parameters, against the default server (no context takeover on both
// sides) and one keeping context. The negotiated header is asserted
// exactly; text and binary, compressible and random, 0 B .. 4 MiB, and
// fragmented sends ({fin:false}) echo byte for byte. Prints `N passed, N failed`.
import { randomBytes } from 'node:crypto';

import { inbox, openClient, sha, wsVersion } from './node_ws_client.mjs';

const host = process.env.WSGATE_HOST || '127.0.0.1';
const portMain = process.env.WSGATE_PORT || '8080';
const portTakeover = process.env.WSGATE_PORT_TAKEOVER || '';
const caseTimeoutMs = 30000;
const mainHeader = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

let passed = 0;
let failed = 0;

function open(port, perMessageDeflate) {
  return openClient(`ws://${host}:${port}/`, perMessageDeflate);
}

function jsonBytes(n, seed) {
  const parts = [];
  let size = 0;
  for (let i = 0; size < n; i++) {
    const s = JSON.stringify({ id: i * 7919 + seed, sym: ['BTC', 'ETH', 'SOL'][i % 3],
      px: (i * 37.5) % 1000, note: 'ü☃' });
    parts.push(s);
    size += Buffer.byteLength(s);
  }
  // Cut to exactly n bytes on a code-point boundary (pad with ASCII).
  let b = Buffer.from(parts.join(',')).subarray(0, n);
  while (!Buffer.from(b.toString('utf8')).equals(b)) {
    b = Buffer.concat([b.subarray(0, b.length - 1), Buffer.from('x')]);
  }
  return b;
}

function assertEcho(got, sent, isBinary) {
  if (got.isBinary !== isBinary) throw new Error(`echo binary=${got.isBinary}, want ${isBinary}`);
  if (!got.data.equals(sent)) {
    throw new Error(`echo differs: sent ${sent.length} B ${sha(sent)}, got ${got.data.length} B ${sha(got.data)}`);
  }
}

function closeClean(ws) {
  return new Promise((resolve, reject) => {
    ws.once('close', (code) => (code === 1000 ? resolve() : reject(new Error(`close code ${code}`))));
    ws.close(1000);
  });
}

async function run(name, fn) {
  const t0 = Date.now();
  let timer;
  try {
    await Promise.race([fn(), new Promise((_, rej) => { timer = setTimeout(() => rej(new Error('timeout')), caseTimeoutMs); })]);
    passed++;
    console.log(`ok   deflate_node ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL deflate_node ${name}: ${e && e.message ? e.message : e}`);
  } finally {
    clearTimeout(timer);
  }
}

async function echoes(port, pmd, header) {
  const ws = await open(port, pmd);
  if (ws.extHeader !== header) throw new Error(`negotiated ${JSON.stringify(ws.extHeader)}, want ${JSON.stringify(header)}`);
  if (ws.extensions !== 'permessage-deflate') throw new Error(`ws.extensions ${JSON.stringify(ws.extensions)}`);
  const next = inbox(ws);
  for (const n of [0, 1, 127, 128, 1023, 1024, 5000, 65536, 300000, 4 << 20]) {
    const t = jsonBytes(n, n);
    for (let rep = 0; rep < 2; rep++) {
      ws.send(t.toString('utf8'));
      assertEcho(await next(), t, false);
    }
    const b = randomBytes(n);
    ws.send(b, { binary: true });
    assertEcho(await next(), b, true);
  }
  // Fragmented (RFC 6455 §5.4): ws compresses the fragments as one message.
  const whole = jsonBytes(100000, 9);
  const step = 7000;
  for (let i = 0; i < whole.length; i += step) {
    ws.send(whole.subarray(i, i + step), { binary: true, fin: i + step >= whole.length });
  }
  assertEcho(await next(), whole, true);
  await closeClean(ws);
}

console.log(`ws ${wsVersion}`);
await run('perMessageDeflate: true, main server', () => echoes(portMain, true, mainHeader));
await run('perMessageDeflate: true, takeover server', () => echoes(portTakeover, true, 'permessage-deflate'));
await run('clientNoContextTakeover, takeover server',
  () => echoes(portTakeover, { clientNoContextTakeover: true, threshold: 0 },
    'permessage-deflate; client_no_context_takeover'));
await run('serverNoContextTakeover + serverMaxWindowBits 10, takeover server',
  () => echoes(portTakeover, { serverNoContextTakeover: true, serverMaxWindowBits: 10, threshold: 0 },
    'permessage-deflate; server_no_context_takeover; server_max_window_bits=10'));
await run('clientMaxWindowBits 9 + serverMaxWindowBits 9, main server',
  () => echoes(portMain, { clientMaxWindowBits: 9, serverMaxWindowBits: 9, threshold: 0 },
    `${mainHeader}; server_max_window_bits=9; client_max_window_bits=9`));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
