// The WebSocket events of a test application that only cares about HTTP or
// byte streams: opens, messages and closes are ignored. An application
// derives from it and declares the events it does handle (a member of the
// same name hides the one here).
#pragma once

#include <cstdint>
#include <span>

#include "proto/opcode.hpp"
#include "ws/connection_handle.hpp"
#include "ws/outbound.hpp"

namespace wsgate::test {

struct QuietWebSocketApp {
    template <class Loop>
    void on_open(Loop&, wsgate::ws::ConnectionHandle) {}
    template <class Loop>
    void on_message_piece(Loop&, wsgate::ws::ConnectionHandle, wsgate::ws::Outbound&,
                          wsgate::proto::Opcode, std::span<const uint8_t>, bool) {}
    template <class Loop>
    void on_close(Loop&, wsgate::ws::ConnectionHandle, uint16_t) {}
};

}  // namespace wsgate::test
