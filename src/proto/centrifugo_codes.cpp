#include "proto/centrifugo_codes.hpp"

namespace wsgate::proto::centrifugo {

ErrorInfo error_info(ErrorCode code) {
    switch (code) {
        case ErrorCode::internal:
            return {"internal server error", true};
        case ErrorCode::unauthorized:
            return {"unauthorized", false};
        case ErrorCode::unknown_channel:
            return {"unknown channel", false};
        case ErrorCode::permission_denied:
            return {"permission denied", false};
        case ErrorCode::method_not_found:
            return {"method not found", false};
        case ErrorCode::already_subscribed:
            return {"already subscribed", false};
        case ErrorCode::limit_exceeded:
            return {"limit exceeded", false};
        case ErrorCode::bad_request:
            return {"bad request", false};
        case ErrorCode::not_available:
            return {"not available", false};
        case ErrorCode::token_expired:
            return {"token expired", false};
        case ErrorCode::expired:
            return {"expired", false};
        case ErrorCode::too_many_requests:
            return {"too many requests", true};
        case ErrorCode::unrecoverable_position:
            return {"unrecoverable position", false};
        case ErrorCode::token_revoked:
            return {"token revoked", false};
    }
    return {"internal server error", true};
}

std::string_view disconnect_reason(DisconnectCode code) {
    switch (code) {
        case DisconnectCode::connection_closed:
            return "connection closed";
        case DisconnectCode::shutdown:
            return "shutdown";
        case DisconnectCode::server_error:
            return "internal server error";
        case DisconnectCode::expired:
            return "connection expired";
        case DisconnectCode::subscription_expired:
            return "subscription expired";
        case DisconnectCode::slow:
            return "slow";
        case DisconnectCode::write_error:
            return "write error";
        case DisconnectCode::insufficient_state:
            return "insufficient state";
        case DisconnectCode::force_reconnect:
            return "force reconnect";
        case DisconnectCode::no_pong:
            return "no pong";
        case DisconnectCode::too_many_requests:
            return "too many requests";
        case DisconnectCode::invalid_token:
            return "invalid token";
        case DisconnectCode::bad_request:
            return "bad request";
        case DisconnectCode::stale:
            return "stale";
        case DisconnectCode::force_no_reconnect:
            return "force disconnect";
        case DisconnectCode::connection_limit:
            return "connection limit";
        case DisconnectCode::channel_limit:
            return "channel limit";
        case DisconnectCode::inappropriate_protocol:
            return "inappropriate protocol";
        case DisconnectCode::permission_denied:
            return "permission denied";
        case DisconnectCode::not_available:
            return "not available";
        case DisconnectCode::too_many_errors:
            return "too many errors";
    }
    return "internal server error";
}

std::string_view unsubscribe_reason(UnsubscribeCode code) {
    switch (code) {
        case UnsubscribeCode::server:
            return "server unsubscribe";
        case UnsubscribeCode::insufficient_state:
            return "insufficient state";
        case UnsubscribeCode::expired:
            return "subscription expired";
    }
    return "server unsubscribe";
}

}  // namespace wsgate::proto::centrifugo
