// The real Centrifugo SDK (npm `centrifuge`, with Node's `ws` as its
// WebSocket) against wsgate --mode pubsub: connect anonymously and with HS256
// tokens, the SDK's handling of expired and invalid tokens, subscribe,
// publications from the HTTP API and from another SDK client, history,
// presence stats, unsubscribe, recovery after a network drop (recovered and
// not), and a slow-consumer disconnect the SDK reconnects and recovers from.
//
//   node test_pubsub_sdk.mjs WSGATE_BINARY BACKEND [CASE-FILTER...]
//
// Instances of its own:
//   main:   --api-key --allow-client-publish --token-hmac-secret --history-size 300
//           --namespace room,... (subscribe and publish for subscribers, history 10)
//   slow:   --allow-client-publish --history-size 300 --max-queued-bytes 262144
//           --close-timeout 10
//   small:  --allow-client-publish --history-size 5 --history-ttl 1 --ping-interval 1
//   noanon: --allow-anonymous off --token-hmac-secret
// Network drops and a stalled reader are made by a TCP proxy in this process
// (pubsub_proc.mjs startProxy). Prints `N passed, N failed` last.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';

import { apiResult, hs256Token, once, sleep, startProxy, startWsgate, Suite, until } from './pubsub_proc.mjs';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const { Centrifuge } = require('centrifuge');
const sdkVersion = JSON.parse(readFileSync(new URL('./node_modules/centrifuge/package.json', import.meta.url))).version;

if (process.argv.length < 4) {
  console.error('usage: test_pubsub_sdk.mjs WSGATE_BINARY BACKEND');
  console.log('0 passed, 1 failed');
  process.exit(2);
}
const [bin, backend] = process.argv.slice(2, 4);
const suite = new Suite('pubsub_sdk', process.argv.slice(4));

const KEY = 'sdk-api-key';
const SECRET = 'sdk-secret';
const HISTORY = 300;
const SMALL_HISTORY = 5;
const QUEUE = 256 << 10; // 5 compressed publications of the slow-consumer case
const servers = {};
const clients = [];

