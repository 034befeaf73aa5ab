// The `frames` relay of a proxied WebSocket (--route PREFIX=POOL,relay=frames):
// wsgate terminates WebSocket on both sides instead of passing bytes.
//  - Client side: the loop's own server connection (ws/relay_table.hpp,
//    accept_relayed) once the upstream said 101, so every client frame passes
//    the loop's decoder (masking, sizes, UTF-8, control frames, close codes)
//    and a violation closes the client (1002/1007/1009) without a byte of it
//    going upstream. permessage-deflate is negotiated with the client as the
//    loop negotiates it.
//  - Upstream side: wsgate is the WebSocket client (RFC 6455 §4.1): its own
//    Sec-WebSocket-Key, the 101 checked (Sec-WebSocket-Accept), no extension
//    offered (compression per hop: the upstream is near, deflating there
//    costs CPU on both ends and would have to be undone to check nothing);
//    frames sent masked with a fresh key per frame (§5.3), server frames
//    decoded unmasked with the same decoder.
//  - Each message piece is relayed as one frame as it comes (a message is
//    not collected first): client pieces are masked in place in the receive
//    buffer and queued (by reference from --zero-copy-min-bytes on),
//    upstream pieces go to the client by reference too.
//  - Pings are answered at the edge on both sides; pongs are not relayed.
//  - Close: a client close frame goes upstream with its code and reason;
//    a client that failed or vanished: 1001 upstream. An upstream close frame
//    goes to the client with its code and reason; an upstream that ended
//    without one, or broke the protocol: the client gets 1014 (bad gateway,
//    RFC 6455 §7.4.1 / IANA registry).
#pragma once

#include <strings.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "proto/close_code.hpp"
#include "proto/frame_decoder.hpp"
#include "proto/frame_writer.hpp"
#include "proto/http_request.hpp"
#include "proto/http_response.hpp"
#include "proto/opcode.hpp"
#include "proto/unmask.hpp"
#include "proxy/forwarded_headers.hpp"
#include "proxy/upstream_handshake.hpp"
#include "ws/application.hpp"
#include "ws/connection_handle.hpp"
#include "ws/connection_log.hpp"
#include "ws/relay_table.hpp"

namespace wsgate::proxy {

// RFC 6455 §7.4.1 (IANA WebSocket close code registry): the server, acting
// as a gateway, got an invalid response from the upstream server.
inline constexpr uint16_t kBadGateway = 1014;
inline constexpr uint16_t kGoingAway = 1001;
inline constexpr uint16_t kNoStatus = 1005;

// One proxied WebSocket in frames relay (owned by its tunnel).
struct FramesSession {
    explicit FramesSession(const proto::FrameDecoderConfig& config) : decoder(config) {}

    proto::FrameDecoder decoder;  // the upstream's frames (unmasked)
    std::string answer;           // the upstream's response head while it is cut
    std::string client_extensions;
    char key[kWebSocketKeyLength];  // ours, sent upstream
    char client_key[kWebSocketKeyLength];
    bool open = false;                 // the upstream said 101 and the client got its 101
    bool upstream_in_message = false;  // a fragmented message to the upstream is unfinished
    bool close_sent_upstream = false;  // our close frame is queued toward the upstream
    bool feeding = false;              // inside the upstream decoder (no freeing)
    bool client_gone = false;          // on_close came while feeding
};

// What a side's event left of the tunnel.
enum class FramesStep : uint8_t {
    keep,     // relaying goes on
    refused,  // the upstream refused the upgrade: relay its answer as bytes (tunnel)
    ended,    // both sides are finished or closing: free the tunnel
};

class FramesRelay {
  public:
    explicit FramesRelay(uint64_t max_message_bytes) {
        upstream_config_.max_message_bytes = max_message_bytes;
        upstream_config_.expect_masked = false;
    }

