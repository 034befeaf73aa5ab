#include "proto/centrifugo_reply_writer.hpp"

namespace wsgate::proto::centrifugo {

namespace {

void begin_reply(JsonOut& out, uint32_t id, std::string_view key) {
    out.raw("{\"id\":");
    out.number(uint64_t{id});
    out.raw(",\"");
    out.raw(key);
    out.raw("\":{");
}

// `"key":` after a comma unless the object has just been opened.
void key(JsonOut& out, std::string_view name) {
    if (out.last() != '{') out.raw(',');
    out.raw('"');
    out.raw(name);
    out.raw("\":");
}

}  // namespace

void append_separator(JsonOut& out) {
    if (out.size() > 0) out.raw('\n');
}

void write_error_reply(JsonOut& out, uint32_t id, ErrorCode code) {
    ErrorInfo info = error_info(code);
    begin_reply(out, id, "error");
    key(out, "code");
    out.number(uint64_t{static_cast<uint16_t>(code)});
    key(out, "message");
    out.string(info.message);
    if (info.temporary) {
        key(out, "temporary");
        out.boolean(true);
    }
    out.raw("}}");
}

void write_empty_reply(JsonOut& out, uint32_t id, Method method) {
    begin_reply(out, id, method_key(method));
    out.raw("}}");
}

void write_connect_reply(JsonOut& out, uint32_t id, const ConnectResult& result) {
    begin_reply(out, id, "connect");
    key(out, "client");
    out.string(result.client);
    key(out, "version");
    out.string(result.version);
    if (result.ttl_seconds > 0) {
        key(out, "expires");
        out.boolean(true);
        key(out, "ttl");
        out.number(uint64_t{result.ttl_seconds});
    }
    if (!result.data.empty()) {
        key(out, "data");
        out.relayed(result.data);
    }
    if (result.ping_seconds > 0) {
        key(out, "ping");
        out.number(uint64_t{result.ping_seconds});
    }
    if (result.pong) {
        key(out, "pong");
        out.boolean(true);
    }
    out.raw("}}");
}

void write_refresh_reply(JsonOut& out, uint32_t id, std::string_view client,
                         std::string_view version, uint32_t ttl_seconds) {
    begin_reply(out, id, "refresh");
    key(out, "client");
    out.string(client);
    key(out, "version");
    out.string(version);
    if (ttl_seconds > 0) {
        key(out, "expires");
        out.boolean(true);
        key(out, "ttl");
        out.number(uint64_t{ttl_seconds});
    }
    out.raw("}}");
}

void write_presence_stats_reply(JsonOut& out, uint32_t id, uint32_t num_clients,
                                uint32_t num_users) {
    begin_reply(out, id, "presence_stats");
    key(out, "num_clients");
    out.number(uint64_t{num_clients});
    key(out, "num_users");
    out.number(uint64_t{num_users});
    out.raw("}}");
}

void begin_subscribe_reply(JsonOut& out, uint32_t id, const SubscribeResult& result) {
    begin_reply(out, id, "subscribe");
    if (result.recoverable) {
        key(out, "recoverable");
        out.boolean(true);
    }
    if (result.recoverable || result.positioned) {
        key(out, "epoch");
        out.string(result.epoch);
        key(out, "offset");
        out.number(result.offset);
    }
    if (result.positioned) {
        key(out, "positioned");
        out.boolean(true);
    }
    if (result.was_recovering) {
        key(out, "was_recovering");
        out.boolean(true);
    }
    if (result.recovered) {
        key(out, "recovered");
        out.boolean(true);
    }
    key(out, "publications");
    out.raw('[');
}

void end_subscribe_reply(JsonOut& out) {
    out.raw("]}}");
}

void begin_history_reply(JsonOut& out, uint32_t id) {
    begin_reply(out, id, "history");
    key(out, "publications");
    out.raw('[');
}

void end_history_reply(JsonOut& out, std::string_view epoch, uint64_t offset) {
    out.raw("],\"epoch\":");
    out.string(epoch);
    out.raw(",\"offset\":");
    out.number(offset);
    out.raw("}}");
}

void add_publication(JsonOut& out, std::string_view publication_object) {
    if (out.last() != '[') out.raw(',');
    out.raw(publication_object);
}

EncodedPublication write_publication_push(JsonOut& out, std::string_view channel,
                                          const Publication& pub) {
    EncodedPublication e;
    e.begin = out.size();
    out.raw("{\"push\":{\"channel\":");
    out.string(channel);
    out.raw(",\"pub\":");
    e.object_begin = out.size();
    out.raw("{\"data\":");
    out.relayed(pub.data);
    if (pub.info != nullptr) {
        out.raw(",\"info\":{\"user\":");
        out.string(pub.info->user);
        out.raw(",\"client\":");
        out.string(pub.info->client);
        out.raw('}');
    }
    if (pub.offset > 0) {
        out.raw(",\"offset\":");
        out.number(pub.offset);
    }
    out.raw('}');
    e.object_end = out.size();
    out.raw("}}");
    e.end = out.size();
    return e;
}

size_t publication_push_bound(std::string_view channel, const Publication& pub) {
    // Fixed syntax: {"push":{"channel":,"pub":{"data":,"info":{"user":,
    // "client":},"offset":}}} is under 80 bytes; an offset has 20 digits.
    size_t bound = 80 + 20 + json_string_bound(channel) + pub.data.size();
    if (pub.info != nullptr) {
        bound += json_string_bound(pub.info->user) + json_string_bound(pub.info->client);
    }
    return bound;
}

void write_unsubscribe_push(JsonOut& out, std::string_view channel, UnsubscribeCode code) {
    out.raw("{\"push\":{\"channel\":");
    out.string(channel);
    out.raw(",\"unsubscribe\":{\"code\":");
    out.number(uint64_t{static_cast<uint16_t>(code)});
    out.raw(",\"reason\":");
    out.string(unsubscribe_reason(code));
    out.raw("}}}");
}

void write_disconnect_push(JsonOut& out, DisconnectCode code) {
    out.raw("{\"push\":{\"disconnect\":{\"code\":");
    out.number(uint64_t{static_cast<uint16_t>(code)});
    out.raw(",\"reason\":");
    out.string(disconnect_reason(code));
    out.raw("}}}");
}

}  // namespace wsgate::proto::centrifugo
