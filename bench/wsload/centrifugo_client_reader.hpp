#pragma once
// The receive side of a Centrifugo JSON client (protocol v2, as wsgate --mode
// pubsub and npm centrifuge 5.x speak it; docs/centrifugo-protocol.md): joins a
// connection's WebSocket frames into text messages, splits each message into its
// '\n'-separated replies and pushes, and tells them apart. wsload reads only
// what it needs, with plain searches, not a JSON parser: a subscriber may have to
// read a million pushes a second on one core. Independent of sockets.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "client_codec.hpp"

namespace wsgate::bench {

// One reply or push.
struct ServerLine {
    enum class Kind : std::uint8_t {
        kPing,             // `{}`: the server's ping, answered with `{}`
        kReply,            // `{"id":N,"<method>":{...}}`
        kErrorReply,       // `{"id":N,"error":{"code":C,...}}`
        kPublication,      // `{"push":{"channel":C,"pub":{"data":D,...,"offset":O}}}`
        kUnsubscribePush,  // the server ended a subscription
        kDisconnectPush,   // the server ends the connection
        kOtherPush,        // join, leave, message, ...: not used by wsload
        kMalformed,        // none of the above
    };
    Kind kind = Kind::kMalformed;
    std::uint32_t id = 0;          // replies
    std::uint32_t error_code = 0;  // error replies
    bool has_offset = false;       // publications, subscribe replies with a position
    std::uint64_t offset = 0;
    std::string_view channel;  // publications
    std::string_view data;     // publications: from the data value's first byte to the line's end
};

ServerLine classify_line(std::string_view line);

// Calls `f(line)` for every non-empty line of a message (blank lines are
// skipped, as centrifuge-js's decodeReplies does).
template <class F>
void for_each_line(std::string_view message, F&& f) {
    while (!message.empty()) {
        const std::size_t nl = message.find('\n');
        const std::string_view line = message.substr(0, nl);
        if (!line.empty()) f(line);
        if (nl == std::string_view::npos) break;
        message.remove_prefix(nl + 1);
    }
}

// Joins the server's frames (RFC 6455 §5.4 fragmentation) into whole messages.
class ServerMessageReader {
  public:
    enum class Status {
        kNeedMore,  // all of `data` used, nothing complete
        kText,      // message() holds a whole text message
        kControl,   // control_opcode()/control_payload() hold a control frame
        kProtocol,  // malformed framing, a binary message, or one over the size limit
    };
    explicit ServerMessageReader(std::size_t max_message_bytes)
        : max_message_bytes_(max_message_bytes) {}

    // Consumes from `data` until something completes or `data` is used up.
    Status next(std::span<const std::uint8_t> data, std::size_t& used);
    std::string_view message() const { return message_; }
    std::uint8_t control_opcode() const { return control_opcode_; }
    const std::string& control_payload() const { return control_; }

  private:
    FrameReader frames_;
    std::size_t max_message_bytes_;
    bool in_message_ = false;
    bool control_frame_ = false;
    bool message_done_ = false;  // message_ holds the last complete message: clear on next use
    std::uint8_t control_opcode_ = 0;
    std::string message_;
    std::string control_;
};

}  // namespace wsgate::bench
