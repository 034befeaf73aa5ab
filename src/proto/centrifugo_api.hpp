// The JSON of Centrifugo's server HTTP API (centrifugal.dev "Server API
// walkthrough"; field names as in centrifugal/centrifugo's api.proto): what
// a backend POSTs to /api/<method>, and the result bodies it gets back.
// Pure: no sockets; the parser reuses its buffers (no allocation once they
// have grown to the largest body seen), the writers append to a JsonOut.
//
// A body that is not JSON, not an object, or lacks a field its method needs
// (or has a known field of the wrong type) is a bad request: HTTP 400 with
// kApiBadRequestBody. Unknown fields are ignored, as Centrifugo's decoder
// ignores them. An empty body counts as `{}` (so `curl -X POST .../api/info`
// works); for a method with required fields it is then a missing field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "proto/centrifugo_codes.hpp"
#include "proto/json_out.hpp"

namespace wsgate::proto::centrifugo {

enum class ApiMethod : uint8_t {
    unknown,  // not a method this server serves: 404
    publish,
    broadcast,
    history,
    presence_stats,
    unsubscribe,
    disconnect,
    channels,
    info,
};

// The method a request target names: "/api/publish" (a query string is
// ignored) -> publish; anything else under /api/ -> unknown.
ApiMethod api_method_of_target(std::string_view target);
// "publish", "broadcast", ... ("" for unknown).
std::string_view api_method_name(ApiMethod method);

// The body of every 400 (and the error of a broadcast item that was not
// valid), as Centrifugo writes ErrorBadRequest.
inline constexpr std::string_view kApiBadRequestBody =
    R"({"error":{"code":107,"message":"bad request"}})";

enum class ApiParseError : uint8_t {
    none,
    malformed_json,    // not JSON (RFC 8259), not UTF-8, or bytes after the object
    not_an_object,     // JSON, but not an object
    too_deep,          // nesting deeper than kMaxJsonDepth
    too_large,         // a body longer than the parser's limit
    wrong_type,        // a known field with a value of the wrong JSON type or range
    missing_channel,   // publish, history, presence_stats, unsubscribe without channel
    missing_channels,  // broadcast without a non-empty channels array
    missing_data,      // publish, broadcast without data
    missing_user,      // unsubscribe, disconnect without user
    unknown_method,    // parse() called with ApiMethod::unknown
};

// A short phrase for the one log line ("malformed JSON", "channel required").
std::string_view api_parse_error_text(ApiParseError error);

// One request's fields. Strings are views: a string without escapes points
// into the parser's copy of the body, one with escapes is unescaped into the
// parser; `data` is the value's exact bytes as received (never re-encoded).
// All stay valid until the next parse() of the same parser.
struct ApiRequest {
    ApiMethod method = ApiMethod::unknown;
    std::string_view channel;                    // publish, history, presence_stats, unsubscribe
    std::span<const std::string_view> channels;  // broadcast, in order (may repeat)
    std::string_view data;                       // publish, broadcast: raw JSON
    bool skip_history = false;                   // publish, broadcast
    std::string_view user;                       // unsubscribe, disconnect
    std::string_view client;                     // unsubscribe, disconnect: one connection only
    std::string_view pattern;                    // channels: a filter (empty: all)
    // history: `limit` (absent: 0, only the stream position), `since`, `reverse`.
    int32_t limit = 0;
    bool has_limit = false;
    bool has_since = false;
    uint64_t since_offset = 0;
    std::string_view since_epoch;
    bool reverse = false;
    // disconnect: `{"disconnect":{"code":C,"reason":R}}`, optional.
    bool has_disconnect = false;
    uint32_t disconnect_code = 0;
    std::string_view disconnect_reason;
};

class ApiParser {
  public:
    // Bodies longer than max_body_bytes are refused (too_large): the loop
    // caps bodies at --max-request-bytes already, this is the parser's own
    // bound. Buffers start small and grow by doubling to the largest body seen.
    explicit ApiParser(size_t max_body_bytes);
    ~ApiParser();
    ApiParser(const ApiParser&) = delete;
    ApiParser& operator=(const ApiParser&) = delete;

