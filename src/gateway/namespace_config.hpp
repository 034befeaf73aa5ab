// Channel namespaces in the configuration: the options a namespace takes
// (Centrifugo v5's names, so a namespace carries over from a Centrifugo
// configuration), written two ways:
//   flag / array of strings:  --namespace chat,history_size=10,presence=true
//   TOML array of tables:     [[namespace]]
//                             name = "chat"
//                             history_size = 10
//                             history_ttl = "5m"     # or 300 (seconds)
// Known Centrifugo options that wsgate does not implement (join_leave, ...)
// are refused by name rather than ignored: a configuration that counts on
// them would silently behave otherwise.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pubsub/channel_namespace.hpp"

namespace wsgate::gateway {

enum class NamespaceOptionType : uint8_t {
    toggle,   // true | false
    count,    // an integer
    seconds,  // an integer of seconds, or a duration "300s", "5m", "1h30m"
};

struct NamespaceOption {
    std::string_view name;
    NamespaceOptionType type;
};

// The option called `name` ("name" itself is not one), or nullptr.
const NamespaceOption* find_namespace_option(std::string_view name);

// "" or why `name` is not an option: a Centrifugo option wsgate does not
// implement, or unknown with the nearest option's name as a hint.
std::string unknown_namespace_option(std::string_view name);

// Sets option `option` from its text (the flag's spelling: true, 10, 5m).
// false: a bad value, *options unchanged.
bool set_namespace_option(const NamespaceOption& option, std::string_view text,
                          pubsub::ChannelOptions* options);

// "NAME[,OPTION=VALUE...]" (the flag). "" or an error.
std::string parse_namespace_flag(std::string_view text, pubsub::ChannelNamespace* out);

// The flag form of `ns`, with the options that differ from the defaults;
// parse_namespace_flag() of it gives `ns` back.
std::string namespace_flag_text(const pubsub::ChannelNamespace& ns);

// Names are valid and unique. "" or an error.
std::string check_namespaces(const std::vector<pubsub::ChannelNamespace>& namespaces);

}  // namespace wsgate::gateway
