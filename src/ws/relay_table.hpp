// Relaying WebSocket messages between two connections of a loop (a reverse
// proxy's `frames` relay): what a loop offers beyond byte streams, and the
// optional hook that hears a peer's close frame. A relay stops reading one
// side while the other side's queue is over --max-queued-bytes; a message
// piece already decoded cannot be handed back, so relay sends queue even over
// the cap (at most one receive buffer's worth past it) and say so.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "proto/opcode.hpp"
#include "ws/application.hpp"
#include "ws/connection_handle.hpp"
#include "ws/stream_application.hpp"

namespace wsgate::ws {

template <class L>
concept RelayTable = StreamTable<L> &&
    requires(L& loop, ConnectionHandle h, std::string_view text, proto::Opcode opcode,
             std::span<const uint8_t> bytes, bool flag, size_t headroom) {
    // A relayed upgrade (relay_upgrade) answered by the loop after all, once
    // the app knows it may be: 101 with the accept value of the client's
    // `key`, `protocol` (empty: none) and the permessage-deflate agreement
    // the loop negotiates from `extension_offers` (the client's
    // Sec-WebSocket-Extensions value, RFC 7692 §5). From then on the
    // connection is an open WebSocket with every check of the loop's frame
    // decoder; the app hears on_message_piece and on_close, no stream
    // callbacks; app_state is kept. Bytes the client sent meanwhile are
    // decoded next. False when the connection is gone.
    { loop.accept_relayed(h, text, text, text) } -> std::same_as<bool>;
    // The next piece of a message relayed to the open WebSocket `h` (one
    // frame, compressed per its agreement), queued even over the cap.
    // `headroom`: bytes right before the piece, in the receive buffer being
    // delivered, free to be overwritten (a parsed frame header), so a large
    // piece goes out by reference to that buffer. over_cap when the queue is
    // now over --max-queued-bytes: on_stream_drained(h) follows once it is
    // under half. gone when `h` is not open.
    { loop.relay_piece(h, opcode, bytes, flag, headroom) } -> std::same_as<SendResult>;
    // send_stream, but queued even over the cap; over_cap as above.
    { loop.push_stream(h, bytes) } -> std::same_as<SendResult>;
    // Stops reading the open WebSocket `h` until resume_reading(h); input
    // received already is still decoded.
    { loop.pause_reading(h) } -> std::same_as<bool>;
    // True when the queue of `h` is over the cap (on_stream_drained(h)
    // follows once it is under half).
    { loop.over_cap(h) } -> std::same_as<bool>;
};

// An app that hears the close frame a WebSocket peer sent (RFC 6455 §5.5.1:
// its code, 1005 when it had none, and reason, valid during the call), before
// the loop answers it and before on_close. Optional.
template <class A, class L>
concept CloseFrameObserver = Application<A, L> &&
    requires(A& app, L& loop, ConnectionHandle h, uint16_t code, std::string_view reason) {
    { app.on_peer_close(loop, h, code, reason) } -> std::same_as<void>;
};

}  // namespace wsgate::ws