    // A session for a client's validated upgrade, and the head to send
    // upstream (our key, no extension offer). nullptr when no random key
    // could be had.
    std::unique_ptr<FramesSession> begin(const proto::HttpRequest& request,
                                         std::string_view client_address, std::string& head) {
        auto s = std::make_unique<FramesSession>(upstream_config_);
        if (!make_websocket_key(s->key)) return nullptr;
        std::string_view client_key = request.header("Sec-WebSocket-Key");
        if (client_key.size() != kWebSocketKeyLength) return nullptr;  // validated: 24
        std::memcpy(s->client_key, client_key.data(), kWebSocketKeyLength);
        for (size_t i = 0; i < request.header_count; ++i) {
            const proto::HttpHeader& h = request.headers[i];
            if (h.name.size() == 24 &&
                strncasecmp(h.name.data(), "Sec-WebSocket-Extensions", 24) == 0) {
                if (!s->client_extensions.empty()) s->client_extensions += ", ";
                s->client_extensions += h.value;
            }
        }
        head = forwarded_request_head(request, client_address, "http",
                                      std::string_view(s->key, kWebSocketKeyLength));
        return s;
    }

    // A session handed over by the process before this one (live upgrade):
    // open, moved with both decoders between messages, so a fresh decoder
    // continues it exactly.
    std::unique_ptr<FramesSession> adopted() const {
        auto s = std::make_unique<FramesSession>(upstream_config_);
        s->open = true;
        return s;
    }

    // Bytes from the upstream: its answer, then frames. `taken`: how many
    // were used (the rest waits for on_stream_drained of the client).
    template <class Loop>
    FramesStep upstream_data(Loop& loop, FramesSession& s, ws::ConnectionHandle client,
                             ws::ConnectionHandle upstream, std::span<uint8_t> bytes,
                             size_t& taken) {
        taken = 0;
        if (!s.open) {
            FramesStep step = read_answer(loop, s, client, upstream, bytes, taken);
            if (step != FramesStep::keep || !s.open) return step;
            bytes = bytes.subspan(taken);
        }
        if (s.close_sent_upstream) {
            taken += bytes.size();  // after our close: dropped until its FIN
            return FramesStep::keep;
        }
        if (bytes.empty()) return FramesStep::keep;
        // The client's queue over the cap: the upstream waits (a slow client
        // stops reads from its upstream). One receive buffer may pass it.
        if (loop.over_cap(client)) return FramesStep::keep;
        UpstreamSink<Loop> sink{*this, loop, s, client, upstream};
        // Until the end of this call the tunnel must outlive whatever the
        // client does (a relayed piece may fail it, loop.close below ends it):
        // on_close only notes client_gone meanwhile, the caller frees.
        s.feeding = true;
        proto::DecodeResult r = s.decoder.feed(bytes.data(), bytes.size(), sink);
        taken += bytes.size();
        FramesStep step = FramesStep::ended;
        if (s.client_gone) {
            // The client closed (or failed on a relayed piece) meanwhile.
            close_upstream(loop, s, upstream, kGoingAway, "client gone");
        } else if (r.error != proto::CloseCode::none) {
            // RFC 6455 §7.1.7: the upstream broke the protocol: fail it with
            // the decoder's code; the client hears 1014.
            close_upstream(loop, s, upstream, static_cast<uint16_t>(r.error), "protocol violation");
            loop.close(client, kBadGateway, "upstream protocol violation");
        } else if (r.closed) {
            // RFC 6455 §5.5.1: answer with the same code, then the client
            // gets the upstream's code and reason.
            uint16_t code = sink.close_code;
            close_upstream(loop, s, upstream, code == kNoStatus ? 0 : code, {});
            loop.close(client, code == kNoStatus ? 0 : code,
                       std::string_view(sink.close_reason, sink.close_reason_len));
        } else {
            step = FramesStep::keep;
        }
        s.feeding = false;
        return step;
    }