function eq(got, want, what) {
  if (!isDeepStrictEqual(got, want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}
function check(cond, what) {
  if (!cond) throw new Error(what);
}

const nowS = () => Math.floor(Date.now() / 1000);
const token = (sub, ttl = 3600) => hs256Token(SECRET, { sub, exp: nowS() + ttl });

// A client that remembers its events; closed at the end of the suite.
function newClient(url, opts = {}) {
  const c = new Centrifuge(url, { websocket: WebSocket, minReconnectDelay: 100, maxReconnectDelay: 300, ...opts });
  c.events = [];
  for (const ev of ['connecting', 'connected', 'disconnected', 'error']) {
    c.on(ev, (ctx) => c.events.push({ ev, ctx }));
  }
  clients.push(c);
  return c;
}

function newSub(c, channel, opts = {}) {
  const s = c.newSubscription(channel, opts);
  s.pubs = [];
  s.events = [];
  s.on('publication', (ctx) => s.pubs.push(ctx));
  for (const ev of ['subscribing', 'subscribed', 'unsubscribed', 'error']) {
    s.on(ev, (ctx) => s.events.push({ ev, ctx }));
  }
  return s;
}

async function connected(c) {
  const p = once(c, 'connected');
  c.connect();
  return p;
}

async function subscribed(s) {
  const p = once(s, 'subscribed');
  s.subscribe();
  return p;
}

// Each instance has an SDK client of the suite's own (a token user on noanon)
// that publishes (main and small allow client publish) and asks for presence
// stats, so only the cases about the HTTP API depend on it.
const helpers = {};
const publish = (name, channel, data) => helpers[name].publish(channel, data);
const stats = (name, channel) => helpers[name].presenceStats(channel);
const apiPublish = (name, channel, data) => apiResult(servers[name].port, KEY, 'publish', { channel, data });

// Waits until `s` has `n` publications; returns them.
async function pubsOf(s, n, ms = 5000) {
  await until(() => s.pubs.length >= n, ms, `${n} publications on ${s.channel} (have ${s.pubs.length})`);
  return s.pubs;
}

function checkSequence(pubs, first, last, what) {
  eq(pubs.map((p) => p.offset), Array.from({ length: last - first + 1 }, (_, i) => first + i), `${what} offsets`);
}

// -- connect ------------------------------------------------------------------

async function anonymousConnect() {
  const c = newClient(servers.main.url);
  const ctx = await connected(c);
  check(typeof ctx.client === 'string' && ctx.client.length > 0, `client id ${JSON.stringify(ctx)}`);
  eq(ctx.transport, 'websocket', 'transport');
  eq(c.state, 'connected', 'state');
  // The SDK's ws offers permessage-deflate and wsgate accepts it, so the
  // publications in this suite come through the compressed shared frames.
  const ws = c._transport && c._transport._transport;
  check(ws && typeof ws.extensions === 'string', 'the SDK\'s ws socket (internal field) not found');
  check(ws.extensions.startsWith('permessage-deflate'), `negotiated extensions: ${JSON.stringify(ws.extensions)}`);
  c.disconnect();
}

async function tokenConnectIsUser() {
  const c = newClient(servers.main.url, { token: token('alice') });
  await connected(c);
  const s = newSub(c, 'who');
  await subscribed(s);
  eq(await stats('main', 'who'), { numClients: 1, numUsers: 1 }, 'presence with alice');
  // The token's sub is the user: a second connection of alice is the same user,
  // and her publications carry it.
  const c2 = newClient(servers.main.url, { token: token('alice') });
  await connected(c2);
  const s2 = newSub(c2, 'who');
  await subscribed(s2);
  eq(await stats('main', 'who'), { numClients: 2, numUsers: 1 }, 'presence with alice twice');
  await c2.publish('who', { hi: 1 });
  const [p] = await pubsOf(s, 1);
  eq(p.info && p.info.user, 'alice', `publication info ${JSON.stringify(p.info)}`);
  c.disconnect();
  c2.disconnect();
}

async function apiDisconnectByUser() {
  const c = newClient(servers.main.url, { token: token('dora') });
  await connected(c);
  const other = newClient(servers.main.url, { token: token('ed') });
  await connected(other);
  // /api/disconnect by user reaches the token's sub, terminally (3503), and no one else.
  const d = once(c, 'disconnected');
  eq(await apiResult(servers.main.port, KEY, 'disconnect', { user: 'dora' }), {}, 'disconnect result');
  const ctx = await d;
  eq([ctx.code, ctx.reason], [3503, 'force disconnect'], 'disconnected');
  await sleep(400);
  eq(c.state, 'disconnected', 'no reconnect after 3503');
  eq(other.state, 'connected', 'the other user');
  other.disconnect();
}

async function anonymousRefused() {
  const c = newClient(servers.noanon.url);
  const d = once(c, 'disconnected');
  c.connect();
  const ctx = await d;
  eq([ctx.code, ctx.reason], [3500, 'invalid token'], 'disconnected');
  await sleep(400);
  eq(c.state, 'disconnected', 'state after 3500 (terminal)');
  eq(c.events.filter((e) => e.ev === 'connecting').length, 1, 'connect attempts');
}

async function invalidSignature() {
  const bad = hs256Token('not-the-secret', { sub: 'mallory', exp: nowS() + 600 });
  for (const tok of [bad, hs256Token(SECRET, { sub: 'm' }, { alg: 'none', typ: 'JWT' }), 'garbage']) {
    const c = newClient(servers.noanon.url, { token: tok });
    const d = once(c, 'disconnected');
    c.connect();
    const ctx = await d;
    eq([ctx.code, ctx.reason], [3500, 'invalid token'], `disconnected (token ${tok.slice(0, 12)}...)`);
    await sleep(300);
    eq(c.state, 'disconnected', 'no reconnect after 3500');
  }
}

async function expiredTokenWithoutGetToken() {
  // The SDK reports error 109, asks for a new token, has no getToken, gives up: unauthorized.
  const c = newClient(servers.noanon.url, { token: hs256Token(SECRET, { sub: 'old', exp: nowS() - 5 }) });
  const d = once(c, 'disconnected');
  c.connect();
  const ctx = await d;
  const errors = c.events.filter((e) => e.ev === 'error').map((e) => [e.ctx.type, e.ctx.error.code]);
  check(errors.length >= 1 && errors[0][0] === 'connect' && errors[0][1] === 109, `errors ${JSON.stringify(errors)}`);
  eq([ctx.code, ctx.reason], [1, 'unauthorized'], 'disconnected');
}

async function expiredTokenRefreshedByGetToken() {
  let calls = 0;
  const c = newClient(servers.noanon.url, {
    token: hs256Token(SECRET, { sub: 'bob', exp: nowS() - 5 }),
    getToken: async () => { calls++; return token('bob'); },
  });
  const ctx = await connected(c);
  const errors = c.events.filter((e) => e.ev === 'error').map((e) => [e.ctx.type, e.ctx.error.code]);
  eq(errors, [['connect', 109]], 'errors before connecting');
  eq(calls, 1, 'getToken calls');
  check(ctx.client, 'client id');
  const s = newSub(c, 'refreshed');
  await subscribed(s);
  eq(await stats('noanon', 'refreshed'), { numClients: 1, numUsers: 1 }, 'presence');
  c.disconnect();
}

async function tokenWithTtl() {
  // A token valid for 2 s: the connect reply says expires/ttl, and the SDK
  // asks getToken for a new one before it runs out; the connection stays.
  let calls = 0;
  const c = newClient(servers.noanon.url, {
    token: token('carol', 2),
    getToken: async () => { calls++; return token('carol', 600); },
  });
  await connected(c);
  await until(() => calls >= 1, 6000, 'getToken for the refresh');
  await sleep(1500);
  eq(c.state, 'connected', 'state after the token expired and was refreshed');
  eq(c.events.filter((e) => e.ev === 'disconnected' || e.ev === 'error').map((e) => e.ctx), [], 'errors');
  c.disconnect();
}

// -- subscribe, publish, history, presence, unsubscribe -------------------------

let news = null; // shared by the cases below: { a, sa, b, sb }

async function subscribeAndApiPublications() {
  const a = newClient(servers.main.url, { token: token('ann') });
  await connected(a);
  const sa = newSub(a, 'news');
  const ctx = await subscribed(sa);
  eq([ctx.recoverable, ctx.positioned], [true, true], 'recoverable, positioned with history on');
  eq(ctx.streamPosition.offset, 0, 'initial offset');
  check(typeof ctx.streamPosition.epoch === 'string' && ctx.streamPosition.epoch, 'epoch');
  news = { a, sa, epoch: ctx.streamPosition.epoch };
  const datas = [{ n: 1 }, 'two', [3, { x: 'ü€😀' }], 4.5, null, { big: 'y'.repeat(20000) }];
  for (let i = 0; i < datas.length; i++) {
    eq(await apiPublish('main', 'news', datas[i]), { offset: i + 1, epoch: news.epoch }, 'API publish result');
  }
  const pubs = await pubsOf(sa, datas.length);
  checkSequence(pubs, 1, datas.length, 'API publications');
  eq(pubs.map((p) => p.data), datas, 'data');
  eq(pubs.map((p) => p.channel), datas.map(() => 'news'), 'channel');
}

async function clientPublications() {
  const { sa } = news;
  const b = newClient(servers.main.url, { token: token('ben') });
  await connected(b);
  news.b = b;
  const before = sa.pubs.length;
  for (let i = 0; i < 5; i++) eq(await b.publish('news', { from: 'ben', i }), {}, 'publish result');
  const sb = newSub(b, 'news');
  const at = (await subscribed(sb)).streamPosition.offset;
  news.sb = sb;
  await sb.publish({ from: 'ben', i: 5 });
  const pubs = (await pubsOf(sa, before + 6)).slice(before);
  checkSequence(pubs, before + 1, before + 6, 'client publications');
  eq(pubs.map((p) => p.data), [0, 1, 2, 3, 4, 5].map((i) => ({ from: 'ben', i })), 'data');
  // The publisher's own subscription goes on from its subscribe position. A
  // publish reply does not wait for the home to assign the offset, so when
  // ben's loop already holds the channel (ann on the same loop) that position
  // may be before publications ben made earlier: he then gets them too.
  const own = await pubsOf(sb, before + 6 - at);
  checkSequence(own, at + 1, before + 6, 'publisher subscribed, from its subscribe position');
  eq(own[own.length - 1].data, { from: 'ben', i: 5 }, 'publisher subscribed gets its own');
  if (at < before + 5) console.log(`     ben subscribed at ${at}, before his own publications ${before + 1}..${before + 5} reached his loop`);
  if (pubs[0].info) eq(pubs[0].info.user, 'ben', 'publication info user');
  console.log(`     client publication info: ${JSON.stringify(pubs[0].info)}`);
}

async function historyCases() {
  const { sa, epoch } = news;
  const top = sa.pubs.length;
  let h = await sa.history({ limit: 1000 });
  eq([h.offset, h.epoch], [top, epoch], 'stream position');
  checkSequence(h.publications, 1, top, 'history');
  eq(h.publications.map((p) => p.data), sa.pubs.map((p) => p.data), 'history data = what was delivered');
  h = await sa.history({ limit: 2, reverse: true });
  eq(h.publications.map((p) => p.offset), [top, top - 1], 'reverse limit 2');
  h = await sa.history({ since: { offset: top - 3, epoch }, limit: 10 });
  checkSequence(h.publications, top - 2, top, 'since');
  h = await sa.history();
  eq([h.publications.length, h.offset, h.epoch], [0, top, epoch], 'no limit: position only');
}

async function subscribeSince() {
  // A subscription given a position (`since`) gets what came after it with
  // its subscribe, recovered: true, then the live stream.
  const { sa, epoch } = news;
  const top = sa.pubs.length;
  const c = newClient(servers.main.url);
  await connected(c);
  const s = newSub(c, 'news', { since: { offset: top - 3, epoch } });
  const ctx = await subscribed(s);
  eq([ctx.wasRecovering, ctx.recovered], [true, true], 'subscribed context');
  checkSequence(await pubsOf(s, 3), top - 2, top, 'publications since the position');
  eq(s.pubs.map((p) => p.data), sa.pubs.slice(top - 3).map((p) => p.data), 'data');
  const bad = newSub(c, 'news-other', { since: { offset: 5, epoch: 'no-such-epoch' } });
  const badCtx = await subscribed(bad);
  eq([badCtx.wasRecovering, badCtx.recovered], [true, false], 'a position from another epoch');
  c.disconnect();
  // The next case counts the channel's subscribers: this one must be gone.
  await until(async () => (await sa.presenceStats()).numClients === 2, 3000, 'the since-subscriber gone');
}

async function presenceStatsCases() {
  const { a, sa } = news;
  eq(await sa.presenceStats(), { numClients: 2, numUsers: 2 }, 'ann and ben');
  const c2 = newClient(servers.main.url, { token: token('ann') });
  await connected(c2);
  const s2 = newSub(c2, 'news');
  await subscribed(s2);
  eq(await a.presenceStats('news'), { numClients: 3, numUsers: 2 }, 'ann twice and ben');
  c2.disconnect();
  await until(async () => (await sa.presenceStats()).numClients === 2, 3000, 'back to 2 clients');
}

async function unsubscribeCase() {
  const { sa, sb } = news;
  const u = once(sb, 'unsubscribed');
  sb.unsubscribe();
  await u;
  const before = [sa.pubs.length, sb.pubs.length];
  await until(async () => (await sa.presenceStats()).numClients === 1, 3000, 'one client left');
  await publish('main', 'news', 'after unsubscribe');
  await pubsOf(sa, before[0] + 1);
  await sleep(200);
  eq(sb.pubs.length, before[1], 'publications after unsubscribe');
  // Subscribing again works, from the current position.
  const ctx = await subscribed(sb);
  eq(ctx.streamPosition.offset, before[0] + 1, 'position on the new subscribe');
  news.a.disconnect();
  news.b.disconnect();
}

async function errorReplies() {
  // noanon has no --allow-client-publish and no history.
  const c = helpers.noanon;
  const code = (p) => p.then((r) => `resolved ${JSON.stringify(r)}`, (e) => e.code);
  eq(await code(c.publish('errs', { x: 1 })), 103, 'publish without --allow-client-publish');
  eq(await code(c.history('errs', { limit: 10 })), 108, 'history with history off');
  eq(await code(c.rpc('sum', [1, 2])), 104, 'rpc');
  eq(c.state, 'connected', 'still connected after the errors');
  eq(await stats('noanon', 'errs'), { numClients: 0, numUsers: 0 }, 'still served');
}

async function namespaces() {
  // main: namespace room (users and anonymous subscribe; subscribers publish;
  // history 10); any other namespace is unknown.
  const c = newClient(servers.main.url);
  await connected(c);
  const bad = newSub(c, 'nope:room');
  const failed = once(bad, 'unsubscribed');
  bad.subscribe();
  // A final subscribe error (not temporary, not < 100, not 109) reaches the
  // application as the unsubscribed event carrying the error's code and
  // message (centrifuge-js _subscribeError -> _setUnsubscribed); the error
  // event is for the temporary ones it retries.
  const ctx = await failed;
  eq([ctx.channel, ctx.code, ctx.reason], ['nope:room', 102, 'unknown channel'], 'unsubscribed with the error');
  eq(bad.events.filter((e) => e.ev === 'error'), [], 'no retried error');
  await sleep(300);
  eq(bad.state, 'unsubscribed', 'no retry: 102 is final');
  const good = newSub(c, 'room:1');
  const sub = await subscribed(good);
  eq(sub.recoverable, true, 'room: recoverable (history_size 10)');
  await good.publish({ text: 'hi' });
  eq((await pubsOf(good, 1))[0].data, { text: 'hi' }, 'a subscriber publishes in room');
  const code = (p) => p.then((r) => `resolved ${JSON.stringify(r)}`, (e) => e.code);
  eq(await code(c.publish('nope:room', { x: 1 })), 102, 'publish to an unknown namespace');
  eq(await code(c.publish('room:2', { x: 1 })), 103, 'publish in room without subscribing');
  eq(c.state, 'connected', 'still connected after the errors');
  c.disconnect();
}

async function serverPings() {
  // small pings every second; the SDK answers each ping (pong: true in the
  // connect reply) and stays connected, without a reconnect.
  const c = newClient(servers.small.url);
  const ctx = await connected(c);
  const s = newSub(c, 'pinged');
  await subscribed(s);
  let pings = 0;
  c._transport._transport.on('message', (m) => { if (m.toString() === '{}') pings++; });
  await sleep(3500);
  check(pings >= 2, `${pings} server pings in 3.5 s with --ping-interval 1`);
  eq(c.events.map((e) => e.ev), ['connecting', 'connected'], 'client events');
  eq(c.state, 'connected', 'state');
  await publish('small', 'pinged', 'after pings');
  eq((await pubsOf(s, 1))[0].data, 'after pings', 'publication');
  check(ctx.client, 'client id');
  c.disconnect();
}

// -- recovery --------------------------------------------------------------------

async function dropAndPublish(server, channel, missed, expectRecovered) {
  const proxy = await startProxy(servers[server].port);
  try {
    const c = newClient(proxy.url);
    await connected(c);
    const s = newSub(c, channel);
    await subscribed(s);
    for (let i = 1; i <= 3; i++) await publish(server, channel, { i });
    await pubsOf(s, 3);
    const connecting = once(c, 'connecting');
    proxy.block(); // the network goes
    const why = await connecting;
    await until(async () => (await stats(server, channel)).numClients === 0, 3000, 'server saw the drop');
    for (let i = 4; i < 4 + missed; i++) await publish(server, channel, { i });
    const resub = once(s, 'subscribed', 8000);
    proxy.unblock();
    const ctx = await resub;
    eq([ctx.wasRecovering, ctx.recovered], [true, expectRecovered], 'subscribed context');
    await publish(server, channel, { i: 4 + missed });
    const top = 4 + missed;
    if (expectRecovered) {
      const pubs = await pubsOf(s, top);
      checkSequence(pubs, 1, top, 'recovered stream');
      eq(pubs.map((p) => p.data.i), Array.from({ length: top }, (_, i) => i + 1), 'data');
    } else {
      const pubs = await pubsOf(s, 4);
      await sleep(100);
      eq(pubs.map((p) => p.offset), [1, 2, 3, top], 'offsets: the gap is reported, not filled');
      eq(ctx.streamPosition.offset, top - 1, 'position after the failed recovery');
    }
    console.log(`     drop seen by the SDK as ${why.code} ${JSON.stringify(why.reason)}; ` +
      `resubscribed wasRecovering=${ctx.wasRecovering} recovered=${ctx.recovered}`);
    c.disconnect();
  } finally {
    await proxy.close();
  }
}

// What the client missed while away expired from history (--history-ttl 1 on
// small): recovery must be refused, whether the stream went on (same epoch,
// the offsets after the client's are gone) or started afresh (new epoch).
async function missedExpired() {
  const channel = 'expired';
  const proxy = await startProxy(servers.small.port);
  try {
    const c = newClient(proxy.url);
    await connected(c);
    const s = newSub(c, channel);
    const first = await subscribed(s);
    for (let i = 1; i <= 2; i++) await publish('small', channel, { i });
    await pubsOf(s, 2);
    const connecting = once(c, 'connecting');
    proxy.block();
    await connecting;
    await until(async () => (await stats('small', channel)).numClients === 0, 3000, 'server saw the drop');
    for (let i = 3; i <= 4; i++) await publish('small', channel, { i });
    await until(async () => (await helpers.small.history(channel, { limit: 10 })).publications.length === 0, 5000,
      'history expired');
    const resub = once(s, 'subscribed', 8000);
    proxy.unblock();
    const ctx = await resub;
    eq([ctx.wasRecovering, ctx.recovered], [true, false], 'subscribed context');
    await publish('small', channel, { i: 'next' });
    const pubs = await pubsOf(s, 3);
    eq(pubs.map((p) => p.data.i), [1, 2, 'next'], 'publications: the expired ones are not delivered');
    eq(pubs[2].offset, ctx.streamPosition.offset + 1, 'the next offset follows the subscribe position');
    console.log(`     after expiry the stream went on with ${ctx.streamPosition.epoch === first.streamPosition.epoch ?
      'the same' : 'a new'} epoch, position ${JSON.stringify(ctx.streamPosition)}`);
    c.disconnect();
  } finally {
    await proxy.close();
  }
}

const recoveredTrue = () => dropAndPublish('main', 'recover-yes', 5, true);
const recoveredFalse = () => dropAndPublish('small', 'recover-no', SMALL_HISTORY + 3, false);

// -- slow consumer -----------------------------------------------------------------

async function slowConsumer() {
  const proxy = await startProxy(servers.slow.port);
  try {
    const slow = newClient(proxy.url);
    await connected(slow);
    const ss = newSub(slow, 'firehose');
    await subscribed(ss);
    const fast = newClient(servers.slow.url);
    await connected(fast);
    const sf = newSub(fast, 'firehose');
    await subscribed(sf);
    proxy.stall(); // the slow client stops reading
    // The kernel may buffer up to tcp_wmem's maximum (4 MiB by default) for the
    // stalled socket before the server's queue fills: publications of 50 KB
    // until the server let the slow one go (it stops counting in presence
    // stats when its close is sent), at most 280 (14 MB), inside
    // --history-size and the recovery limit (300). The SDK's ws negotiates
    // permessage-deflate, so the data is random (base64 still compresses to
    // 75%; repeated letters would shrink to nothing). The stalled client reads
    // again within --close-timeout (10 s on this instance), so the close
    // frame behind the data reaches it.
    const pad = randomBytes(37500).toString('base64');
    let total = 0;
    let seen = null;
    while (total < 280) {
      for (let i = 0; i < 5; i++) await publish('slow', 'firehose', { n: ++total, pad });
      seen = await stats('slow', 'firehose');
      if (seen.numClients === 1) break;
    }
    const fastDrops = fast.events.filter((e) => e.ev === 'connecting').length - 1;
    check(total < 280 && fastDrops === 0, `after ${total} x 50 KB: presence ${JSON.stringify(seen)}, ` +
      `slow client has ${ss.pubs.length} (state ${slow.state}), fast one ${sf.pubs.length} ` +
      `(reconnected ${fastDrops} times), proxy connections ${proxy.connections()}`);
    await pubsOf(sf, total);
    // Generous waits: the SDK inflates and parses megabytes before the close
    // frame, slowly on a loaded machine.
    const connecting = once(slow, 'connecting', 20000);
    const resub = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no resubscribe within 25 s')), 25000);
      ss.once('subscribed', (ctx) => { clearTimeout(t); resolve({ ctx, before: ss.pubs.length }); });
    });
    resub.catch(() => {});
    proxy.resume();
    const why = await connecting.catch((e) => {
      throw new Error(`${e.message}: the slow client had ${ss.pubs.length} of ${total} publications, ` +
        `state ${slow.state}, proxy connections ${proxy.connections()}`);
    });
    eq([why.code, why.reason], [3008, 'slow'], 'disconnect the SDK saw');
    const { ctx, before } = await resub;
    eq([ctx.wasRecovering, ctx.recovered], [true, true], 'resubscribed');
    check(before < total, `the slow client had all ${total} publications before its close (not slow?)`);
    await publish('slow', 'firehose', { n: total + 1, pad });
    checkSequence(await pubsOf(ss, total + 1), 1, total + 1, 'slow subscriber, recovered');
    checkSequence(await pubsOf(sf, total + 1), 1, total + 1, 'fast subscriber');
    eq(ss.pubs.map((p) => p.data.n), sf.pubs.map((p) => p.data.n), 'same data');
    console.log(`     slow consumer: ${before} of ${total} publications of 50 KB reached it before 3008, ` +
      `the recovering subscribe brought the other ${total - before}`);
    slow.disconnect();
    fast.disconnect();
  } finally {
    await proxy.close();
  }
}

