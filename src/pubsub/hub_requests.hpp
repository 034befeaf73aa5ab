// What the loops of a hub send each other through their inboxes
// (ws::LoopMessage: `tag` says which of these `pointer` is, and the object
// travels with its ownership). Requests go to a channel's home loop, which
// fills in the answer and sends the same object back to the loop that asked.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "proto/centrifugo_codes.hpp"
#include "pubsub/publication_record.hpp"
#include "ws/connection_handle.hpp"
#include "ws/loop_message.hpp"

namespace wsgate::pubsub {

enum class HubTag : uint32_t {
    publish,         // PublishRequest, to the channel's home
    publish_done,    // PublishRequest, back to the origin (an API caller waits)
    publication,     // PublicationRecord (one reference), home -> a loop with subscribers
    subscribe,       // SubscribeRequest, to the home
    subscribe_done,  // SubscribeRequest, back to the subscriber's loop
    uninterest,      // InterestNote: the loop has no subscriber of the channel left
    history,         // HistoryRequest, to the home
    history_done,    // HistoryRequest, back
    channel_lost,    // InterestNote: the home lost the channel's state (--engine redis): close its
                     // subscribers 3010
    gather,          // Gather, to every loop
    gather_done,     // Gather, back to the origin once every loop added its part
};

// Who waits for an answer: a client command (handle, command id) or an HTTP
// API request (handle of the HTTP connection), on loop handle.loop().
struct ReplyTo {
    enum class Kind : uint8_t { none, client, http } kind = Kind::none;
    ws::ConnectionHandle handle;
    uint32_t id = 0;          // client: the command's id
    bool keep_alive = false;  // http: keep the connection after the response
};

struct Broadcast;

struct PublishRequest {
    std::string channel;
    uint64_t hash = 0;
    std::string data;  // raw JSON
    bool has_info = false;
    std::string user, client;  // who published (client publications)
    ReplyTo reply;
    // Filled by the home.
    uint64_t offset = 0;
    std::string epoch;
    proto::centrifugo::ErrorCode error{};
    bool failed = false;
    // The channel's namespace's history limits as the home has them
    // (--engine redis: the publish script's MAXLEN and expiry).
    uint32_t history_size = 0;
    uint32_t history_ttl_s = 0;
    // Part of an API broadcast: the home answers into broadcast[index].
    Broadcast* broadcast = nullptr;
    uint32_t index = 0;
};

struct PublishOutcome {
    uint64_t offset = 0;
    std::string epoch;
    bool failed = false;
    proto::centrifugo::ErrorCode error{};
};

// One API broadcast: a PublishRequest per channel, answered when the last
// home's answer is back on the origin loop (which alone counts them down).
struct Broadcast {
    ReplyTo reply;
    std::vector<PublishOutcome> outcomes;
    uint32_t remaining = 0;
};

struct SubscribeRequest {
    std::string channel;
    uint64_t hash = 0;
    ws::ConnectionHandle client;
    uint32_t id = 0;  // the subscribe command's id
    bool register_interest = false;
    // A subscription adopted from an older process (live upgrade): no reply;
    // what the client missed since its position is pushed, or it is
    // disconnected 3010 when the stream cannot give it.
    bool adopted = false;
    bool recover = false;
    // The channel keeps history (its namespace's history_size > 0): the
    // reply says recoverable and positioned. Set by the subscriber's loop,
    // then by the home from its stream.
    bool history = false;
    uint64_t offset = 0;
    std::string epoch;
    // Filled by the home.
    uint64_t top = 0;
    std::string stream_epoch;
    bool recovered = false;
    bool failed = false;  // the node's channel limit (106), an unknown namespace (102)
    proto::centrifugo::ErrorCode error = proto::centrifugo::ErrorCode::limit_exceeded;
    std::vector<PublicationRef> missed;
};

struct InterestNote {
    std::string channel;
    uint64_t hash = 0;
    uint32_t loop = 0;
};

struct HistoryRequest {
    std::string channel;
    uint64_t hash = 0;
    ReplyTo reply;
    int32_t limit = 0;  // < 0: all history holds
    bool has_since = false;
    uint64_t since_offset = 0;
    std::string since_epoch;
    bool reverse = false;
    uint32_t history_size = 0;  // of the channel's namespace (--engine redis: the stream's bound)
    // Filled by the home.
    uint64_t top = 0;
    std::string epoch;
    bool failed = false;
    proto::centrifugo::ErrorCode error{};
    std::vector<PublicationRef> pubs;
};

// A question every loop answers in part (presence, node info, actions by
// user). The last loop to add its part sends it back to the origin.
struct Gather {
    enum class Kind : uint8_t { presence_stats, channels, info, unsubscribe_user, disconnect_user };
    Kind kind = Kind::presence_stats;
    std::string channel;
    std::string user;
    std::string client;   // unsubscribe_user, disconnect_user: only this connection ("" all)
    std::string pattern;  // channels: a glob filter ("" all)
    uint16_t disconnect_code = 0;
    std::string disconnect_reason;
    ReplyTo reply;
    std::atomic<uint32_t> remaining{0};
    std::mutex mutex;  // guards what follows (loops add their parts concurrently)
    uint64_t num_clients = 0;
    uint64_t num_subs = 0;
    std::set<std::string> users;
    std::map<std::string, uint64_t> channels;  // channel -> subscribers on this node
    // --engine redis: info gathered for this node's heartbeat in Redis (no
    // reply), and this node's object while the other nodes' are fetched.
    bool heartbeat = false;
    // The heartbeat's presence: channel -> this node's clients and users.
    struct Presence {
        uint64_t clients = 0;
        std::set<std::string> users;
    };
    std::map<std::string, Presence> presence;
    // presence_stats, channels: the other nodes' parts were asked of Redis.
    bool cluster_asked = false;
    std::string node_json;
    std::vector<std::string> other_nodes;
};

// Frees what a hub message owns without acting on it: for messages still in
// an inbox or outbox when the loops have stopped (a loop that left its
// channels at shutdown posted to a home that had already drained its inbox
// for the last time). Only when no loop runs any more: a Gather or a
// Broadcast is freed with its last part.
inline void discard_message(const ws::LoopMessage& m) {
    if (m.kind != ws::LoopMessageKind::app || m.pointer == nullptr) return;
    switch (static_cast<HubTag>(m.tag)) {
        case HubTag::publish:
        case HubTag::publish_done: {
            auto* req = static_cast<PublishRequest*>(m.pointer);
            if (Broadcast* b = req->broadcast; b != nullptr && --b->remaining == 0) delete b;
            delete req;
            return;
        }
        case HubTag::publication:
            static_cast<PublicationRecord*>(m.pointer)->release();
            return;
        case HubTag::subscribe:
        case HubTag::subscribe_done:
            delete static_cast<SubscribeRequest*>(m.pointer);
            return;
        case HubTag::uninterest:
        case HubTag::channel_lost:
            delete static_cast<InterestNote*>(m.pointer);
            return;
        case HubTag::history:
        case HubTag::history_done:
            delete static_cast<HistoryRequest*>(m.pointer);
            return;
        case HubTag::gather: {
            auto* g = static_cast<Gather*>(m.pointer);
            if (g->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) delete g;
            return;
        }
        case HubTag::gather_done:
            delete static_cast<Gather*>(m.pointer);
            return;
    }
}

}  // namespace wsgate::pubsub