    // Parses `body` (copied into the parser's padded buffer first, so any
    // bytes will do) as a request of `method` into `out` (reset first).
    ApiParseError parse(ApiMethod method, std::string_view body, ApiRequest& out);

  private:
    struct Json;  // the simdjson parser, kept out of this header
    std::unique_ptr<Json> json_;
    size_t max_body_bytes_;
    std::unique_ptr<char[]> copy_;
    size_t copy_capacity_ = 0;
    std::vector<std::string_view> channels_;  // broadcast's list, reused
};

// ---- result bodies (HTTP 200) ----

// `{"error":{"code":C,"message":M}}`, the message of error_info(code).
void write_api_error(JsonOut& out, ErrorCode code);

// `{"result":{}}`: unsubscribe, disconnect.
void write_api_empty_result(JsonOut& out);

// `{"result":{"offset":N,"epoch":"E"}}` (each only when set, as Centrifugo
// omits empty fields).
void write_api_publish_result(JsonOut& out, uint64_t offset, std::string_view epoch);

// `{"result":{"responses":[` then one item per channel in request order,
// then `]}}`. An item is `{"result":{"offset":N,"epoch":"E"}}` or
// `{"error":{"code":C,"message":M}}`.
void begin_api_broadcast_result(JsonOut& out);
void add_api_broadcast_published(JsonOut& out, uint64_t offset, std::string_view epoch);
void add_api_broadcast_error(JsonOut& out, ErrorCode code);
void end_api_broadcast_result(JsonOut& out);

// `{"result":{"publications":[` then publication objects (add_publication of
// centrifugo_reply_writer.hpp: the stored `{"data":..,"offset":..}` bytes),
// then `],"offset":N,"epoch":"E"}}`: the stream's current position.
void begin_api_history_result(JsonOut& out);
void end_api_history_result(JsonOut& out, uint64_t offset, std::string_view epoch);

// `{"result":{"num_clients":N,"num_users":M}}`.
void write_api_presence_stats_result(JsonOut& out, uint32_t num_clients, uint32_t num_users);

// `{"result":{"channels":{` then `"name":{"num_clients":N}` per channel,
// then `}}}`.
void begin_api_channels_result(JsonOut& out);
void add_api_channel(JsonOut& out, std::string_view channel, uint32_t num_clients);
void end_api_channels_result(JsonOut& out);

struct ApiNodeInfo {
    std::string_view uid;
    std::string_view name;
    std::string_view version;
    uint32_t num_clients = 0;
    uint32_t num_users = 0;
    uint32_t num_channels = 0;
    uint32_t num_subs = 0;
    uint32_t uptime_seconds = 0;
};

// `{"result":{"nodes":[{"uid":..,"name":..,"version":..,"num_clients":N,
// "num_users":M,"num_channels":K,"uptime":T,"num_subs":S}]}}`: one node.
void write_api_info_result(JsonOut& out, const ApiNodeInfo& node);

// Upper bounds of what the writers write, to size a buffer up front.
inline constexpr size_t kApiFixedResultBytes = 160;  // every writer's syntax and numbers
constexpr size_t api_publish_result_bound(std::string_view epoch) {
    return kApiFixedResultBytes + json_string_bound(epoch);
}
constexpr size_t api_channel_bound(std::string_view channel) {
    return 40 + json_string_bound(channel);  // `,"name":{"num_clients":4294967295}`
}
constexpr size_t api_info_result_bound(const ApiNodeInfo& node) {
    return kApiFixedResultBytes + json_string_bound(node.uid) + json_string_bound(node.name) +
           json_string_bound(node.version) + 5 * 10;
}

}  // namespace wsgate::proto::centrifugo
