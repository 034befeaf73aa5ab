#include "centrifugo_client_reader.hpp"

#include <charconv>

namespace wsgate::bench {
namespace {

constexpr std::size_t kMaxControlPayload = 125;  // RFC 6455 §5.5

// The unsigned number right after `key` (searched from `from`), if any.
bool number_after(std::string_view s, std::string_view key, std::size_t from, std::uint64_t& v) {
    const std::size_t at = s.find(key, from);
    if (at == std::string_view::npos) return false;
    const char* begin = s.data() + at + key.size();
    const auto r = std::from_chars(begin, s.data() + s.size(), v);
    return r.ec == std::errc{} && r.ptr != begin;
}

// The string value right after `key` (no escapes: wsload's channel names have none).
bool string_after(std::string_view s, std::string_view key, std::string_view& v) {
    const std::size_t at = s.find(key);
    if (at == std::string_view::npos) return false;
    const std::size_t begin = at + key.size();
    const std::size_t end = s.find('"', begin);
    if (end == std::string_view::npos) return false;
    v = s.substr(begin, end - begin);
    return true;
}

ServerLine classify_push(std::string_view line) {
    ServerLine out;
    if (line.find("\"pub\":{") != std::string_view::npos) {
        const std::size_t data = line.find("\"data\":");
        if (data == std::string_view::npos || !string_after(line, "\"channel\":\"", out.channel))
            return out;
        out.kind = ServerLine::Kind::kPublication;
        out.data = line.substr(data + 7);
        // The offset follows the data (and info); data written by wsload holds
        // no "offset" key, and a publication without history has none at all.
        std::uint64_t offset = 0;
        const std::size_t close = out.data.find('}');
        if (close != std::string_view::npos &&
            number_after(line, "\"offset\":", data + 7 + close, offset)) {
            out.has_offset = true;
            out.offset = offset;
        }
        return out;
    }
    if (line.find("\"unsubscribe\":") != std::string_view::npos) {
        out.kind = ServerLine::Kind::kUnsubscribePush;
        string_after(line, "\"channel\":\"", out.channel);
    } else if (line.find("\"disconnect\":") != std::string_view::npos) {
        out.kind = ServerLine::Kind::kDisconnectPush;
    } else {
        out.kind = ServerLine::Kind::kOtherPush;
    }
    return out;
}

}  // namespace

ServerLine classify_line(std::string_view line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
        line.remove_suffix(1);
    ServerLine out;
    if (line == "{}") {
        out.kind = ServerLine::Kind::kPing;
        return out;
    }
    if (line.starts_with("{\"push\":")) return classify_push(line);
    std::uint64_t id = 0;
    if (!number_after(line, "\"id\":", 0, id) || id == 0 || id > UINT32_MAX) return out;
    out.id = static_cast<std::uint32_t>(id);
    if (line.find("\"error\":") != std::string_view::npos) {
        std::uint64_t code = 0;
        number_after(line, "\"code\":", 0, code);
        out.kind = ServerLine::Kind::kErrorReply;
        out.error_code = static_cast<std::uint32_t>(code);
        return out;
    }
    out.kind = ServerLine::Kind::kReply;
    std::uint64_t offset = 0;
    if (number_after(line, "\"offset\":", 0, offset)) {
        out.has_offset = true;
        out.offset = offset;
    }
    return out;
}

ServerMessageReader::Status ServerMessageReader::next(std::span<const std::uint8_t> data,
                                                      std::size_t& used) {
    used = 0;
    if (message_done_) {
        message_.clear();
        message_done_ = false;
    }
    while (true) {
        std::size_t n = 0;
        std::span<const std::uint8_t> payload;
        const FrameReader::Status st = frames_.next(data.subspan(used), n, payload);
        used += n;
        switch (st) {
            case FrameReader::Status::kNeedMore:
                return Status::kNeedMore;
            case FrameReader::Status::kProtocolError:
                return Status::kProtocol;
            case FrameReader::Status::kHeader: {
                const auto& h = frames_.header();
                if (h.opcode >= kOpClose) {
                    if (h.opcode > kOpPong || !h.fin || h.length > kMaxControlPayload)
                        return Status::kProtocol;
                    control_frame_ = true;
                    control_opcode_ = h.opcode;
                    control_.clear();
                } else {
                    control_frame_ = false;
                    if (h.opcode == kOpContinuation ? !in_message_
                                                    : (in_message_ || h.opcode != kOpText))
                        return Status::kProtocol;
                    in_message_ = true;
                    if (message_.size() + h.length > max_message_bytes_) return Status::kProtocol;
                }
                break;
            }
            case FrameReader::Status::kPayload:
                (control_frame_ ? control_ : message_)
                    .append(reinterpret_cast<const char*>(payload.data()), payload.size());
                break;
        }
        if (frames_.at_frame_end()) {
            if (control_frame_) return Status::kControl;
            if (frames_.header().fin) {
                in_message_ = false;
                message_done_ = true;
                return Status::kText;
            }
        }
    }
}

}  // namespace wsgate::bench
