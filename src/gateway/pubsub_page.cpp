#include "gateway/pubsub_page.hpp"

namespace wsgate::gateway {

const std::string_view kPubsubPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wsgate pub/sub</title>
<link rel="icon" href="data:,">
<style>
body { font-family: sans-serif; max-width: 46em; margin: 2em auto; }
#messages > div { border-bottom: 1px solid #ddd; padding: 2px 0; overflow-wrap: anywhere; }
#messages .name { font-weight: bold; margin-right: 0.5em; }
#messages .gap, #error { color: #a00; }
.muted { color: #666; }
</style>
</head>
<body>
<h1>wsgate pub/sub</h1>
<p>Connection: <b id="status">connecting</b> <span id="status-detail" class="muted"></span>
  &middot; client <code id="client"></code> &middot; pings answered <span id="pings">0</span></p>
<p><label>Channel <input id="channel" type="text" value="chat" size="20"></label>
  <button id="join">Join</button>
  <b id="sub-status">none</b> <span id="sub-detail" class="muted"></span></p>
<p><label>Name <input id="name" type="text" size="12"></label>
  <label>Message <input id="text" type="text" size="40"></label>
  <button id="send">Send</button></p>
<p id="error"></p>
<div id="messages"></div>
<script>
'use strict';
// A small client for the Centrifugo client protocol v2, JSON encoding: each
// command is {"id":N,"<method>":{...}} and its reply carries the same id;
// pushes (publications, unsubscribe) carry none; several of either may share
// one WebSocket message, separated by '\n'. The server pings with '{}' and
// expects '{}' back before its next ping.
const $ = (id) => document.getElementById(id);
const endpoint = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/connection/websocket';
const maxServerPingDelay = 10000; // ms past the ping interval before the link counts as dead (the SDK's default)
const maxMessages = 1000;         // shown at most; the oldest go first

let ws = null;
let connected = false;     // the connect reply arrived on the current socket
let nextId = 1;
const pending = new Map(); // command id -> function(reply)
let channel = '';          // the channel joined, '' when none
let position = null;       // {offset, epoch} of the last publication seen: where recovery resumes
let retries = 0;           // reconnects since the last connect reply
let pingInterval = 0;      // ms, from the connect reply
let pingDeadline = null;
let pings = 0;

function setStatus(status, detail) { $('status').textContent = status; $('status-detail').textContent = detail || ''; }
function setSub(status, detail) { $('sub-status').textContent = status; $('sub-detail').textContent = detail || ''; }
function showError(what, error, hint) {
  $('error').textContent = `${what}: ${error.code} ${error.message}` + (hint ? ` (${hint})` : '');
}

function request(method, params, onReply) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  const id = nextId++;
  pending.set(id, onReply);
  ws.send(JSON.stringify({ id, [method]: params }));
}

function connect() {
  setStatus('connecting');
  ws = new WebSocket(endpoint);
  ws.onopen = () => request('connect', { name: 'wsgate-demo' }, onConnect);
  ws.onmessage = (event) => {
    armPingDeadline();
    for (const line of event.data.split('\n')) if (line.trim() !== '') handle(JSON.parse(line));
  };
  ws.onclose = (event) => onClose(event.code, event.reason);
}

function onConnect(reply) {
  if (reply.error) { showError('connect', reply.error); ws.close(); return; }
  connected = true;
  retries = 0;
  pingInterval = (reply.connect.ping || 0) * 1000;
  armPingDeadline();
  setStatus('connected');
  $('client').textContent = reply.connect.client || '';
  if (channel) subscribe();
}

// The server pings every `ping` seconds; silence much longer than that means
// the connection is gone even if TCP has not noticed.
function armPingDeadline() {
  clearTimeout(pingDeadline);
  if (pingInterval > 0) pingDeadline = setTimeout(dropConnection, pingInterval + maxServerPingDelay);
}

function dropConnection() {
  ws.onclose = null;
  ws.close();
  onClose(0, 'no ping');
}

function onClose(code, reason) {
  connected = false;
  clearTimeout(pingDeadline);
  pending.clear();
  if (channel) setSub('subscribing', 'waiting for the connection');
  // Close codes 3500-3999 and 4500-4999 are terminal (bad request, invalid
  // token, ...); any other reconnects, and the subscription recovers.
  if ((code >= 3500 && code < 4000) || (code >= 4500 && code < 5000)) {
    setStatus('closed', `${code} ${reason}`);
    return;
  }
  const delay = Math.min(10000, 250 * 2 ** retries) * (0.5 + Math.random() / 2);
  retries++;
  setStatus('disconnected', `${code} ${reason}, reconnecting in ${(delay / 1000).toFixed(1)} s`);
  setTimeout(connect, delay);
}

function handle(message) {
  if (message.id !== undefined) {
    const onReply = pending.get(message.id);
    pending.delete(message.id);
    if (onReply) onReply(message);
  } else if (message.push) {
    onPush(message.push);
  } else if (Object.keys(message).length === 0) {
    ws.send('{}'); // pong
    $('pings').textContent = String(++pings);
  }
}

function onPush(push) {
  if (push.channel !== channel) return;
  if (push.pub) {
    addPublication(push.pub);
  } else if (push.unsubscribe) {
    // From 2500 on the server asks for a new subscription (which recovers);
    // below, the subscription has ended.
    if (push.unsubscribe.code >= 2500) subscribe();
    else setSub('unsubscribed', `${push.unsubscribe.code} ${push.unsubscribe.reason}`);
  }
}

// Subscribes to `channel`; after a reconnect, asks for what was missed since
// `position`. With history off (recoverable absent) there is no position.
function subscribe() {
  const joined = channel;
  const recovering = position !== null;
  const params = recovering ? { channel, recover: true, offset: position.offset, epoch: position.epoch } : { channel };
  setSub('subscribing');
  request('subscribe', params, (reply) => {
    if (joined !== channel) return;
    if (reply.error) { setSub('error', `${reply.error.code} ${reply.error.message}`); return; }
    const result = reply.subscribe;
    let detail = '';
    if (recovering && result.recovered) {
      for (const pub of result.publications || []) addPublication(pub);
      detail = `recovered ${(result.publications || []).length} missed, `;
    } else if (recovering) {
      addGap();
      detail = 'not recovered: publications may be missing, ';
    }
    if (result.recoverable) {
      // JSON leaves out zero values: no offset means 0.
      position = { offset: result.offset || 0, epoch: result.epoch || '' };
      detail += `joined at offset ${position.offset}, epoch ${position.epoch}`;
      if (!result.recovered) loadRecent();
    }
    setSub('subscribed', detail);
  });
}

// The last publications before joining, from history (error 108: history is off).
function loadRecent() {
  const joined = channel;
  request('history', { channel, limit: 20, reverse: true }, (reply) => {
    if (joined !== channel || reply.error) return;
    for (const pub of reply.history.publications || []) addPublication(pub);
  });
}

// Shows a publication once, in offset order: history and live pushes may
// overlap. Without history (no offset) publications are appended as they come.
function addPublication(pub) {
  const list = $('messages');
  const offset = pub.offset;
  if (offset !== undefined) {
    if (list.querySelector(`[data-offset="${offset}"]`)) return;
    if (position && offset > position.offset) position.offset = offset;
  }
  const line = document.createElement('div');
  line.className = 'message';
  const name = document.createElement('span');
  name.className = 'name';
  const text = document.createElement('span');
  text.className = 'text';
  const data = pub.data;
  if (data !== null && typeof data === 'object' && typeof data.text === 'string') {
    name.textContent = String(data.name ?? '');
    text.textContent = data.text;
  } else {
    text.textContent = JSON.stringify(data); // published by something else than this page
  }
  line.append(name, text);
  let later = null;
  if (offset !== undefined) {
    line.dataset.offset = String(offset);
    later = [...list.children].find((el) => el.dataset.offset !== undefined && Number(el.dataset.offset) > offset);
  }
  list.insertBefore(line, later);
  while (list.children.length > maxMessages) list.firstElementChild.remove();
}

function addGap() {
  const line = document.createElement('div');
  line.className = 'gap';
  line.textContent = 'reconnected: publications may be missing here';
  $('messages').append(line);
}

function join() {
  const wanted = $('channel').value.trim();
  if (wanted === '' || wanted === channel) return;
  if (channel && connected) request('unsubscribe', { channel }, () => {});
  channel = wanted;
  position = null;
  $('messages').replaceChildren();
  window.history.replaceState(null, '', '?channel=' + encodeURIComponent(channel));
  if (connected) subscribe();
  else setSub('subscribing', 'waiting for the connection');
}

function publish() {
  const text = $('text').value;
  if (!channel || !connected || text === '') return;
  request('publish', { channel, data: { name: $('name').value, text } }, (reply) => {
    if (reply.error) {
      showError('publish', reply.error, reply.error.code === 103 ? 'wsgate runs without --allow-client-publish' : '');
    } else {
      $('error').textContent = '';
    }
  });
  $('text').value = '';
}

$('name').value = 'guest-' + Math.floor(1000 + Math.random() * 9000);
const channelFromUrl = new URLSearchParams(location.search).get('channel');
if (channelFromUrl) $('channel').value = channelFromUrl;
$('join').onclick = join;
$('channel').addEventListener('keydown', (event) => { if (event.key === 'Enter') join(); });
$('send').onclick = publish;
$('text').addEventListener('keydown', (event) => { if (event.key === 'Enter') publish(); });
join();
connect();
</script>
</body>
</html>
)HTML";

}  // namespace wsgate::gateway