    // The next piece of a client message (checked by the loop's decoder,
    // uncompressed): one masked frame upstream. The piece lies in the loop's
    // receive buffer or inflate scratch, which nothing reads after this call,
    // so it is masked in place rather than copied (RFC 6455 §5.3).
    template <class Loop>
    void client_piece(Loop& loop, FramesSession& s, ws::ConnectionHandle client,
                      ws::ConnectionHandle upstream, proto::Opcode opcode,
                      std::span<const uint8_t> piece, bool last) {
        if (s.close_sent_upstream) return;
        if (piece.empty() && !last) return;
        uint8_t op =
            static_cast<uint8_t>(s.upstream_in_message ? proto::Opcode::continuation : opcode);
        uint8_t header[kMaxClientFrameHeader];
        uint32_t key = keys_.next();
        size_t n = write_masked_frame_header(header, op, last, piece.size(), key);
        auto* payload = const_cast<uint8_t*>(piece.data());
        proto::unmask(payload, piece.size(), key, 0);  // masking is the same XOR
        loop.push_stream(upstream, {header, n});
        ws::SendResult r = loop.push_stream(upstream, piece);
        s.upstream_in_message = !last;
        // A slow upstream stops reads from its client until on_stream_drained.
        if (r == ws::SendResult::over_cap) loop.pause_reading(client);
    }

    // The client's close frame: its code and reason go upstream.
    template <class Loop>
    void client_close_frame(Loop& loop, FramesSession& s, ws::ConnectionHandle upstream,
                            uint16_t code, std::string_view reason) {
        close_upstream(loop, s, upstream, code == kNoStatus ? 0 : code, reason);
    }

    // The client stopped being open (its close, a violation, gone, idle):
    // the upstream gets 1001 unless the client's own close went up already.
    template <class Loop>
    void client_closed(Loop& loop, FramesSession& s, ws::ConnectionHandle upstream, uint16_t code) {
        close_upstream(loop, s, upstream, kGoingAway,
                       code == kGoingAway ? "going away" : "client gone");
    }

    // A keepalive ping upstream (--upstream-ping-interval): its pong is
    // input, which keeps the upstream side of an idle relay from the loop's
    // --idle-timeout.
    template <class Loop>
    void ping_upstream(Loop& loop, FramesSession& s, ws::ConnectionHandle upstream) {
        if (!s.open || s.close_sent_upstream) return;
        uint8_t frame[proto::kMaxServerControlFrame + 4];
        size_t n = proto::write_control_frame(frame + 4, proto::Opcode::ping, {});
        push_control(loop, upstream, frame, n);
    }

    // Our close frame (masked) upstream, then FIN once it is out
    // (finish_stream); what the upstream still sends is dropped.
    template <class Loop>
    void close_upstream(Loop& loop, FramesSession& s, ws::ConnectionHandle upstream, uint16_t code,
                        std::string_view reason) {
        if (s.close_sent_upstream) return;
        s.close_sent_upstream = true;
        uint8_t frame[proto::kMaxServerControlFrame + 4];
        size_t n = proto::write_close_frame(frame + 4, code, reason);
        push_control(loop, upstream, frame, n);
        loop.finish_stream(upstream);
    }

  private:
    template <class Loop>
    struct UpstreamSink {
        FramesRelay& relay;
        Loop& loop;
        FramesSession& s;
        ws::ConnectionHandle client;
        ws::ConnectionHandle upstream;
        std::span<uint8_t> last_piece{};
        size_t last_headroom = 0;
        uint16_t close_code = 0;
        uint8_t close_reason_len = 0;
        char close_reason[proto::kMaxCloseReason] = {};

        void on_frame_begin(const proto::DataFrame&) {}
        void on_frame_payload(std::span<uint8_t> chunk) {
            if (s.decoder.payload_remaining() == 0 && s.decoder.frame_fin()) {
                // Held until on_frame_end(true): text may still end inside a
                // code point, and an invalid message must not reach the client whole.
                last_piece = chunk;
                last_headroom = s.decoder.payload_headroom();
                return;
            }
            loop.relay_piece(client, s.decoder.message_opcode(), chunk, false,
                             s.decoder.payload_headroom());
        }
        void on_frame_end(bool message_end) {
            if (!message_end) return;
            loop.relay_piece(client, s.decoder.message_opcode(), last_piece, true, last_headroom);
            last_piece = {};
        }
        void on_ping(std::span<const uint8_t> payload) {
            // RFC 6455 §5.5.3: answered here, masked (the client never sees it).
            uint8_t frame[proto::kMaxServerControlFrame + 4];
            size_t n = proto::write_control_frame(frame + 4, proto::Opcode::pong, payload);
            relay.push_control(loop, upstream, frame, n);
        }
        void on_pong(std::span<const uint8_t>) {}
        void on_close(uint16_t code, std::string_view reason) {
            close_code = code;
            close_reason_len = static_cast<uint8_t>(std::min(reason.size(), sizeof(close_reason)));
            std::memcpy(close_reason, reason.data(), close_reason_len);
        }
    };

