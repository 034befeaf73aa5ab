#include "proto/centrifugo_channel.hpp"

namespace wsgate::proto::centrifugo {

ChannelCheck check_channel(std::string_view channel) {
    if (channel.empty()) return ChannelCheck::empty;
    if (channel.size() > kMaxChannelBytes) return ChannelCheck::too_long;
    for (char c : channel) {
        if (c < 0x21 || c > 0x7E) return ChannelCheck::not_ascii;
    }
    if (channel.front() == '$') return ChannelCheck::private_channel;
    return ChannelCheck::ok;
}

ErrorCode channel_error(ChannelCheck check) {
    switch (check) {
        case ChannelCheck::private_channel:
            return ErrorCode::permission_denied;
        case ChannelCheck::ok:
        case ChannelCheck::empty:
        case ChannelCheck::too_long:
        case ChannelCheck::not_ascii:
            break;
    }
    return ErrorCode::bad_request;
}

ChannelParts split_channel(std::string_view channel) {
    ChannelParts parts;
    size_t colon = channel.find(':');
    if (colon != std::string_view::npos) parts.name_space = channel.substr(0, colon);
    size_t hash = channel.rfind('#');
    if (hash != std::string_view::npos) {
        parts.user_limited = true;
        parts.users = channel.substr(hash + 1);
    }
    return parts;
}

bool user_listed(std::string_view users, std::string_view user) {
    if (user.empty()) return false;
    while (true) {
        size_t comma = users.find(',');
        if (users.substr(0, comma) == user) return true;
        if (comma == std::string_view::npos) return false;
        users.remove_prefix(comma + 1);
    }
}

}  // namespace wsgate::proto::centrifugo
