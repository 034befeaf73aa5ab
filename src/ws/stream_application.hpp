// Byte streams in the reactor: connections whose bytes the loop does not
// parse, relayed by the application (a reverse proxy's tunnels). A stream
// is either an outbound TCP connection the app opened (connect), or an
// accepted connection whose WebSocket upgrade request the app took over
// (relay_upgrade) instead of the loop answering it. Optional: the loop
// checks for StreamApplication where it needs it; an app without it has no
// streams.
#pragma once

#include <sys/socket.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "proto/http_request.hpp"
#include "ws/application.hpp"
#include "ws/connection_handle.hpp"

namespace wsgate::ws {

// What a loop offers for streams, besides app_state (ConnectionTable).
template <class L>
concept StreamTable = requires(L& loop, ConnectionHandle h, const sockaddr* addr, socklen_t len,
                               uint32_t timeout_ms, int* error, std::span<const uint8_t> bytes,
                               sockaddr_storage& peer, socklen_t& peer_len) {
    // Opens a non-blocking TCP connection to addr (IPv4 or IPv6). Its handle,
    // with app_state 0; the app then hears on_connected, or on_stream_end with
    // the error (-ECONNREFUSED, -ETIMEDOUT once timeout_ms passed, ...). An
    // empty handle, and *error set, when it failed at once (no slot, no
    // descriptor, unreachable network): no callback follows.
    { loop.connect(addr, len, timeout_ms, error) } -> std::same_as<ConnectionHandle>;
    // Queues bytes on a connected stream: without a copy when they lie in the
    // receive buffer being delivered to on_stream_data (io_uring: the buffer
    // is lent to the send), else copied. over_cap (nothing queued) when its
    // queue is over --max-queued-bytes: the app hears on_stream_drained once
    // it is back under half, so a queue holds at most the cap plus one send.
    { loop.send_stream(h, bytes) } -> std::same_as<SendResult>;
    // Bytes on_stream_data left untaken are offered again (at the end of this
    // loop turn), then reading resumes.
    { loop.resume_reading(h) } -> std::same_as<bool>;
    // The app is done with the stream: FIN once its queued bytes are sent,
    // then closed when the peer's FIN comes (or after --close-timeout); what
    // it still receives is dropped. No on_stream_end follows.
    { loop.finish_stream(h) } -> std::same_as<bool>;
    // The address of the peer of any connection (a client's, for Forwarded).
    { loop.peer_address(h, peer, peer_len) } -> std::same_as<bool>;
};

template <class A, class L>
concept StreamApplication = Application<A, L> && StreamTable<L> &&
    requires(A& app, L& loop, ConnectionHandle h, std::span<uint8_t> bytes, int error) {
    // An outbound connection is established; reading has started.
    { app.on_connected(loop, h) } -> std::same_as<void>;
    // Bytes received on a stream. Returns how many the app took; the rest
    // waits (and the stream is not read) until loop.resume_reading(h).
    { app.on_stream_data(loop, h, bytes) } -> std::same_as<size_t>;
    // The queue of `h`, refused as over_cap by send_stream, is under half the cap.
    { app.on_stream_drained(loop, h) } -> std::same_as<void>;
    // The stream ended on its own: `error` 0 when the peer sent FIN, else
    // -errno (connect refused or timed out, reset, idle timeout -ETIMEDOUT,
    // server shutting down -ESHUTDOWN). The loop finishes or closes it; the
    // handle is stale once its bytes queued so far are sent.
    { app.on_stream_end(loop, h, error) } -> std::same_as<void>;
};

// An app whose streams include the clients' upgrades (a proxy); an app that
// only opens streams (a broker link) serves WebSocket upgrades itself.
template <class A, class L>
concept RelayApplication = StreamApplication<A, L> &&
    requires(A& app, L& loop, ConnectionHandle h, const proto::HttpRequest& request,
             std::string_view head) {
    // A valid WebSocket upgrade request (RFC 6455 §4.2.1) the app accepted
    // (UpgradeFilter): the connection is a stream from here on, nothing is
    // answered by the loop. `head` is the request head's bytes, valid during
    // the call only; bytes that followed it come to on_stream_data.
    { app.relay_upgrade(loop, h, request, head) } -> std::same_as<void>;
};

}  // namespace wsgate::ws
