// Health of upstream servers: what an active check is (--health-check
// POOL=path=/healthz,interval=2,timeout=1,rise=2,fall=3) and how its answer
// is judged; the passive policy (--upstream-max-fails, --upstream-fail-
// timeout, --upstream-slow-start) that takes a server out after connect or
// handshake failures and ramps it back in.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace wsgate::proxy {

struct HealthCheckSpec {
    std::string path = "/healthz";
    uint32_t interval_ms = 2000;  // from one check's start to the next
    uint32_t timeout_ms = 1000;   // connect + request + status line
    uint32_t rise = 2;            // consecutive passes that bring a down server up
    uint32_t fall = 3;            // consecutive failures that take an up server down

    bool operator==(const HealthCheckSpec&) const = default;
};

// "path=/p,interval=S,timeout=S,rise=N,fall=N", any subset in any order (the
// rest default; "" is all defaults); seconds may have a fraction (>= 0.01,
// timeout <= interval), rise and fall 1..100, the path an origin-form target
// without spaces. nullopt when bad.
std::optional<HealthCheckSpec> parse_health_check(std::string_view text);
std::string health_check_text(const HealthCheckSpec& spec);

// The status code of an HTTP/1.x status line at the start of `bytes`
// ("HTTP/1.1 200 OK\r\n"): 100..599 once the line is complete, 0 while it
// is not (more bytes may come), -1 when it is not a status line.
int parse_status_line(std::span<const uint8_t> bytes);

// A check passes on 2xx and 3xx (as HAProxy's httpchk).
inline bool check_passes(int status) {
    return status >= 200 && status < 400;
}

struct PassiveHealth {
    uint32_t max_fails = 3;            // consecutive failures that take a server out; 0: never
    uint32_t fail_timeout_ms = 10000;  // how long it stays out
    uint32_t slow_start_ms = 10000;    // then its weight ramps from 1/W to W over this; 0: at once

    bool operator==(const PassiveHealth&) const = default;
};

}  // namespace wsgate::proxy
