#pragma once
// The receive side of one wsload connection: reads the server's frames, checks
// each echoed data message byte for byte against what was sent (inflating it
// first when it arrives compressed, RFC 7692 §7.2.2), and hands control frames
// to the caller. Independent of sockets, so it can be tested with every split.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "client_codec.hpp"
#include "proto/message_inflater.hpp"

namespace wsgate::bench {

// The message the next echo must carry: the oldest one outstanding.
struct Expected {
    const std::uint8_t* bytes = nullptr;  // null: nothing outstanding (echo unsolicited)
    std::uint32_t length = 0;
    std::uint8_t opcode = kOpBinary;
};

class EchoReader {
  public:
    enum class Status {
        kNeedMore,   // all of `data` used, nothing complete
        kMessage,    // an echo was verified completely: take it off the queue
        kControl,    // a control frame is complete: control_opcode()/control_payload()
        kMismatch,   // wrong bytes, length or type, or an echo nobody asked for
        kProtocol,   // a malformed frame or fragment sequence (RFC 6455 §5)
        kBadDeflate  // compressed data that does not inflate (RFC 7692 §8.2)
    };

    // Accepts RSV1 messages from now on and inflates them with `settings`
    // (window = the server's agreed window, context as agreed) into `scratch`,
    // which the caller keeps alive (one buffer may serve many readers).
    void enable_inflate(const proto::InflaterSettings& settings, std::span<std::uint8_t> scratch);
    bool inflating() const { return inflate_ != nullptr; }

    // Consumes from `data` until something completes or `data` is used up;
    // `used` is how much was taken. Call again with the rest (and the then oldest
    // expectation) after kMessage/kControl. After kMismatch/kProtocol/kBadDeflate
    // the reader is unusable.
    Status next(std::span<const std::uint8_t> data, std::size_t& used, const Expected& expect);

    std::uint8_t control_opcode() const { return control_opcode_; }
    const std::string& control_payload() const { return control_in_; }
    // After kMessage: payload bytes the echo took on the wire (compressed when
    // compressed() is true), headers excluded.
    std::uint64_t message_wire_bytes() const { return wire_bytes_; }
    bool message_compressed() const { return compressed_; }

  private:
    struct Inflate {
        proto::MessageInflater inflater;
        std::span<std::uint8_t> scratch;
    };

    Status on_header(const Expected& expect);
    Status on_payload(std::span<const std::uint8_t> payload, const Expected& expect);
    Status on_frame_end(const Expected& expect);
    Status verify(std::span<const std::uint8_t> plain, const Expected& expect);

    FrameReader frames_;
    bool in_message_ = false;  // a data message's first frame has arrived
    bool control_frame_ = false;
    bool compressed_ = false;  // the current (or last) message had RSV1
    std::uint8_t control_opcode_ = 0;
    std::uint32_t verified_ = 0;  // plain bytes of the current message checked so far
    std::uint64_t wire_bytes_ = 0;
    std::string control_in_;
    std::unique_ptr<Inflate> inflate_;
};

}  // namespace wsgate::bench
