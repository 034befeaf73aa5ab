// The gateway's own plain-HTTP endpoints on the WebSocket port:
// GET|HEAD / (demo page), GET|HEAD /healthz, 404 elsewhere, 405 for other
// methods on known paths.
#pragma once

#include "proto/http_request.hpp"
#include "ws/outbound.hpp"

namespace wsgate::gateway {

// Queues the complete response to `request` on `out`.
void serve_http(const proto::HttpRequest& request, bool keep_alive, ws::Outbound& out);

}  // namespace wsgate::gateway
