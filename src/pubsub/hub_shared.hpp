// What every loop of a pub/sub hub shares: the settings, each loop's inbox
// (to reach a channel's home and the loops with its subscribers), the node's
// channel count (for --max-channels) and counters. Created by main before
// the loops and outliving them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/redis_link.hpp"
#include "proto/http_request.hpp"
#include "pubsub/hub_settings.hpp"
#include "pubsub/token_keys.hpp"
#include "ws/loop_message.hpp"
#include "ws/outbound.hpp"

namespace wsgate::pubsub {

// Serves the plain HTTP requests that are not the server API (the demo
// page, /healthz): the gateway's pages, handed in by main.
using PageServer = void (*)(const proto::HttpRequest& request, bool keep_alive, ws::Outbound& out);

struct HubCounters {
    std::atomic<uint64_t> publications{0};      // assigned an offset by a home
    std::atomic<uint64_t> deliveries{0};        // pushes queued on subscribers
    std::atomic<uint64_t> slow_disconnects{0};  // subscribers closed 3008 over --max-queued-bytes
    std::atomic<uint64_t> no_pong_disconnects{0};
    std::atomic<uint64_t> bad_requests{0};  // connections closed 3501
    // --engine redis: publications delivered from a stream's history after
    // a gap (a lost link, a message missed), channels whose gap history could
    // not cover (their subscribers closed 3010), publishes refused (108).
    std::atomic<uint64_t> redis_gap_recovered{0};
    std::atomic<uint64_t> redis_insufficient_state{0};
    std::atomic<uint64_t> redis_publish_failed{0};
};

struct HubShared {
    HubSettings settings;
    std::vector<ws::LoopInbox*> inboxes;  // by loop id
    std::atomic<uint64_t> channels{0};    // streams alive on their homes
    std::atomic<uint64_t> clients{0};     // connected (after connect)
    // Subscriptions of connected clients to channels, pending or active.
    std::atomic<uint64_t> subscriptions{0};
    HubCounters counters;
    uint64_t seed = 0;     // random per process: client ids and epochs
    int64_t start_ms = 0;  // CLOCK_REALTIME at start (api info uptime)
    std::string node_uid;
    PageServer pages = nullptr;
    // RS256/ES256 token keys; nullptr when no key file is configured.
    std::unique_ptr<TokenKeyStore> token_keys;
    // --engine redis: one entry per --redis shard (each loop opens a command
    // and a subscriber link to each), and how many of all loops' links are
    // down now (the node is not healthy while any is).
    std::vector<broker::RedisLinkSettings> redis_links;
    std::atomic<int64_t> redis_links_down{0};
    // Live upgrade (hub_handover.hpp). Set before the loops start, in a
    // process started by an upgrade: the homes hold requests that touch a
    // stream until the old process's streams have come.
    bool awaiting_handover = false;
    // Publish requests posted to a home and not yet taken there: a loop's
    // streams are final for the handover once no loop holds a connection
    // and this is 0.
    std::atomic<int64_t> publishes_in_flight{0};

    uint32_t loops() const { return static_cast<uint32_t>(inboxes.size()); }
    uint32_t home_of(uint64_t channel_hash) const {
        return static_cast<uint32_t>(channel_hash % inboxes.size());
    }
};

}  // namespace wsgate::pubsub
