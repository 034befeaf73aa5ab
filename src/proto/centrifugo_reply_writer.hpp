// Replies and pushes of the Centrifugo client protocol, JSON encoding
// (centrifugal/protocol client.proto: Reply, Push, the *Result messages;
// JSON keys are the field names, empty fields omitted as Centrifugo omits
// them). Each writer appends one reply or push to a JsonOut; several in one
// WebSocket message are separated by '\n' (append_separator), which is how
// centrifuge-js's JsonCodec splits them.
//
// A publication is encoded once and the same bytes serve every subscriber:
// the push carries nothing per subscriber (this server does not use the
// SDK's numeric channel ids), and write_publication_push reports where the
// publication object lies inside the push so a history or recovery reply can
// embed those bytes again without re-encoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proto/centrifugo_codes.hpp"
#include "proto/centrifugo_command.hpp"
#include "proto/json_out.hpp"

namespace wsgate::proto::centrifugo {

// The server's ping, and the client's pong to it: an empty command/reply.
inline constexpr std::string_view kPing = "{}";

// Writes '\n' unless `out` is empty: the separator between replies batched
// in one message.
void append_separator(JsonOut& out);

// `{"id":N,"error":{"code":C,"message":M}}`, with `"temporary":true` for
// the codes documented as temporary (100, 111).
void write_error_reply(JsonOut& out, uint32_t id, ErrorCode code);

// `{"id":N,"<method>":{}}`: the whole reply to unsubscribe, publish, ping and
// sub_refresh. The SDK disconnects and reconnects when an unsubscribe gets an
// error, so unsubscribe from a channel not subscribed is answered this way.
void write_empty_reply(JsonOut& out, uint32_t id, Method method);

struct ConnectResult {
    std::string_view client;    // the connection's id (the SDK shows it as ctx.client)
    std::string_view version;   // the server's version
    uint32_t ping_seconds = 0;  // server ping interval; 0 = no pings
    bool pong = false;          // the client answers pings with `{}`
    uint32_t ttl_seconds = 0;   // > 0: the connection expires (token exp) after ttl
    std::string_view data;      // raw JSON for the SDK's ctx.data; empty = none
};

// `{"id":N,"connect":{"client":..,"version":..,"expires":true,"ttl":T,
// "data":..,"ping":P,"pong":true}}` (expires/ttl, data, ping, pong only when set).
void write_connect_reply(JsonOut& out, uint32_t id, const ConnectResult& result);

// `{"id":N,"refresh":{"client":..,"version":..,"expires":true,"ttl":T}}`.
void write_refresh_reply(JsonOut& out, uint32_t id, std::string_view client,
                         std::string_view version, uint32_t ttl_seconds);

// `{"id":N,"presence_stats":{"num_clients":C,"num_users":U}}`.
void write_presence_stats_reply(JsonOut& out, uint32_t id, uint32_t num_clients,
                                uint32_t num_users);

struct SubscribeResult {
    bool recoverable = false;     // the channel keeps history: the SDK recovers from it
    bool positioned = false;      // the SDK tracks offset and epoch
    std::string_view epoch;       // with recoverable or positioned
    uint64_t offset = 0;          // the channel's top offset (or the recovery start)
    bool was_recovering = false;  // the subscribe asked to recover
    bool recovered = false;       // ... and every missed publication follows
};

// A subscribe reply or a history reply with a list of publications, written
// in three steps so the publications can come straight from where they are
// stored: begin_*, add_publication for each (a publication object, e.g.
// EncodedPublication::object of a stored push), end_*.
//
// `{"id":N,"subscribe":{"recoverable":true,"epoch":..,"offset":..,
// "positioned":true,"was_recovering":true,"recovered":true,"publications":[`
void begin_subscribe_reply(JsonOut& out, uint32_t id, const SubscribeResult& result);
// `]}}`
void end_subscribe_reply(JsonOut& out);
// `{"id":N,"history":{"publications":[`
void begin_history_reply(JsonOut& out, uint32_t id);
// `],"epoch":..,"offset":..}}`: the channel's current position.
void end_history_reply(JsonOut& out, std::string_view epoch, uint64_t offset);
// One element of the list (a comma first unless it is the first one).
void add_publication(JsonOut& out, std::string_view publication_object);

// Who published (a client publication carries it; an API publication not).
struct ClientInfo {
    std::string_view user;
    std::string_view client;
};

struct Publication {
    std::string_view data;  // raw JSON, written as it is
    uint64_t offset = 0;    // 0 = the channel keeps no stream: no offset written
    const ClientInfo* info = nullptr;
};

// Where the parts of a push written by write_publication_push lie, as byte
// offsets from the start of the JsonOut it was written to.
struct EncodedPublication {
    size_t begin = 0;         // the push's first byte
    size_t end = 0;           // one past its last byte
    size_t object_begin = 0;  // the publication object `{"data":..,"offset":..}`
    size_t object_end = 0;
};

// `{"push":{"channel":C,"pub":{"data":D,"info":{"user":..,"client":..},
// "offset":O}}}` (info and offset only when given).
EncodedPublication write_publication_push(JsonOut& out, std::string_view channel,
                                          const Publication& pub);

// An upper bound of the bytes write_publication_push writes.
size_t publication_push_bound(std::string_view channel, const Publication& pub);

// `{"push":{"channel":C,"unsubscribe":{"code":..,"reason":..}}}`.
void write_unsubscribe_push(JsonOut& out, std::string_view channel, UnsubscribeCode code);

// `{"push":{"disconnect":{"code":..,"reason":..}}}`. Over WebSocket,
// Centrifugo disconnects with a close frame carrying the same code and
// reason (RFC 6455 §5.5.1; see disconnect_reason); the SDK acts on either.
void write_disconnect_push(JsonOut& out, DisconnectCode code);

}  // namespace wsgate::proto::centrifugo
