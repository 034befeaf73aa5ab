#pragma once
// The client half of RFC 6455 that wsload needs: the opening handshake request,
// checking the server's 101 answer, writing masked frames, and an incremental
// reader for the server's (unmasked) frames. Independent of sockets.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace wsgate::bench {

inline constexpr std::uint8_t kOpContinuation = 0x0;
inline constexpr std::uint8_t kOpText = 0x1;
inline constexpr std::uint8_t kOpBinary = 0x2;
inline constexpr std::uint8_t kOpClose = 0x8;
inline constexpr std::uint8_t kOpPing = 0x9;
inline constexpr std::uint8_t kOpPong = 0xA;
inline constexpr std::size_t kMaxClientHeader = 14;  // 2 + 8 (64-bit length) + 4 (mask), §5.2
inline constexpr std::uint16_t kCloseNormal = 1000;

// Fills `key` with a fresh Sec-WebSocket-Key (base64 of 16 random bytes, §4.1) and
// `expected_accept` with the Sec-WebSocket-Accept the server must return (§4.2.2:
// base64(SHA-1(key + GUID))). Returns the complete GET request; a non-empty
// `extensions` is sent as the Sec-WebSocket-Extensions value (§9.1).
std::string make_upgrade_request(std::string_view host_port, std::string_view path,
                                 std::string& expected_accept, std::string_view extensions = {});

// The accept value for a given Sec-WebSocket-Key (§4.2.2); for tests.
std::string accept_for_key(std::string_view key);

enum class HandshakeResult { kIncomplete, kOk, kBadStatus, kBadAccept, kBadHeaders };

// Inspects the bytes received so far. kIncomplete until the empty line; then checks
// status 101, Upgrade: websocket, Connection: upgrade and the accept value.
// `header_end` receives the offset just past the empty line when complete.
// `extensions` (when not null) receives every Sec-WebSocket-Extensions line's
// value joined with ", " (RFC 9110 §5.3), empty when there is none; the caller
// judges it (an extension the client did not offer fails the connection, §4.1).
HandshakeResult check_upgrade_response(std::string_view received, std::string_view expected_accept,
                                       std::size_t& header_end, std::string* extensions = nullptr);

// Writes a masked client frame header (FIN set) for `payload_length` bytes into `out`
// (at least kMaxClientHeader bytes) and returns its length. `compressed` sets RSV1,
// the "Per-Message Compressed" bit of permessage-deflate (RFC 7692 §6).
std::size_t write_client_header(std::uint8_t* out, std::uint8_t opcode,
                                std::uint64_t payload_length, const std::uint8_t mask[4],
                                bool compressed = false);

// XORs `data` with the mask, starting at mask phase `offset` (§5.3).
void apply_mask(std::uint8_t* data, std::size_t length, const std::uint8_t mask[4],
                std::size_t offset);

// Builds a whole masked frame (random mask) into a string; for control frames and
// the occasional close, not the hot path.
std::string make_masked_frame(std::uint8_t opcode, std::span<const std::uint8_t> payload);

// Appends a whole masked frame with key `mask` to `out`, without a temporary:
// the publishers' path, one frame per publication.
void append_masked_frame(std::string& out, std::uint8_t opcode, std::string_view payload,
                         const std::uint8_t mask[4]);

// Fills `out` with cryptographically random bytes (getrandom).
void random_bytes(std::uint8_t* out, std::size_t length);

// Incremental reader of server frames: feed arbitrary chunks; it reports each
// frame's header, then the payload bytes as they arrive, without buffering them.
class FrameReader {
  public:
    struct Header {
        bool fin = false;
        bool compressed = false;  // RSV1 (only when allow_compressed(true))
        std::uint8_t opcode = 0;
        std::uint64_t length = 0;
    };
    enum class Status { kNeedMore, kHeader, kPayload, kProtocolError };

    // After permessage-deflate was negotiated RSV1 may be set on the first frame of
    // a data message (RFC 7692 §6); otherwise any RSV bit is a protocol error (§5.2).
    void allow_compressed(bool allow) { allow_compressed_ = allow; }

    // Consumes from `data`; returns what happened and how many bytes were used.
    // kHeader: header() is valid. kPayload: `payload` views the next payload bytes.
    // After either, at_frame_end() tells whether the frame's payload is complete
    // (true right after the header of a 0-length frame).
    Status next(std::span<const std::uint8_t> data, std::size_t& used,
                std::span<const std::uint8_t>& payload);
    const Header& header() const { return header_; }
    bool at_frame_end() const { return state_ == State::kEnd; }

  private:
    enum class State { kHeader, kPayload, kEnd };
    State state_ = State::kHeader;
    bool allow_compressed_ = false;
    std::uint8_t pending_[kMaxClientHeader] = {};
    std::uint8_t pending_length_ = 0;
    Header header_;
    std::uint64_t remaining_ = 0;
};

}  // namespace wsgate::bench
