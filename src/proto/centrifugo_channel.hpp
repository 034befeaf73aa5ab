// Channel names of the Centrifugo client protocol (centrifugal.dev
// "Channels and namespaces", "Channel name rules"): only ASCII, at most 255
// bytes by default (`channel_max_length`), and reserved characters: `:` ends
// a namespace (`chat:room`), `$` starts a private channel (subscription token
// required), `#` starts the list of users a channel is limited to
// (`dialog#42,43`); `*`, `&` and `/` are reserved for later use.
#pragma once

#include <cstddef>
#include <string_view>

#include "proto/centrifugo_codes.hpp"

namespace wsgate::proto::centrifugo {

inline constexpr size_t kMaxChannelBytes = 255;

enum class ChannelCheck : uint8_t {
    ok,
    empty,            // answered like a missing channel: disconnect 3501
    too_long,         // more than kMaxChannelBytes: error 107 (centrifuge: "channel too long")
    not_ascii,        // a byte outside printable ASCII 0x21-0x7E: error 107
    private_channel,  // `$...`: needs a subscription token this server does not issue: 103
};

// Checks `channel` against the rules above. Spaces and control characters
// are refused with the non-ASCII bytes: the docs allow "ASCII symbols", and
// neither belongs in a name a log line or a URL carries.
ChannelCheck check_channel(std::string_view channel);

// The error reply for a failed check (empty maps to bad_request too, though a
// caller closes the connection with DisconnectCode::bad_request for it).
ErrorCode channel_error(ChannelCheck check);

struct ChannelParts {
    std::string_view name_space;  // before the first ':' ("" when none)
    std::string_view users;       // after the last '#': comma-separated user ids ("" when none)
    bool user_limited = false;    // the channel has a '#'
};

ChannelParts split_channel(std::string_view channel);

// True when `user` is one of the comma-separated ids in `users` (a
// user-limited channel admits only them; an anonymous user, "", never).
bool user_listed(std::string_view users, std::string_view user);

}  // namespace wsgate::proto::centrifugo
