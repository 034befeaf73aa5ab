// Captures the exact command frames npm's `centrifuge` SDK sends, by running
// it against a tiny stand-in server (Node `ws`) that answers like Centrifugo.
// The frames it prints are the ones copied into
// tests/unit/test_centrifugo_command_parser.cpp ("what the SDK sends"), so
// they can be refreshed when the SDK is upgraded:
//
//   node tests/peers/capture_centrifuge_commands.mjs
//
// Loopback only; ends by itself within a few seconds.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const { Centrifuge } = require('centrifuge');
const sdkVersion = JSON.parse(
  readFileSync(new URL('node_modules/centrifuge/package.json', import.meta.url))).version;

const frames = [];
let pushedPing = false;

const server = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0 });
server.on('connection', (ws, req) => {
  frames.push({ kind: 'url', text: req.url });
  ws.on('message', (data) => {
    const text = data.toString();
    frames.push({ kind: 'frame', text });
    const replies = [];
    for (const line of text.split('\n')) {
      const cmd = JSON.parse(line);
      if (!cmd.id) continue;  // pong `{}` or send
      if (cmd.connect) {
        replies.push({ id: cmd.id, connect: { client: 'c1', version: '0.0.0', ping: 1, pong: true } });
      } else if (cmd.subscribe) {
        replies.push({ id: cmd.id, subscribe: { recoverable: true, epoch: 'e1', offset: 7, positioned: true } });
      } else if (cmd.unsubscribe) {
        replies.push({ id: cmd.id, unsubscribe: {} });
      } else if (cmd.publish) {
        replies.push({ id: cmd.id, publish: {} });
      } else if (cmd.history) {
        replies.push({ id: cmd.id, history: { epoch: 'e1', offset: 7 } });
      } else if (cmd.presence_stats) {
        replies.push({ id: cmd.id, presence_stats: { num_clients: 1, num_users: 1 } });
      } else if (cmd.presence) {
        replies.push({ id: cmd.id, presence: { presence: {} } });
      } else if (cmd.rpc) {
        replies.push({ id: cmd.id, error: { code: 104, message: 'method not found' } });
      } else {
        replies.push({ id: cmd.id, error: { code: 104, message: 'method not found' } });
      }
    }
    if (replies.length) ws.send(replies.map((r) => JSON.stringify(r)).join('\n'));
    if (!pushedPing) {
      pushedPing = true;
      ws.send('{}');  // a server ping: the SDK answers `{}` because pong was true
    }
  });
});
await new Promise((r) => server.once('listening', r));
const url = `ws://127.0.0.1:${server.address().port}/connection/websocket`;

const client = new Centrifuge(url, {
  websocket: WebSocket,
  token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.sig',
  data: { hello: 'world' },
  name: 'capture',
  version: '1.2.3',
});
const sub = client.newSubscription('news:sport', { since: { offset: 5, epoch: 'e0' } });
sub.subscribe();
client.connect();
await new Promise((r) => client.once('connected', r));
await new Promise((r) => sub.once('subscribed', r));
await client.publish('news:sport', { text: 'hi', n: 1.5e3, list: [1, 'two', null] });
await client.history('news:sport', { limit: 10, since: { offset: 3, epoch: 'e1' }, reverse: true });
await client.presenceStats('news:sport');
await client.presence('news:sport');
await client.rpc('sum', [1, 2]).catch(() => {});
await client.send({ fire: 'and forget' });
sub.unsubscribe();
await new Promise((r) => setTimeout(r, 300));
client.disconnect();

// An anonymous client with a plain subscription: the smallest commands.
const plain = new Centrifuge(url, { websocket: WebSocket });
const plainSub = plain.newSubscription('chat');
plainSub.subscribe();
plain.connect();
await new Promise((r) => plainSub.once('subscribed', r));
plain.disconnect();
server.close();

console.log(`centrifuge ${sdkVersion}`);
for (const f of frames) console.log(`${f.kind}: ${JSON.stringify(f.text)}`);
process.exit(0);
