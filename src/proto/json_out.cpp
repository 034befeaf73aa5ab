#include "proto/json_out.hpp"

#include <charconv>
#include <cstring>

namespace wsgate::proto {

namespace {

// The escape of a byte below U+0020 or of '"' and '\\'; short forms where
// RFC 8259 §7 has them.
std::string_view short_escape(unsigned char c) {
    switch (c) {
        case '"':
            return "\\\"";
        case '\\':
            return "\\\\";
        case '\b':
            return "\\b";
        case '\f':
            return "\\f";
        case '\n':
            return "\\n";
        case '\r':
            return "\\r";
        case '\t':
            return "\\t";
        default:
            return {};
    }
}

bool needs_escape(unsigned char c) {
    return c < 0x20 || c == '"' || c == '\\';
}

}  // namespace

void JsonOut::raw(std::string_view bytes) {
    if (!ok_) return;
    if (bytes.size() > static_cast<size_t>(end_ - pos_)) {
        ok_ = false;
        return;
    }
    if (!bytes.empty()) std::memcpy(pos_, bytes.data(), bytes.size());
    pos_ += bytes.size();
}

void JsonOut::relayed(std::string_view json) {
    char* start = pos_;
    raw(json);
    if (!ok_) return;
    for (char* p = start; (p = static_cast<char*>(std::memchr(p, '\n', pos_ - p))) != nullptr; ++p)
        *p = ' ';
}

void JsonOut::raw(char c) {
    if (!ok_) return;
    if (pos_ == end_) {
        ok_ = false;
        return;
    }
    *pos_++ = c;
}

void JsonOut::string(std::string_view s) {
    raw('"');
    size_t run = 0;  // bytes copied as a block: the common case has no escapes
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (!needs_escape(c)) continue;
        raw(s.substr(run, i - run));
        run = i + 1;
        std::string_view e = short_escape(c);
        if (!e.empty()) {
            raw(e);
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
            raw(std::string_view(u, sizeof u));
        }
    }
    raw(s.substr(run));
    raw('"');
}

void JsonOut::number(uint64_t value) {
    char digits[20];
    auto r = std::to_chars(digits, digits + sizeof digits, value);
    raw(std::string_view(digits, static_cast<size_t>(r.ptr - digits)));
}

void JsonOut::number(int64_t value) {
    char digits[20];
    auto r = std::to_chars(digits, digits + sizeof digits, value);
    raw(std::string_view(digits, static_cast<size_t>(r.ptr - digits)));
}

}  // namespace wsgate::proto
