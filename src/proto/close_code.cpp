#include "proto/close_code.hpp"

namespace wsgate::proto {

namespace {
// RFC 6455 §7.4.2: 3000-3999 registered with IANA, 4000-4999 private use.
constexpr uint16_t kFirstApplicationCode = 3000;
constexpr uint16_t kLastApplicationCode = 4999;
}  // namespace

bool is_valid_wire_close_code(uint16_t code) {
    if (code >= kFirstApplicationCode && code <= kLastApplicationCode) return true;
    switch (static_cast<CloseCode>(code)) {
        case CloseCode::normal:
        case CloseCode::going_away:
        case CloseCode::protocol_error:
        case CloseCode::unsupported_data:
        case CloseCode::invalid_payload:
        case CloseCode::policy_violation:
        case CloseCode::message_too_big:
        case CloseCode::mandatory_extension:
        case CloseCode::internal_error:
            return true;
        default:
            return false;
    }
}

}  // namespace wsgate::proto
