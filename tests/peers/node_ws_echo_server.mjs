// A Node `ws` echo server, an upstream for the proxy suites: every message
// back as it came (text as text, binary as binary), no compression.
//   node node_ws_echo_server.mjs PORT     prints "listening" once ready
import { WebSocket } from './node_ws_client.mjs';

const server = new WebSocket.Server({ host: '127.0.0.1', port: Number(process.argv[2]),
                                      perMessageDeflate: false, maxPayload: 64 << 20 });
server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.on('listening', () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
