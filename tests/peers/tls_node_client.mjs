// Node's `ws` over TLS, trusting only the test CA (`ca:`): one echo with
// permessage-deflate, then a clean close. Prints what happened, one line
// each, for test_tls.py.
//   node tls_node_client.mjs URL CA_FILE
import fs from 'node:fs';
import WebSocket from 'ws';

const [url, caFile] = process.argv.slice(2);
const ws = new WebSocket(url, { ca: fs.readFileSync(caFile), perMessageDeflate: true });
const text = 'hello from node over TLS '.repeat(20);
const timer = setTimeout(() => {
  console.log('error: timeout');
  process.exit(1);
}, 10000);
ws.on('open', () => ws.send(text));
ws.on('message', (data) => {
  console.log(`echo ${data.toString() === text ? 'same' : 'different'}`);
  console.log(`extensions ${ws.extensions}`);
  ws.close(1000, 'done');
});
ws.on('close', (code) => {
  console.log(`close ${code}`);
  clearTimeout(timer);
  process.exit(0);
});
ws.on('error', (e) => {
  console.log(`error: ${e.message}`);
  process.exit(1);
});
