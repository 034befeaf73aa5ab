// The real SDK (npm centrifuge) against replies made by wsgate's Centrifugo
// writers: a stand-in server (Node `ws`, loopback) answers the SDK's commands
// with the exact bytes tests/centrifugo_reply_samples prints, and each check
// looks at what the SDK made of them (events, results, errors, reconnects).
// No wsgate process is involved: this pins the wire format of the pure
// protocol layer to what the SDK accepts, before and independently of a hub.
//
//   node test_centrifuge_codec.mjs PATH/TO/centrifugo_reply_samples
//
// Prints `N passed, N failed` last.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const { Centrifuge } = require('centrifuge');

const samples = JSON.parse(execFileSync(process.argv[2], { encoding: 'utf8' }));
const channel = 'news:sport';
let passed = 0;
let failed = 0;

function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}: ${detail}`);
  }
}

// A sample with its id replaced by `id` (the SDK numbers commands per client).
function withId(frame, id) {
  return frame.replace(/^\{"id":\d+,/, `{"id":${id},`);
}

function waitFor(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (ctx) => {
      clearTimeout(t);
      resolve(ctx);
    });
  });
}

const server = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0 });
await new Promise((r) => server.once('listening', r));
const url = `ws://127.0.0.1:${server.address().port}/connection/websocket`;

const connections = [];
const commands = []; // every command the SDK sent, parsed, with its connection number
const pongs = [];
server.on('connection', (ws) => {
  const n = connections.length;
  connections.push(ws);
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) {
      const cmd = JSON.parse(line);
      commands.push({ n, cmd });
      if (Object.keys(cmd).length === 0) {
        pongs.push(n);
        continue;
      }
      if (cmd.connect) ws.send(withId(samples.connect, cmd.id));
      else if (cmd.subscribe) ws.send(withId(samples.subscribe_recovered, cmd.id));
      else if (cmd.history) ws.send(withId(samples.history, cmd.id));
      else if (cmd.presence_stats) ws.send(withId(samples.presence_stats, cmd.id));
      else if (cmd.publish && cmd.publish.data.deny) ws.send(withId(samples.publish_denied, cmd.id));
      else if (cmd.publish) ws.send(withId(samples.publish_ok_and_publication, cmd.id));
    }
  });
});

const client = new Centrifuge(url, { websocket: WebSocket, minReconnectDelay: 100, maxReconnectDelay: 200 });
const sub = client.newSubscription(channel, { since: { offset: 10, epoch: 'ep' } });
const pubs = [];
sub.on('publication', (ctx) => pubs.push(ctx));
const subscribed = waitFor(sub, 'subscribed');
const connected = waitFor(client, 'connected');
sub.subscribe();
client.connect();

try {
  const c = await connected;
  check('connect reply: client id', c.client === 'c-1', JSON.stringify(c));
  const s = await subscribed;
  check('subscribe reply: recovered, was recovering, position',
    s.recovered === true && s.wasRecovering === true && s.recoverable === true &&
      s.positioned === true && isDeepStrictEqual(s.streamPosition, { offset: 12, epoch: 'ep' }) &&
      s.hasRecoveredPublications === true,
    JSON.stringify(s));
  const first = commands.find((x) => x.cmd.subscribe);
  check('SDK asked to recover from the since position',
    first && first.cmd.subscribe.recover === true && first.cmd.subscribe.offset === 10 &&
      first.cmd.subscribe.epoch === 'ep',
    JSON.stringify(first));

  connections[0].send(samples.publication);
  await client.publish(channel, { text: 'from the SDK' });
  const deadline = Date.now() + 3000;
  while (pubs.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  check('recovered publications then pushes, in offset order',
    isDeepStrictEqual(pubs.map((p) => p.offset), [11, 12, 13, 14]), JSON.stringify(pubs));
  check('recovered data', isDeepStrictEqual(pubs[0]?.data, { n: 11 }), JSON.stringify(pubs[0]));
  check('pushed data and publisher info',
    isDeepStrictEqual(pubs[2]?.data, { text: 'h\u00e9llo', list: [1, 2.5, null] }) &&
      pubs[2].info?.user === '42' && pubs[2].info?.client === 'c-9',
    JSON.stringify(pubs[2]));
  check('publication batched after a publish reply (newline-separated)',
    pubs[3]?.data === 'fourteen', JSON.stringify(pubs[3]));

  const h = await client.history(channel, { limit: 10 });
  check('history reply', h.epoch === 'ep' && h.offset === 14 &&
    isDeepStrictEqual(h.publications.map((p) => [p.offset, p.data]), [[11, { n: 11 }], [12, { n: 12 }]]),
  JSON.stringify(h));

  const ps = await client.presenceStats(channel);
  check('presence_stats reply', ps.numClients === 3 && ps.numUsers === 2, JSON.stringify(ps));

  let err = null;
  try {
    await client.publish(channel, { deny: true });
  } catch (e) {
    err = e;
  }
  check('error reply rejects the call with code and message',
    err && err.code === 103 && err.message === 'permission denied', JSON.stringify(err));

  connections[0].send(samples.ping);
  const pongDeadline = Date.now() + 3000;
  while (pongs.length === 0 && Date.now() < pongDeadline) await new Promise((r) => setTimeout(r, 10));
  check('ping {} answered with pong {}', pongs.length === 1, `pongs ${pongs.length}`);

  // Close code 3008 with the writers' reason: the SDK reconnects and
  // resubscribes recovering from the last offset it got (14).
  const connecting = waitFor(client, 'connecting');
  connections[0].close(3008, samples.slow_reason);
  const cc = await connecting;
  check('close 3008 "slow": SDK reconnects', cc.code === 3008 && cc.reason === 'slow', JSON.stringify(cc));
  await waitFor(client, 'connected');
  await waitFor(sub, 'subscribed');
  const again = commands.filter((x) => x.n === 1 && x.cmd.subscribe).pop();
  check('resubscribe recovers from the last pushed offset and epoch',
    again && again.cmd.subscribe.recover === true && again.cmd.subscribe.offset === 14 &&
      again.cmd.subscribe.epoch === 'ep',
    JSON.stringify(again));

  const unsubscribed = waitFor(sub, 'unsubscribed');
  connections[1].send(samples.unsubscribe_push);
  const u = await unsubscribed;
  check('unsubscribe push 2000: subscription unsubscribed',
    u.code === 2000 && u.reason === 'server unsubscribe' && sub.state === 'unsubscribed',
    JSON.stringify(u));

  const disconnected = waitFor(client, 'disconnected');
  connections[1].send(samples.disconnect_push);
  const d = await disconnected;
  await new Promise((r) => setTimeout(r, 600)); // several reconnect delays
  check('disconnect push 3501 "bad request": disconnected for good',
    d.code === 3501 && d.reason === 'bad request' && client.state === 'disconnected' &&
      connections.length === 2,
    `${JSON.stringify(d)} state ${client.state} connections ${connections.length}`);
} catch (e) {
  check('scenario', false, e.stack || String(e));
}

client.disconnect();
server.close();
for (const ws of connections) ws.terminate();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
