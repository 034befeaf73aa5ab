// Echo mode: every message comes back with the same opcode and bytes, piece
// by piece as it arrives (so a message never has to be assembled in memory).
#pragma once

#include <span>

#include "gateway/http_endpoints.hpp"
#include "proto/opcode.hpp"
#include "ws/outbound.hpp"

namespace wsgate::gateway {

struct EchoApp {
    void on_message_piece(ws::Outbound& out, proto::Opcode opcode, std::span<const uint8_t> piece,
                          bool last) {
        out.send_message_piece(opcode, piece, last);
    }
    void on_http_request(const proto::HttpRequest& request, std::span<const uint8_t>,
                         bool keep_alive, ws::Outbound& out) {
        serve_http(request, keep_alive, out);
    }
};

}  // namespace wsgate::gateway