    // A whole unmasked control frame written at frame + 4 (n bytes) goes out
    // masked: its header moves 4 bytes back and the key follows it.
    template <class Loop>
    void push_control(Loop& loop, ws::ConnectionHandle upstream, uint8_t* frame, size_t n) {
        uint8_t* server = frame + 4;
        const size_t header = 2;  // a control payload is <= 125 bytes: 7-bit length
        uint32_t key = keys_.next();
        frame[0] = server[0];
        frame[1] = static_cast<uint8_t>(server[1] | 0x80);
        std::memcpy(frame + header, &key, sizeof(key));
        // The payload stays where it is (frame + 6), masked in place.
        proto::unmask(frame + header + 4, n - header, key, 0);
        loop.push_stream(upstream, {frame, n + 4});
    }

    template <class Loop>
    FramesStep read_answer(Loop& loop, FramesSession& s, ws::ConnectionHandle client,
                           ws::ConnectionHandle upstream, std::span<uint8_t> bytes, size_t& taken) {
        std::string_view view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        size_t kept = s.answer.size();
        if (kept > 0) {
            s.answer.append(view.substr(0, kMaxUpstreamHeadBytes - kept));
            view = s.answer;
        }
        UpstreamAnswer a = read_upstream_answer(view, std::string_view(s.key, kWebSocketKeyLength));
        switch (a.kind) {
            case UpstreamAnswer::Kind::incomplete:
                if (kept == 0) s.answer.assign(view);
                taken = bytes.size();
                return FramesStep::keep;
            case UpstreamAnswer::Kind::refused:
                // Relayed as it came: the kept part, then the rest as a tunnel.
                if (kept > 0) {
                    loop.send_stream(client,
                                     {reinterpret_cast<const uint8_t*>(s.answer.data()), kept});
                }
                taken = 0;
                return FramesStep::refused;
            case UpstreamAnswer::Kind::invalid:
                // An upstream's fault, but a client can make it repeat at will.
                io::log_limited(kUpstreamRefusedEvent, 0, ws::request_id(client),
                                {{"reason", a.reason}, {"status", 502}},
                                "proxy: upstream answer refused: %.*s: 502",
                                static_cast<int>(a.reason.size()), a.reason.data());
                refuse_client(loop, client, a.reason);
                loop.finish_stream(upstream);
                taken = bytes.size();
                return FramesStep::ended;
            case UpstreamAnswer::Kind::switching:
                break;
        }
        taken = a.head_length - kept;  // of this buffer
        loop.accept_relayed(client, std::string_view(s.client_key, kWebSocketKeyLength), a.protocol,
                            s.client_extensions);
        std::string().swap(s.answer);
        std::string().swap(s.client_extensions);
        s.open = true;
        return FramesStep::keep;
    }

    template <class Loop>
    static void refuse_client(Loop& loop, ws::ConnectionHandle client, std::string_view reason) {
        char response[512];
        size_t n = proto::write_http_error(response, sizeof(response), 502, reason);
        loop.send_stream(client, {reinterpret_cast<const uint8_t*>(response), n});
        loop.finish_stream(client);
    }

    static constexpr io::LogEvent kUpstreamRefusedEvent{"proxy_upstream_refused",
                                                        io::LogLevel::warn};
    proto::FrameDecoderConfig upstream_config_;
    MaskKeySource keys_;
};

}  // namespace wsgate::proxy
