// Node's `ws` through `wsgate --mode proxy` (run by test_proxy.py, which
// starts the proxy and its upstreams): text, binary, 64 KiB, and
// permessage-deflate negotiated end to end with the upstream, byte-checked.
//   node proxy_node_client.mjs PORT [PATH]   (PATH: /node)
// Prints `N passed, N failed` last.
import { randomBytes } from 'node:crypto';

import { inbox, openClient, sha } from './node_ws_client.mjs';

const url = `ws://127.0.0.1:${process.argv[2]}${process.argv[3] || '/node'}`;
let passed = 0;
let failed = 0;

async function echoes(deflate) {
  const ws = await openClient(url, deflate);
  const next = inbox(ws);
  const ext = ws.extHeader || '';
  if (deflate !== ext.includes('permessage-deflate')) {
    throw new Error(`Sec-WebSocket-Extensions ${JSON.stringify(ext)} with deflate=${deflate}`);
  }
  const cases = [
    [Buffer.from('hello through the proxy'), false],
    [Buffer.from('é'.repeat(3000)), false],
    [randomBytes(1), true],
    [randomBytes(65536), true],
    [Buffer.alloc(65536, 'a'), true], // compresses well: deflated frames cross the tunnel
    [randomBytes(300000), true],
  ];
  for (const [payload, binary] of cases) {
    ws.send(binary ? payload : payload.toString(), { binary });
    const got = await next();
    if (got.isBinary !== binary || !got.data.equals(payload)) {
      throw new Error(`echo of ${payload.length} bytes ${sha(payload)} came back as ` +
                      `${got.data.length} bytes ${sha(got.data)} binary=${got.isBinary}`);
    }
  }
  await new Promise((resolve) => { ws.once('close', resolve); ws.close(1000); });
}

for (const [name, fn] of [
  ['plain echoes', () => echoes(false)],
  ['permessage-deflate end to end', () => echoes(true)],
]) {
  try {
    await fn();
    passed++;
    console.log(`ok   proxy_node ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL proxy_node ${name}: ${e.message}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
