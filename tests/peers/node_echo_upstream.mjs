// A Node `ws` server as a proxy upstream: echoes every message (text stays
// text, binary stays binary), permessage-deflate offered.
//   node node_echo_upstream.mjs PORT
// Prints "ready" once listening. `GET /stats` answers JSON
// {"opened", "closed", "open"}: the WebSocket connections it accepted, saw
// end (by a close frame or not) and holds now, so a test can tell that no
// connection was closed or reopened behind the proxy.
import http from 'node:http';
import { WebSocketServer } from 'ws';

const stats = { opened: 0, closed: 0, open: 0 };
const server = http.createServer((req, res) => {
  if (req.url === '/stats') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  res.writeHead(404);
  res.end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: true, maxPayload: 64 << 20 });
wss.on('connection', (ws) => {
  stats.opened++;
  stats.open++;
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('close', () => {
    stats.closed++;
    stats.open--;
  });
});
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
