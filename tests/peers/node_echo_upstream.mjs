// A Node `ws` server as a proxy upstream: echoes every message (text stays
// text, binary stays binary), permessage-deflate offered.
//   node node_echo_upstream.mjs PORT
// Prints "ready" once listening.
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2]),
                                  perMessageDeflate: true, maxPayload: 64 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.log('ready'));