async function serversAlive() {
  for (const [name, s] of Object.entries(servers)) check(s.alive(), `${name} exited: ${s.log().slice(-300)}`);
  for (const name of Object.keys(servers)) eq((await stats(name, 'none')).numClients, 0, `${name} answers`);
}

try {
  servers.main = await startWsgate(bin, backend, ['--api-key', KEY, '--allow-client-publish',
    '--token-hmac-secret', SECRET, '--history-size', String(HISTORY), '--namespace',
    'room,history_size=10,allow_subscribe_for_client=true,allow_subscribe_for_anonymous=true,'
    + 'allow_publish_for_subscriber=true,allow_publish_for_anonymous=true']);
  servers.slow = await startWsgate(bin, backend, ['--allow-client-publish', '--history-size', String(HISTORY),
    '--max-queued-bytes', String(QUEUE), '--close-timeout', '10']);
  servers.small = await startWsgate(bin, backend, ['--allow-client-publish', '--history-size', String(SMALL_HISTORY),
    '--history-ttl', '1', '--ping-interval', '1']);
  servers.noanon = await startWsgate(bin, backend, ['--allow-anonymous', 'off', '--token-hmac-secret', SECRET,
    '--api-key', KEY]);
} catch (e) {
  console.log(`FAIL pubsub_sdk start: ${e.message}`);
  for (const s of Object.values(servers)) await s.stop();
  console.log('0 passed, 1 failed');
  process.exit(1);
}
try {
  helpers.main = newClient(servers.main.url);
  helpers.small = newClient(servers.small.url);
  helpers.slow = newClient(servers.slow.url);
  helpers.noanon = newClient(servers.noanon.url, { token: token('observer') });
  await Promise.all(Object.values(helpers).map(connected));
} catch (e) {
  console.log(`FAIL pubsub_sdk helper clients: ${e.message}`);
  for (const s of Object.values(servers)) await s.stop();
  console.log('0 passed, 1 failed');
  process.exit(1);
}
console.log(`pubsub_sdk: centrifuge ${sdkVersion}, ws ${require('ws/package.json').version}, backend ${backend}`);

