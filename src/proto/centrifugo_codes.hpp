// Error, unsubscribe and disconnect codes of the Centrifugo client protocol
// (centrifugal.dev "Client protocol codes"; the numbers and messages are the
// ones of centrifugal/centrifuge errors.go, disconnect.go, unsubscribe.go).
// What the SDK (npm centrifuge 5.x) does with each is in
// docs/centrifugo-protocol.md.
#pragma once

#include <cstdint>
#include <string_view>

namespace wsgate::proto::centrifugo {

// Codes of `{"id":N,"error":{"code":C,"message":M}}` replies. The SDK retries
// a command (subscribe, connect) after a backoff when the code is < 100, when
// `temporary` is true, or for 109; any other code is final for that command.
enum class ErrorCode : uint16_t {
    internal = 100,  // temporary
    unauthorized = 101,
    unknown_channel = 102,
    permission_denied = 103,
    method_not_found = 104,
    already_subscribed = 105,
    limit_exceeded = 106,
    bad_request = 107,
    not_available = 108,
    token_expired = 109,  // the SDK fetches a new token (getToken) and retries
    expired = 110,
    too_many_requests = 111,  // temporary
    unrecoverable_position = 112,
    token_revoked = 113,
};

struct ErrorInfo {
    std::string_view message;
    bool temporary;  // written as "temporary":true; the SDK retries the command
};

// The documented message and temporary flag of `code`.
ErrorInfo error_info(ErrorCode code);

// Codes of a server disconnect: the WebSocket close code (RFC 6455 §7.4.2
// range 3000-4999) with the reason as close text, or the same pair in a
// disconnect push. 3000-3499 (and 4000-4499) tell the SDK to reconnect,
// 3500-3999 (and 4500-4999) are terminal: the SDK stays disconnected.
enum class DisconnectCode : uint16_t {
    connection_closed = 3000,
    shutdown = 3001,
    server_error = 3004,
    expired = 3005,
    subscription_expired = 3006,
    slow = 3008,
    write_error = 3009,
    insufficient_state = 3010,
    force_reconnect = 3011,
    no_pong = 3012,
    too_many_requests = 3013,
    invalid_token = 3500,
    bad_request = 3501,
    stale = 3502,
    force_no_reconnect = 3503,
    connection_limit = 3504,
    channel_limit = 3505,
    inappropriate_protocol = 3506,
    permission_denied = 3507,
    not_available = 3508,
    too_many_errors = 3509,
};

// The documented reason of `code` ("bad request", "slow", ...): short enough
// for a close frame (RFC 6455 §5.5: at most 123 bytes of reason).
std::string_view disconnect_reason(DisconnectCode code);

// Whether the SDK reconnects after this code: codes below 3500, 4000-4499 and
// 5000 and up; not 3500-3999 and 4500-4999 (centrifuge-js _handleDisconnect and
// its transport close handler apply the same rule).
constexpr bool disconnect_reconnects(uint16_t code) {
    return code < 3500 || code >= 5000 || (code >= 4000 && code < 4500);
}

// Codes of an unsubscribe push `{"push":{"channel":C,"unsubscribe":{"code":..}}}`.
// Below 2500 the SDK moves the subscription to unsubscribed; from 2500 on it
// subscribes again (with recovery if the subscription is recoverable).
enum class UnsubscribeCode : uint16_t {
    server = 2000,              // "server unsubscribe"
    insufficient_state = 2500,  // "insufficient state": resubscribe and recover
    expired = 2501,             // "subscription expired"
};

std::string_view unsubscribe_reason(UnsubscribeCode code);

}  // namespace wsgate::proto::centrifugo
