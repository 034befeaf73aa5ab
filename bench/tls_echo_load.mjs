// Echo load over ws:// or wss:// for scripts/bench_tls.sh: CONNS
// connections (Node `ws`, no compression), each with one SIZE-byte binary
// message in flight, for SECONDS; prints `messages N seconds S`. SIZE 0:
// the connections stay idle (the idle-memory measurement). The
// client, not the server, may be the limit on a small machine: the
// script's figure of merit is server CPU per message, measured on the
// server's side.
//   node tls_echo_load.mjs URL CONNS SIZE SECONDS [CA_FILE]
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/peers/package.json'));
const WebSocket = require('ws');

const [url, connsText, sizeText, secondsText, ca] = process.argv.slice(2);
const conns = Number(connsText);
const size = Number(sizeText);
const seconds = Number(secondsText);
const payload = Buffer.alloc(size, 0x61);
const options = { perMessageDeflate: false };
if (ca) options.ca = fs.readFileSync(ca);

let messages = 0;
let measuring = false;
let open = 0;
const sockets = [];
function connect() {
  const ws = new WebSocket(url, options);
  ws.on('open', () => {
    open++;
    if (size > 0) ws.send(payload);
  });
  ws.on('message', () => {
    if (measuring) messages++;
    ws.send(payload);
  });
  ws.on('error', (e) => {
    console.error(`error: ${e.message}`);
    process.exit(1);
  });
  sockets.push(ws);
}
// Opened 256 at a time (a burst of thousands of TLS handshakes would
// overflow the listen queue of a one-core server).
const start = Date.now();
while (open < conns) {
  while (sockets.length < conns && sockets.length - open < 256) connect();
  if (Date.now() - start > 120000) {
    console.error(`only ${open} of ${conns} open`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 10));
}
await new Promise((r) => setTimeout(r, 500));  // warm
measuring = true;
const t0 = process.hrtime.bigint();
console.log('measuring');
await new Promise((r) => setTimeout(r, seconds * 1000));
measuring = false;
const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`messages ${messages} seconds ${elapsed.toFixed(3)}`);
for (const ws of sockets) ws.terminate();
process.exit(0);
