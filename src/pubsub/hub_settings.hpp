// What the pub/sub hub is configured with (the --mode pubsub flags), shared
// read-only by every loop of the process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pubsub/channel_namespace.hpp"

namespace wsgate::pubsub {

struct HubSettings {
    std::string api_key;            // empty: the HTTP server API is off (404)
    std::string token_hmac_secret;  // empty: HS256 connection tokens are not accepted
    // Files of public keys for RS256 / ES256 tokens (pubsub/token_keys.hpp),
    // read again on SIGHUP; empty: none.
    std::string token_rsa_public_key;
    std::string token_ecdsa_public_key;
    std::string token_jwks_file;
    bool allow_client_publish = false;
    bool allow_anonymous = true;
    // Publications each channel keeps for history and recovery (0: none)
    // and for how long (centrifugal.dev "History and recovery"): the
    // default namespace's; named namespaces have their own.
    uint32_t history_size = 0;
    uint32_t history_ttl_s = 300;
    // Named channel namespaces (`ns:rest`), each with its options
    // (pubsub/channel_namespace.hpp); a channel of any other namespace is
    // unknown (102).
    std::vector<ChannelNamespace> namespaces;
    // Publications one recovering subscribe may get (Centrifugo's
    // client_recovery_max_publication_limit); more missed: recovered false.
    uint32_t recovery_max_publications = 300;
    uint32_t ping_interval_s = 25;  // 0: no server pings
    uint32_t max_channels_per_connection = 128;
    uint64_t max_channels = 1000000;  // channels with a stream on this node
    std::string version = "wsgate";
    // --engine redis: channels, offsets, epochs and history live in Redis
    // (docs/redis-engine.md); the links are HubShared::redis_links.
    bool redis_engine = false;
    // While a Redis link is down, /healthz and /readyz answer 503 (off:
    // 200, for a node that may serve its local clients alone).
    bool redis_health_strict = true;

    // The default namespace (channels without `ns:`): the top-level
    // settings, with wsgate's rights before namespaces existed: any client,
    // anonymous ones too, may subscribe, ask history and presence; publish
    // with --allow-client-publish.
    ChannelOptions default_namespace() const {
        ChannelOptions o;
        o.history_size = history_size;
        o.history_ttl_s = history_ttl_s;
        o.presence = true;
        o.allow_subscribe_for_client = o.allow_subscribe_for_anonymous = true;
        o.allow_publish_for_client = allow_client_publish;
        o.allow_publish_for_anonymous = true;
        o.allow_history_for_client = o.allow_history_for_anonymous = true;
        o.allow_presence_for_client = o.allow_presence_for_anonymous = true;
        return o;
    }

    // Whether any namespace keeps history (the hub then expires it).
    bool any_history() const {
        if (history_size > 0) return true;
        for (const ChannelNamespace& n : namespaces) {
            if (n.options.history_size > 0) return true;
        }
        return false;
    }
};

}  // namespace wsgate::pubsub
