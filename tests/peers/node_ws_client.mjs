// What the Node `ws` suites share: opening a client, an in-order message
// queue, and a short digest for failure messages.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const WebSocket = require('ws');
export const wsVersion = require('ws/package.json').version;

export function sha(b) {
  return createHash('sha1').update(b).digest('hex').slice(0, 12);
}

// Opens a client; the server's Sec-WebSocket-Extensions answer is kept as ws.extHeader.
export function openClient(url, perMessageDeflate) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate, maxPayload: 32 << 20 });
    ws.binaryType = 'nodebuffer';
    ws.once('upgrade', (res) => { ws.extHeader = res.headers['sec-websocket-extensions']; });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

// A queue of received messages so a test can await them in order.
export function inbox(ws) {
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const m = { data: Buffer.from(data), isBinary };
    if (waiters.length) waiters.shift()(m);
    else queue.push(m);
  });
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)));
}
