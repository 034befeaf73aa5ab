// npm's `centrifuge` SDK as one subscriber of the pub/sub live-upgrade suite
// (test_live_upgrade_pubsub.py): connects to ws://127.0.0.1:PORT, subscribes
// to each CHANNEL (recoverable, positioned) and prints one JSON line per
// event on stdout: the client's and subscriptions' state changes, each
// publication (channel, offset, the publisher's seq), and `end` once stdin
// closes (the suite's signal to stop). Loopback only.
//
//   node upgrade_sdk_client.mjs PORT CHANNEL...
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const { Centrifuge } = require('centrifuge');

const [port, ...channels] = process.argv.slice(2);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const c = new Centrifuge(`ws://127.0.0.1:${port}/connection/websocket`, {
  websocket: WebSocket, minReconnectDelay: 100, maxReconnectDelay: 400,
});
c.on('state', (ctx) => out({ event: 'state', state: ctx.newState }));
c.on('connected', (ctx) => out({ event: 'connected', client: ctx.client }));
c.on('disconnected', (ctx) => out({ event: 'disconnected', code: ctx.code, reason: ctx.reason }));
c.on('connecting', (ctx) => out({ event: 'connecting', code: ctx.code, reason: ctx.reason }));
c.on('error', (ctx) => out({ event: 'error', error: String(ctx.error && ctx.error.message) }));
for (const ch of channels) {
  const s = c.newSubscription(ch, { recoverable: true, positioned: true });
  s.on('subscribed', (ctx) => out({
    event: 'subscribed', channel: ch, offset: ctx.streamPosition && ctx.streamPosition.offset,
    epoch: ctx.streamPosition && ctx.streamPosition.epoch, recovered: ctx.recovered,
  }));
  s.on('subscribing', (ctx) => out({ event: 'subscribing', channel: ch, code: ctx.code }));
  s.on('unsubscribed', (ctx) => out({ event: 'unsubscribed', channel: ch, code: ctx.code }));
  s.on('error', (ctx) => out({ event: 'sub_error', channel: ch, error: String(ctx.error && ctx.error.message) }));
  s.on('publication', (ctx) => out({ event: 'pub', channel: ch, offset: ctx.offset, seq: ctx.data.seq }));
  s.subscribe();
}
c.connect();
process.stdin.resume();
process.stdin.on('end', () => {
  out({ event: 'end' });
  c.disconnect();
  setTimeout(() => process.exit(0), 100);
});
