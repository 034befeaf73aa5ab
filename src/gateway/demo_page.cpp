#include "gateway/demo_page.hpp"

namespace wsgate::gateway {

const std::string_view kDemoPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wsgate echo</title>
<style>
body { font-family: sans-serif; max-width: 40em; margin: 2em auto; }
#log > div { font-family: monospace; border-bottom: 1px solid #ddd; padding: 2px 0; }
</style>
</head>
<body>
<h1>wsgate echo</h1>
<p>Status: <span id="status">connecting</span></p>
<p><input id="msg" type="text" value="hello" size="40"> <button id="send">Send</button></p>
<div id="log"></div>
<script>
const status = document.getElementById('status');
const msg = document.getElementById('msg');
const log = document.getElementById('log');
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/');
ws.onopen = () => { status.textContent = 'open'; };
ws.onclose = () => { status.textContent = 'closed'; };
ws.onmessage = (event) => {
  const line = document.createElement('div');
  line.textContent = typeof event.data === 'string' ? event.data : '[binary]';
  log.appendChild(line);
};
document.getElementById('send').onclick = () => { ws.send(msg.value); };
msg.addEventListener('keydown', (event) => { if (event.key === 'Enter') ws.send(msg.value); });
</script>
</body>
</html>
)HTML";

}  // namespace wsgate::gateway
