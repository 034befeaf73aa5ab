// The contract between a server loop and the application it runs, as
// concepts: what the loop offers an application (ConnectionTable) and what
// an application must answer (Application). Both are checked where the loop
// is instantiated; nothing here is virtual, so the per-message path is a
// direct (usually inlined) call.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "io/shared_bytes.hpp"
#include "proto/http_request.hpp"
#include "proto/opcode.hpp"
#include "ws/connection_handle.hpp"
#include "ws/loop_message.hpp"
#include "ws/outbound.hpp"
#include "ws/shared_message.hpp"

namespace wsgate::ws {

// What happened to a send addressed by handle.
enum class SendResult : uint8_t {
    queued,    // in the connection's output queue
    gone,      // no such open connection: stale handle, another loop's, closing or not a WebSocket
    busy,      // the connection is in the middle of sending a fragmented message; retry later
    over_cap,  // its output queue is over --max-queued-bytes (a slow consumer): nothing queued
};

// How an application answered a plain HTTP request.
enum class HttpAnswer : uint8_t {
    now,    // one complete response is queued on the Outbound it was given
    later,  // the app answers with ConnectionTable::respond_http, on the loop's thread
};

// What a loop offers its application, for any connection of the loop (not
// only the one a callback is about). Handles of other loops, and stale
// ones, are answered `gone` / nullptr / false, never dereferenced.
template <class L>
concept ConnectionTable = requires(L& loop, ConnectionHandle h, io::SharedBytes& frame,
                                   SharedMessage& shared, proto::Opcode opcode,
                                   std::span<const uint8_t> bytes, uint16_t code,
                                   std::string_view reason, bool flag) {
    // A whole frame built once (ws/shared_frame.hpp), queued by reference.
    { loop.send_frame(h, frame) } -> std::same_as<SendResult>;
    // One message for many connections: the frame the connection's
    // compression agreement reads, built once per agreement (ws/shared_message.hpp).
    { loop.send_shared(h, shared) } -> std::same_as<SendResult>;
    // A whole message (copied; compressed when the connection negotiated it).
    { loop.send_message(h, opcode, bytes) } -> std::same_as<SendResult>;
    // Starts the closing handshake (RFC 6455 §7.1.2); false when gone.
    { loop.close(h, code, reason) } -> std::same_as<bool>;
    // The connection's one word of application state; nullptr when gone.
    { loop.app_state(h) } -> std::same_as<uint64_t*>;
    // The complete response (head and body) to the request the app answered
    // HttpAnswer::later on the HTTP connection `h`; `flag`: keep the
    // connection alive after it (the next request is read), else FIN after
    // it. False, and nothing queued, when the connection is gone or has no
    // response pending (answered already, or by the loop's 504 after
    // LoopSettings::http_response_timeout_ticks).
    { loop.respond_http(h, bytes, flag) } -> std::same_as<bool>;
    { loop.loop_id() } -> std::convertible_to<uint32_t>;
};

// What an application answers. Every callback runs on the loop's thread,
// gets the loop (to reach any of its connections) and, for WebSocket
// connections, the handle of the connection it is about.
template <class A, class L>
concept Application = ConnectionTable<L> &&
    requires(A& app, L& loop, ConnectionHandle h, Outbound& out, proto::Opcode opcode,
             std::span<const uint8_t> bytes, bool flag, uint16_t code,
             const proto::HttpRequest& request) {
    // The WebSocket handshake completed (101 queued); app_state is 0.
    { app.on_open(loop, h) } -> std::same_as<void>;
    // The next piece of an incoming text/binary message, in order; the
    // last one has `flag` (last) set and may be empty. Text is valid
    // UTF-8 so far. `out` sends on this connection and may send the
    // piece without copying it (Outbound::send_message_piece).
    { app.on_message_piece(loop, h, out, opcode, bytes, flag) } -> std::same_as<void>;
    // The connection stopped being open (after on_open only), as soon as a
    // close frame went out or came in or the peer vanished, not after the
    // closing handshake's linger: `code` is the first close code of the two
    // sides (the server's when it closed first), else 1006 (RFC 6455
    // §7.1.5: closed without a close frame). app_state(h) still answers
    // here (to free what it names); sends are refused; the handle is stale
    // once on_close returns.
    { app.on_close(loop, h, code) } -> std::same_as<void>;
    // A plain HTTP request and its whole body (`flag`: keep-alive) on the
    // connection `h`. Either the app queues one complete response on `out`
    // and answers HttpAnswer::now, or it answers HttpAnswer::later and calls
    // loop.respond_http(h, ...) once, from a later callback (an inbox
    // message, say). Until then the connection reads no further request
    // (pipelined bytes wait, bounded: ws/parked_input.hpp), and the loop
    // answers 504 itself after LoopSettings::http_response_timeout_ticks.
    // The request and body views are valid during the call only.
    { app.on_http_request(loop, h, request, bytes, flag, out) } -> std::same_as<HttpAnswer>;
};

// An application that chooses which WebSocket upgrades it serves (by path,
// say): a valid upgrade it does not accept gets 404. Optional: without it
// every valid upgrade is accepted.
template <class A>
concept UpgradeFilter = requires(A& app, const proto::HttpRequest& request) {
    { app.accept_upgrade(request) } -> std::same_as<bool>;
};

// An application that also takes what other threads post to the loop's
// inbox (LoopMessageKind::app), on the loop's thread, in posting order per
// producer. Optional: the loop checks for it with this concept.
template <class A, class L>
concept InboxApplication = Application<A, L> && requires(A& app, L& loop, const LoopMessage& m) {
    { app.on_inbox_message(loop, m) } -> std::same_as<void>;
};

// An application whose settings a reload may change: after the loop adopted
// a new snapshot (between events, LoopMessageKind::settings) it hands the
// application its part, whose type the application itself chose when the
// snapshot was built (e.g. pubsub::HubSettings). Optional: an application
// without it keeps what it was constructed with.
template <class A, class L>
concept ReloadableApplication = Application<A, L> &&
    requires(A& app, L& loop, const std::shared_ptr<const void>& part) {
    { app.on_settings(loop, part) } -> std::same_as<void>;
};

// An application with work of its own in time (pings, expiry) and queued
// posts to retry: after every turn the loop calls on_turn_end with its
// monotonic clock (ms since the loop started), and sleeps no longer than
// ms_until_due(now_ms) (-1: nothing due).
template <class A, class L>
concept TickingApplication = Application<A, L> && requires(A& app, L& loop, int64_t now_ms) {
    { app.on_turn_end(loop, now_ms) } -> std::same_as<void>;
    { app.ms_until_due(now_ms) } -> std::convertible_to<int>;
};

}  // namespace wsgate::ws
