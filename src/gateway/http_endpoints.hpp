// The gateway's own plain-HTTP endpoints on the WebSocket port:
// GET|HEAD / (a demo page), GET|HEAD /healthz, 404 elsewhere, 405 for other
// methods on known paths.
#pragma once

#include "proto/http_request.hpp"
#include "ws/outbound.hpp"

namespace wsgate::gateway {

// Echo mode: / is the echo demo page. Queues the complete response to
// `request` on `out`.
void serve_http(const proto::HttpRequest& request, bool keep_alive, ws::Outbound& out);

// Pub/sub mode (every plain request outside /api/): / is the pub/sub chat
// page; a plain request for the client endpoint /connection/websocket, which
// only answers WebSocket upgrades, gets 426 with "Upgrade: websocket"
// (RFC 9110 §15.5.22) and "Sec-WebSocket-Version: 13" (RFC 6455 §4.4).
void serve_pubsub_http(const proto::HttpRequest& request, bool keep_alive, ws::Outbound& out);

}  // namespace wsgate::gateway
