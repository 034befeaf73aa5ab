#include "pubsub_payload.hpp"

#include <charconv>

namespace wsgate::bench {
namespace {

constexpr std::string_view kChannelPrefix = "bench.";
constexpr std::string_view kKeyP = "{\"p\":", kKeyS = ",\"s\":", kKeyT = ",\"t\":",
                           kKeyX = ",\"x\":\"", kEnd = "\"}";

void append_number(std::string& out, std::uint64_t v) {
    char digits[24];
    const auto r = std::to_chars(digits, digits + sizeof digits, v);
    out.append(digits, r.ptr);
}

// Reads `key` then a decimal number at `pos`; advances `pos` past them.
bool read_field(std::string_view s, std::size_t& pos, std::string_view key, std::uint64_t& v) {
    if (s.substr(pos, key.size()) != key) return false;
    pos += key.size();
    const char* begin = s.data() + pos;
    const auto r = std::from_chars(begin, s.data() + s.size(), v);
    if (r.ec != std::errc{} || r.ptr == begin) return false;
    pos += static_cast<std::size_t>(r.ptr - begin);
    return true;
}

}  // namespace

std::string channel_name(std::uint32_t k) {
    std::string name(kChannelPrefix);
    append_number(name, k);
    return name;
}

bool parse_channel_index(std::string_view name, std::uint32_t& k) {
    if (!name.starts_with(kChannelPrefix)) return false;
    name.remove_prefix(kChannelPrefix.size());
    const auto r = std::from_chars(name.data(), name.data() + name.size(), k);
    return r.ec == std::errc{} && r.ptr == name.data() + name.size() && !name.empty();
}

void append_publication_data(std::string& out, const PublicationStamp& stamp, std::size_t size) {
    const std::size_t start = out.size();
    out += kKeyP;
    append_number(out, stamp.publisher);
    out += kKeyS;
    append_number(out, stamp.sequence);
    out += kKeyT;
    append_number(out, stamp.sent_ns);
    out += kKeyX;
    const std::size_t used = out.size() - start + kEnd.size();
    const std::size_t want = size < kMinPublicationData ? kMinPublicationData : size;
    if (want > used) out.append(want - used, 'x');
    out += kEnd;
}

bool parse_publication_data(std::string_view data, PublicationStamp& stamp, std::size_t& length) {
    std::size_t pos = 0;
    std::uint64_t p = 0;
    if (!read_field(data, pos, kKeyP, p) || p > UINT32_MAX) return false;
    if (!read_field(data, pos, kKeyS, stamp.sequence)) return false;
    if (!read_field(data, pos, kKeyT, stamp.sent_ns)) return false;
    if (data.substr(pos, kKeyX.size()) != kKeyX) return false;
    pos += kKeyX.size();
    const std::size_t close = data.find('"', pos);
    if (close == std::string_view::npos || close + 1 >= data.size() || data[close + 1] != '}')
        return false;
    stamp.publisher = static_cast<std::uint32_t>(p);
    length = close + 2;
    return true;
}

void append_publish_command(std::string& out, std::uint32_t id, std::string_view channel,
                            const PublicationStamp& stamp, std::size_t size) {
    out += "{\"id\":";
    append_number(out, id);
    out += ",\"publish\":{\"channel\":\"";
    out += channel;
    out += "\",\"data\":";
    append_publication_data(out, stamp, size);
    out += "}}";
}

void append_api_publish_request(std::string& out, std::string_view host, std::string_view api_key,
                                std::string_view channel, const PublicationStamp& stamp,
                                std::size_t size) {
    const std::size_t data_size = size < kMinPublicationData ? kMinPublicationData : size;
    constexpr std::string_view kBodyHead = "{\"channel\":\"",
                               kBodyMid = "\",\"data\":", kBodyEnd = "}";
    const std::size_t body =
        kBodyHead.size() + channel.size() + kBodyMid.size() + data_size + kBodyEnd.size();
    out += "POST /api/publish HTTP/1.1\r\nHost: ";
    out += host;
    out += "\r\nX-API-Key: ";
    out += api_key;
    out += "\r\nContent-Type: application/json\r\nContent-Length: ";
    append_number(out, body);
    out += "\r\n\r\n";
    out += kBodyHead;
    out += channel;
    out += kBodyMid;
    append_publication_data(out, stamp, size);
    out += kBodyEnd;
}

std::string subscriber_hello(const std::uint32_t* channels, std::size_t count) {
    std::string out = "{\"id\":1,\"connect\":{}}";
    for (std::size_t j = 0; j < count; ++j) {
        out += "\n{\"id\":";
        append_number(out, j + 2);
        out += ",\"subscribe\":{\"channel\":\"";
        out += channel_name(channels[j]);
        out += "\"}}";
    }
    return out;
}

}  // namespace wsgate::bench
