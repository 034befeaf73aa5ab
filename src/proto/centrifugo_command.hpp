// One command of the Centrifugo client protocol, JSON encoding, as views into
// the bytes it was parsed from (centrifugal/protocol client.proto: Command and
// the *Request messages; field names are the JSON keys). What npm's
// `centrifuge` 5.x sends for each method is in docs/centrifugo-protocol.md.
#pragma once

#include <cstdint>
#include <string_view>

namespace wsgate::proto::centrifugo {

// The request a command carries: the key of its one request object
// (`{"id":1,"connect":{...}}` is connect). A command with neither id nor
// request, `{}`, is the client's pong to a server ping.
enum class Method : uint8_t {
    pong,
    connect,
    subscribe,
    unsubscribe,
    publish,
    presence,
    presence_stats,
    history,
    ping,
    send,  // the only request without an id: no reply is expected
    rpc,
    refresh,
    sub_refresh,
};

// The JSON key of `method`, which is also the key of its result in a reply
// ("connect", "presence_stats", ...); "" for pong.
std::string_view method_key(Method method);

// A parsed command. Which fields a method fills is given per field; the
// others keep their defaults. Strings are unescaped (a `\u0041` in a channel
// is "A"); `data` is the exact bytes of the JSON value as received, never
// re-encoded, so it can be relayed as it is. Views stay valid until the next
// call to the parser that produced them, and while the parsed bytes live.
struct Command {
    Method method = Method::pong;
    uint32_t id = 0;  // 0: absent (allowed only for pong and send)

    // subscribe, unsubscribe, publish, presence, presence_stats, history,
    // sub_refresh: never empty (the parser refuses a command without it).
    std::string_view channel;
    // connect, refresh, subscribe, sub_refresh: a JWT; refresh requires one.
    std::string_view token;
    // connect, subscribe, publish, send, rpc: the raw JSON value; empty when
    // absent or null. publish requires it.
    std::string_view data;

    // subscribe with recover: the position the client holds; history: `since`.
    std::string_view epoch;
    uint64_t offset = 0;
    bool recover = false;      // subscribe: asks for the publications after offset
    bool has_since = false;    // history: a `since` position was given
    bool positioned = false;   // subscribe
    bool recoverable = false;  // subscribe
    bool join_leave = false;   // subscribe

    // history: `limit` (0 = position only, no publications; the SDK's default)
    // and `reverse` (newest first).
    int32_t limit = 0;
    bool has_limit = false;
    bool reverse = false;

    // subscribe and publish: 0 is a plain channel; the SDK sends 1 for its
    // map subscriptions and 4 for shared polls (not part of this protocol
    // subset: a hub answers them with not available).
    int32_t type = 0;
    // subscribe: the delta encoding asked for ("fossil"), empty when none.
    std::string_view delta;

    std::string_view rpc_method;  // rpc: `method`
    std::string_view name;        // connect: the SDK's name ("js")
    std::string_view version;     // connect: the application version it sent
};

}  // namespace wsgate::proto::centrifugo
