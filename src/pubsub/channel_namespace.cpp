#include "pubsub/channel_namespace.hpp"

namespace wsgate::pubsub {

namespace cf = proto::centrifugo;

std::optional<cf::ErrorCode> action_refused(const ChannelOptions& o, ChannelAction action,
                                            bool subscribed, bool anonymous) {
    bool for_client = false, for_subscriber = false, for_anonymous = false;
    switch (action) {
        case ChannelAction::subscribe:
            for_client = o.allow_subscribe_for_client;
            for_anonymous = o.allow_subscribe_for_anonymous;
            break;
        case ChannelAction::publish:
            for_client = o.allow_publish_for_client;
            for_subscriber = o.allow_publish_for_subscriber;
            for_anonymous = o.allow_publish_for_anonymous;
            break;
        case ChannelAction::history:
            if (o.history_size == 0) return cf::ErrorCode::not_available;
            for_client = o.allow_history_for_client;
            for_subscriber = o.allow_history_for_subscriber;
            for_anonymous = o.allow_history_for_anonymous;
            break;
        case ChannelAction::presence:
            if (!o.presence) return cf::ErrorCode::not_available;
            for_client = o.allow_presence_for_client;
            for_subscriber = o.allow_presence_for_subscriber;
            for_anonymous = o.allow_presence_for_anonymous;
            break;
    }
    // Centrifugo: an anonymous client needs allow_*_for_anonymous on top of
    // the right itself.
    if (anonymous && !for_anonymous) return cf::ErrorCode::permission_denied;
    if (for_client || (for_subscriber && subscribed)) return std::nullopt;
    return cf::ErrorCode::permission_denied;
}

std::string_view namespace_of(std::string_view channel) {
    // Centrifugo looks the namespace up past the private prefix: $ns:x is in ns.
    if (channel.starts_with('$')) channel.remove_prefix(1);
    size_t colon = channel.find(':');
    return colon == std::string_view::npos ? std::string_view() : channel.substr(0, colon);
}

bool valid_namespace_name(std::string_view name) {
    if (name.size() < 2) return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok) return false;
    }
    return true;
}

const ChannelOptions* find_channel_options(const ChannelOptions& default_namespace,
                                           const std::vector<ChannelNamespace>& named,
                                           std::string_view channel) {
    std::string_view ns = namespace_of(channel);
    if (ns.empty()) return &default_namespace;
    for (const ChannelNamespace& n : named) {
        if (n.name == ns) return &n.options;
    }
    return nullptr;
}

}  // namespace wsgate::pubsub
