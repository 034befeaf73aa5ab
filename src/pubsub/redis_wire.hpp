// What the Redis engine stores and sends, as bytes (docs/redis-engine.md):
//  - a channel's stream of publications: a Redis Stream `wsgate.s.<channel>`
//    whose entry ids are `<offset>-0` (so XRANGE by offset needs no index)
//    with one field `d` = the publication body, trimmed with MAXLEN ~
//    history-size and expiring history-ttl after the last publication;
//  - its meta: a hash `wsgate.m.<channel>` with `s` (the top offset) and `e`
//    (the epoch), living longer than the stream (kMetaTtlSeconds);
//  - every publication PUBLISHed on `wsgate.p.<channel>` as
//    `<offset> <epoch> <body>` (offset 0 and epoch `-` without history).
// A body is `n<data>` or `i<user length> <client length> <user><client><data>`.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "proto/centrifugo_reply_writer.hpp"

namespace wsgate::pubsub::redis {

inline constexpr std::string_view kStreamPrefix = "wsgate.s.";
inline constexpr std::string_view kMetaPrefix = "wsgate.m.";
inline constexpr std::string_view kChannelPrefix = "wsgate.p.";
// A stream's offset and epoch outlive its publications (centrifugo's
// history_meta_ttl): a client that comes back after history-ttl still
// learns whether its position is the stream's, rather than a new epoch.
inline constexpr uint32_t kMetaTtlSeconds = 24 * 3600;

// Publish: offset and epoch in the meta, XADD, EXPIRE, PUBLISH, atomically.
// KEYS: stream, meta. ARGV: pub/sub channel, body, history size, history
// ttl, meta ttl, an epoch for a stream that has none. Returns {offset, epoch}.
extern const std::string_view kPublishScript;
// Position and what follows an offset. KEYS: stream, meta. ARGV: offset,
// count (0: none), meta ttl, an epoch for a stream that has none. Returns
// {top, epoch, XRANGE entries after offset (at most count)}.
extern const std::string_view kSyncScript;

// Node heartbeats: each node's /api/info object at `wsgate.node.<uid>`
// (expiring after kNodeTtlMs) and its uid in the sorted set `wsgate.nodes`
// scored by Redis's clock. KEYS: set, node key. ARGV: uid, object, ttl ms.
inline constexpr std::string_view kNodesKey = "wsgate.nodes";
inline constexpr std::string_view kNodePrefix = "wsgate.node.";
inline constexpr uint32_t kNodeTtlMs = 5000;
extern const std::string_view kHeartbeatScript;
// The objects of the nodes seen within ARGV[1] ms. KEYS: set.
extern const std::string_view kNodesScript;

// Presence across the cluster: each node keeps, per channel with local
// subscribers, `wsgate.presence.<channel>.<uid>` = its presence value
// (append_presence), written with its heartbeat and expiring after
// kNodeTtlMs. The values of the nodes seen within ARGV[1] ms but ARGV[3],
// under the key prefix ARGV[2]. KEYS: set.
inline constexpr std::string_view kPresencePrefix = "wsgate.presence.";
extern const std::string_view kPresenceScript;
// The channels API across the cluster: each node's hash
// `wsgate.channels.<uid>` (channel -> its subscribers there), replaced with
// its heartbeat and expiring after kNodeTtlMs. Write: KEYS: hash. ARGV: ttl
// ms, then channel, count pairs. Read: the pairs of the nodes seen within
// ARGV[1] ms but ARGV[2], flattened. KEYS: set.
inline constexpr std::string_view kChannelsPrefix = "wsgate.channels.";
extern const std::string_view kChannelsWriteScript;
extern const std::string_view kChannelsScript;
// A node's presence in a channel: `<clients>` then `<length>:<user>` for
// each distinct user (length-prefixed: a user id may hold any byte).
void append_presence(std::string& out, uint64_t clients, const std::set<std::string>& users);
// Adds a value's clients and users; false: malformed (nothing added).
bool parse_presence(std::string_view value, uint64_t& clients, std::set<std::string>& users);

// The history API: KEYS: stream, meta. ARGV: since offset (-1: none), limit
// (-1: all the stream keeps, 0: none), reverse (1/0), max (history size),
// meta ttl, an epoch for a stream that has none. Returns {top, epoch,
// entries}, oldest first unless reverse.
extern const std::string_view kHistoryScript;

// SHA1 of a script as hex (EVALSHA's argument).
std::string script_sha1(std::string_view script);

// Jump consistent hash (Lamping and Veach 2014): the shard of a key among
// `shards`; adding a shard moves about 1/n of the keys, all to the new one.
uint32_t jump_hash(uint64_t key, uint32_t shards);

// Appends a publication's body to out.
void append_body(std::string& out, std::string_view data,
                 const proto::centrifugo::ClientInfo* info);

struct Body {
    std::string_view data;
    bool has_info = false;
    proto::centrifugo::ClientInfo info;
};
std::optional<Body> parse_body(std::string_view body);

// A message received on `wsgate.p.<channel>`.
struct Message {
    uint64_t offset = 0;
    std::string_view epoch;  // "-" without history
    std::string_view body;
};
std::optional<Message> parse_message(std::string_view payload);

// The offset of a stream entry id `<offset>-0`.
std::optional<uint64_t> entry_offset(std::string_view id);

}  // namespace wsgate::pubsub::redis
