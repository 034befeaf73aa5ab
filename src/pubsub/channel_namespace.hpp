// Channel namespaces (centrifugal.dev "Channels and namespaces", "Channel
// permission model"): a channel `ns:rest` takes the options of namespace
// `ns`; a channel without ':' (or with an empty part before it) takes the
// top-level ones, the default namespace. A channel of a namespace that is not
// configured does not exist: error 102 "unknown channel".
//
// The option names are Centrifugo v5's, so a namespace carries over from a
// Centrifugo configuration; wsgate implements the subset listed here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/centrifugo_codes.hpp"

namespace wsgate::pubsub {

struct ChannelOptions {
    // Publications each channel keeps for history and recovery, and for how
    // long (0: no history; history and recovery answer 108).
    uint32_t history_size = 0;
    uint32_t history_ttl_s = 300;
    // presence_stats answered (else 108).
    bool presence = false;
    // Who may do what without a token for it. *_for_client: any connected
    // client with a user; *_for_subscriber: a client subscribed to the
    // channel; *_for_anonymous: also clients without a user (when one of the
    // others allows the action). Centrifugo's defaults: nothing allowed.
    bool allow_subscribe_for_client = false;
    bool allow_subscribe_for_anonymous = false;
    bool allow_publish_for_subscriber = false;
    bool allow_publish_for_client = false;
    bool allow_publish_for_anonymous = false;
    bool allow_history_for_subscriber = false;
    bool allow_history_for_client = false;
    bool allow_history_for_anonymous = false;
    bool allow_presence_for_subscriber = false;
    bool allow_presence_for_client = false;
    bool allow_presence_for_anonymous = false;

    bool operator==(const ChannelOptions&) const = default;
};

struct ChannelNamespace {
    std::string name;
    ChannelOptions options;

    bool operator==(const ChannelNamespace&) const = default;
};

enum class ChannelAction : uint8_t { subscribe, publish, history, presence };

// Whether a client may do `action` in a channel with these options:
// subscribed says whether it is subscribed to the channel, anonymous whether
// it has no user. Answers the error to send, or nullopt when allowed:
// 108 when the namespace has the feature off (history, presence), 103 when
// the client lacks the right (centrifuge's client.go order: feature first).
std::optional<proto::centrifugo::ErrorCode> action_refused(const ChannelOptions& options,
                                                           ChannelAction action, bool subscribed,
                                                           bool anonymous);

// The namespace part of a channel name: before the first ':' (past a
// leading '$', the private prefix), "" when none.
std::string_view namespace_of(std::string_view channel);

// A namespace name: Centrifugo's rule, ^[-a-zA-Z0-9_.]{2,}$ (the ':' that
// ends it cannot be part of it).
bool valid_namespace_name(std::string_view name);

// The options of `channel`: the default namespace's for a channel without
// one, the named namespace's, or nullptr when that namespace is not in
// `named` (102). A linear scan: a subscribe, publish or history command looks
// up once, and a configuration holds a handful of namespaces.
const ChannelOptions* find_channel_options(const ChannelOptions& default_namespace,
                                           const std::vector<ChannelNamespace>& named,
                                           std::string_view channel);

}  // namespace wsgate::pubsub
