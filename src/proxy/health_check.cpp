#include "proxy/health_check.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace wsgate::proxy {

namespace {

bool parse_ms(std::string_view text, uint32_t* out) {
    std::string s(text);
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v < 0.01 || v > 86400) {
        return false;
    }
    *out = static_cast<uint32_t>(std::llround(v * 1000));
    return true;
}

bool parse_count(std::string_view text, uint32_t* out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return ec == std::errc() && end == text.data() + text.size() && *out >= 1 && *out <= 100;
}

std::string seconds(uint32_t ms) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), static_cast<double>(ms) / 1000.0);
    return std::string(buf, ec == std::errc() ? end : buf);
}

}  // namespace

std::optional<HealthCheckSpec> parse_health_check(std::string_view text) {
    HealthCheckSpec spec;
    bool more = !text.empty();
    while (more) {
        size_t comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        more = comma != std::string_view::npos;  // "a=1," ends with an empty item: an error
        text = more ? text.substr(comma + 1) : std::string_view{};
        size_t eq = item.find('=');
        if (eq == std::string_view::npos) return std::nullopt;
        std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
        bool ok = false;
        if (key == "path") {
            ok = !value.empty() && value.front() == '/' && value.size() <= 1024;
            for (char ch : value) {
                if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f) ok = false;
            }
            if (ok) spec.path = value;
        } else if (key == "interval") {
            ok = parse_ms(value, &spec.interval_ms);
        } else if (key == "timeout") {
            ok = parse_ms(value, &spec.timeout_ms);
        } else if (key == "rise") {
            ok = parse_count(value, &spec.rise);
        } else if (key == "fall") {
            ok = parse_count(value, &spec.fall);
        }
        if (!ok) return std::nullopt;
    }
    if (spec.timeout_ms > spec.interval_ms) return std::nullopt;
    return spec;
}

std::string health_check_text(const HealthCheckSpec& spec) {
    return "path=" + spec.path + ",interval=" + seconds(spec.interval_ms) +
           ",timeout=" + seconds(spec.timeout_ms) + ",rise=" + std::to_string(spec.rise) +
           ",fall=" + std::to_string(spec.fall);
}

int parse_status_line(std::span<const uint8_t> bytes) {
    // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF.
    static constexpr std::string_view kVersion = "HTTP/1.";
    const size_t n = bytes.size();
    for (size_t i = 0; i < kVersion.size() && i < n; ++i) {
        if (bytes[i] != static_cast<uint8_t>(kVersion[i])) return -1;
    }
    if (n < 13) return 0;  // "HTTP/1.x NNN " at least
    if (bytes[7] < '0' || bytes[7] > '9' || bytes[8] != ' ') return -1;
    int status = 0;
    for (size_t i = 9; i < 12; ++i) {
        if (bytes[i] < '0' || bytes[i] > '9') return -1;
        status = status * 10 + (bytes[i] - '0');
    }
    if (bytes[12] != ' ' && bytes[12] != '\r') return -1;
    if (status < 100 || status > 599) return -1;
    for (size_t i = 12; i < n; ++i) {
        if (bytes[i] == '\n') return status;
    }
    return 0;
}

}  // namespace wsgate::proxy
