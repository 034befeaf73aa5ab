// Echo mode: every message comes back to the connection it came from, with
// the same opcode and bytes, piece by piece as it arrives (so a message
// never has to be assembled in memory). Pieces go out through the
// connection's Outbound, which sends large ones straight from the receive
// buffer (zero copy) when the loop offers it. Echo keeps no per-connection
// state: on_open and on_close have nothing to do.
#pragma once

#include <span>

#include "gateway/http_endpoints.hpp"
#include "proto/opcode.hpp"
#include "ws/application.hpp"
#include "ws/connection_handle.hpp"
#include "ws/outbound.hpp"

namespace wsgate::gateway {

struct EchoApp {
    template <class Loop>
    void on_open(Loop&, ws::ConnectionHandle) {}
    template <class Loop>
    void on_message_piece(Loop&, ws::ConnectionHandle, ws::Outbound& out, proto::Opcode opcode,
                          std::span<const uint8_t> piece, bool last) {
        out.send_message_piece(opcode, piece, last);
    }
    template <class Loop>
    void on_close(Loop&, ws::ConnectionHandle, uint16_t) {}
    template <class Loop>
    ws::HttpAnswer on_http_request(Loop&, ws::ConnectionHandle, const proto::HttpRequest& request,
                                   std::span<const uint8_t>, bool keep_alive, ws::Outbound& out) {
        serve_http(request, keep_alive, out);
        return ws::HttpAnswer::now;
    }
};

}  // namespace wsgate::gateway