await suite.run('anonymous connect; permessage-deflate negotiated', anonymousConnect);
await suite.run('HS256 token: sub is the user (presence num_users, publication info)', tokenConnectIsUser);
await suite.run('/api/disconnect by user -> 3503, no reconnect', apiDisconnectByUser);
await suite.run('--allow-anonymous off: no token -> 3500, no reconnect', anonymousRefused);
await suite.run('invalid signature / alg none / garbage -> 3500, no reconnect', invalidSignature);
await suite.run('expired token, no getToken: error 109, then unauthorized', expiredTokenWithoutGetToken);
await suite.run('expired token, getToken: error 109, new token, connected', expiredTokenRefreshedByGetToken);
await suite.run('token with exp: refreshed through getToken, connection stays', tokenWithTtl);
await suite.run('subscribe; HTTP API publications arrive with data and offsets', subscribeAndApiPublications);
if (news) {
  await suite.run('publications from another SDK client', clientPublications);
  await suite.run('history: limit, reverse, since, position only', historyCases);
  await suite.run('subscribe since a position: recovered, then live', subscribeSince);
  await suite.run('presence stats', presenceStatsCases);
  await suite.run('unsubscribe', unsubscribeCase);
}
await suite.run('error replies as the SDK reports them: publish 103, history 108, rpc 104', errorReplies);
await suite.run('namespaces: unknown namespace -> subscribe error 102, unsubscribed; a configured one serves', namespaces);
await suite.run('server pings every second: the SDK answers and stays connected', serverPings);
await suite.run('network drop, missed publications in history -> recovered: true', recoveredTrue);
await suite.run('network drop, more missed than history -> recovered: false', recoveredFalse);
await suite.run('missed publications expired (--history-ttl) -> recovered: false', missedExpired);
await suite.run('slow consumer: closed 3008, SDK reconnects and recovers', slowConsumer, 50000);
await suite.run('servers alive', serversAlive);
for (const c of clients) c.disconnect();
for (const [name, s] of Object.entries(servers)) {
  await suite.run(`${name}: SIGTERM -> exit 0`, async () => {
    const code = await s.stop();
    if (code !== 0) console.log(`     ${s.log().slice(-6000).split('\n').join('\n     ')}`);
  check(code === 0, `exit status ${code} (its log above)`);
  });
}
for (const s of Object.values(servers)) await s.stop(); // those a case filter left running
suite.finish();
