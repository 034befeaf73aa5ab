#include "client_codec.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/random.h>

#include <cstring>
#include <stdexcept>

#include "header_text.hpp"

namespace wsgate::bench {
namespace {

// RFC 6455 §1.3: the GUID appended to the key before hashing.
constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::size_t kKeyBytes = 16;  // §4.1: a 16-byte nonce

std::string base64(const std::uint8_t* data, std::size_t length) {
    std::string out(4 * ((length + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                                  static_cast<int>(length));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// True when the comma-separated header value contains `token` (case-insensitive), §4.1.
bool has_token(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        if (iequals(trim(value.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

}  // namespace

void random_bytes(std::uint8_t* out, std::size_t length) {
    while (length > 0) {
        const ssize_t n = getrandom(out, length, 0);
        if (n < 0) throw std::runtime_error("getrandom failed");
        out += n;
        length -= static_cast<std::size_t>(n);
    }
}

std::string accept_for_key(std::string_view key) {
    std::string keyed(key);
    keyed += kAcceptGuid;
    std::uint8_t digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(keyed.data()), keyed.size(), digest);
    return base64(digest, sizeof digest);
}

std::string make_upgrade_request(std::string_view host_port, std::string_view path,
                                 std::string& expected_accept, std::string_view extensions) {
    std::uint8_t nonce[kKeyBytes];
    random_bytes(nonce, sizeof nonce);
    const std::string key = base64(nonce, sizeof nonce);
    expected_accept = accept_for_key(key);

    std::string request;
    request.reserve(192);
    request += "GET ";
    request += path;
    request += " HTTP/1.1\r\nHost: ";
    request += host_port;
    request += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
    request += key;
    request += "\r\nSec-WebSocket-Version: 13\r\n";
    if (!extensions.empty()) {
        request += "Sec-WebSocket-Extensions: ";
        request += extensions;
        request += "\r\n";
    }
    request += "\r\n";
    return request;
}

HandshakeResult check_upgrade_response(std::string_view received, std::string_view expected_accept,
                                       std::size_t& header_end, std::string* extensions) {
    const std::size_t end = received.find("\r\n\r\n");
    if (end == std::string_view::npos) return HandshakeResult::kIncomplete;
    header_end = end + 4;
    std::string_view head = received.substr(0, end);

    const std::size_t first_eol = head.find("\r\n");
    const std::string_view status_line = head.substr(0, first_eol);
    // §4.2.2: "HTTP/1.1 101" then a reason phrase we do not interpret.
    if (status_line.substr(0, 13) != "HTTP/1.1 101 " && status_line != "HTTP/1.1 101")
        return HandshakeResult::kBadStatus;

    bool upgrade = false, connection = false, accept_ok = false;
    if (extensions != nullptr) extensions->clear();
    std::string_view rest =
        first_eol == std::string_view::npos ? std::string_view{} : head.substr(first_eol + 2);
    while (!rest.empty()) {
        const std::size_t eol = rest.find("\r\n");
        const std::string_view line = rest.substr(0, eol);
        rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return HandshakeResult::kBadHeaders;
        const std::string_view name = line.substr(0, colon);
        const std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "Upgrade")) upgrade = iequals(value, "websocket");
        if (iequals(name, "Connection")) connection = has_token(value, "upgrade");
        if (iequals(name, "Sec-WebSocket-Accept")) accept_ok = value == expected_accept;
        if (extensions != nullptr && iequals(name, "Sec-WebSocket-Extensions") && !value.empty()) {
            if (!extensions->empty()) *extensions += ", ";
            *extensions += value;
        }
    }
    if (!upgrade || !connection) return HandshakeResult::kBadHeaders;
    return accept_ok ? HandshakeResult::kOk : HandshakeResult::kBadAccept;
}

std::size_t write_client_header(std::uint8_t* out, std::uint8_t opcode,
                                std::uint64_t payload_length, const std::uint8_t mask[4],
                                bool compressed) {
    constexpr std::uint8_t kFin = 0x80, kRsv1 = 0x40, kMaskBit = 0x80;
    constexpr std::uint64_t kMax7 = 125, kMax16 = 0xFFFF;
    constexpr std::uint8_t kLen16 = 126, kLen64 = 127;
    std::size_t n = 0;
    out[n++] = static_cast<std::uint8_t>(kFin | (compressed ? kRsv1 : 0) | opcode);
    // §5.2: the shortest length encoding.
    if (payload_length <= kMax7) {
        out[n++] = static_cast<std::uint8_t>(kMaskBit | payload_length);
    } else if (payload_length <= kMax16) {
        out[n++] = kMaskBit | kLen16;
        out[n++] = static_cast<std::uint8_t>(payload_length >> 8);
        out[n++] = static_cast<std::uint8_t>(payload_length);
    } else {
        out[n++] = kMaskBit | kLen64;
        for (int shift = 56; shift >= 0; shift -= 8)
            out[n++] = static_cast<std::uint8_t>(payload_length >> shift);
    }
    std::memcpy(out + n, mask, 4);
    return n + 4;
}

void apply_mask(std::uint8_t* data, std::size_t length, const std::uint8_t mask[4],
                std::size_t offset) {
    for (std::size_t i = 0; i < length; ++i)
        data[i] ^= mask[(i + offset) & 3];
}

std::string make_masked_frame(std::uint8_t opcode, std::span<const std::uint8_t> payload) {
    std::uint8_t mask[4];
    random_bytes(mask, sizeof mask);
    std::string frame(kMaxClientHeader + payload.size(), '\0');
    auto* out = reinterpret_cast<std::uint8_t*>(frame.data());
    const std::size_t header = write_client_header(out, opcode, payload.size(), mask);
    std::memcpy(out + header, payload.data(), payload.size());
    apply_mask(out + header, payload.size(), mask, 0);
    frame.resize(header + payload.size());
    return frame;
}

void append_masked_frame(std::string& out, std::uint8_t opcode, std::string_view payload,
                         const std::uint8_t mask[4]) {
    const std::size_t start = out.size();
    out.resize(start + kMaxClientHeader + payload.size());
    auto* p = reinterpret_cast<std::uint8_t*>(out.data() + start);
    const std::size_t header = write_client_header(p, opcode, payload.size(), mask);
    std::memcpy(p + header, payload.data(), payload.size());
    apply_mask(p + header, payload.size(), mask, 0);
    out.resize(start + header + payload.size());
}

FrameReader::Status FrameReader::next(std::span<const std::uint8_t> data, std::size_t& used,
                                      std::span<const std::uint8_t>& payload) {
    used = 0;
    if (state_ == State::kEnd) state_ = State::kHeader;
    if (state_ == State::kHeader) {
        // Gather the header bytes one chunk at a time; it is at most 10 bytes
        // from a server (servers never mask, §5.1).
        constexpr std::size_t kMaxServerHeader = 10;
        while (used < data.size()) {
            pending_[pending_length_++] = data[used++];
            if (pending_length_ < 2) continue;
            const std::uint8_t b0 = pending_[0], b1 = pending_[1];
            if (b1 & 0x80) return Status::kProtocolError;  // §5.1: server frames are unmasked
            constexpr std::uint8_t kRsv1 = 0x40, kRsv23 = 0x30, kControlBit = 0x08;
            // §5.2: RSV2/RSV3 belong to no extension wsload offers; RSV1 only with
            // permessage-deflate, and never on a control frame or a continuation
            // (RFC 7692 §6).
            if (b0 & kRsv23) return Status::kProtocolError;
            const bool rsv1 = (b0 & kRsv1) != 0;
            if (rsv1 &&
                (!allow_compressed_ || (b0 & kControlBit) || (b0 & 0x0F) == kOpContinuation))
                return Status::kProtocolError;
            const std::uint8_t len7 = b1 & 0x7F;
            const std::size_t need = len7 == 126 ? 4 : len7 == 127 ? kMaxServerHeader : 2;
            if (pending_length_ < need) continue;
            header_.fin = (b0 & 0x80) != 0;
            header_.compressed = rsv1;
            header_.opcode = b0 & 0x0F;
            if (len7 < 126) {
                header_.length = len7;
            } else if (len7 == 126) {
                header_.length = (std::uint64_t{pending_[2]} << 8) | pending_[3];
            } else {
                header_.length = 0;
                for (int i = 2; i < 10; ++i)
                    header_.length = (header_.length << 8) | pending_[i];
            }
            pending_length_ = 0;
            remaining_ = header_.length;
            state_ = remaining_ == 0 ? State::kEnd : State::kPayload;
            return Status::kHeader;
        }
        return Status::kNeedMore;
    }
    // kPayload
    if (data.empty()) return Status::kNeedMore;
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size()));
    payload = data.subspan(0, take);
    used = take;
    remaining_ -= take;
    if (remaining_ == 0) state_ = State::kEnd;
    return Status::kPayload;
}

}  // namespace wsgate::bench
