// HubApp: the server HTTP API (centrifugal.dev "Server API"). Definitions of members declared in
// hub_app.hpp, which includes this file after the class; not to be included on its own.
#pragma once

namespace wsgate::pubsub {

template <class Loop>
void HubApp::api_call(Loop& loop, ws::ConnectionHandle h, const proto::HttpRequest& request,
                      std::string_view body, bool keep_alive) {
    ReplyTo reply{ReplyTo::Kind::http, h, 0, keep_alive};
    if (settings_.api_key.empty()) {
        respond_api(loop, reply, api_response_.fixed(404, keep_alive, kApiNotFound));
        return;
    }
    if (request.method != "POST") {
        respond_api(loop, reply,
                    api_response_.fixed(405, keep_alive, kApiMethodNotAllowed, "Allow: POST"));
        return;
    }
    if (!api_key_matches(request)) {
        log_api_refusal(h, 401, "wrong or missing API key");
        respond_api(loop, reply, api_response_.fixed(401, keep_alive, kApiUnauthorized));
        return;
    }
    cf::ApiMethod method = cf::api_method_of_target(request.target);
    if (method == cf::ApiMethod::unknown) {
        respond_api(loop, reply, api_response_.fixed(404, keep_alive, kApiNotFound));
        return;
    }
    cf::ApiRequest r;
    cf::ApiParseError e = api_parser_.parse(method, body, r);
    if (e != cf::ApiParseError::none) {
        log_api_refusal(h, 400, cf::api_parse_error_text(e));
        respond_api(loop, reply, api_response_.fixed(400, keep_alive, cf::kApiBadRequestBody));
        return;
    }
    switch (method) {
        case cf::ApiMethod::publish:
            api_publish(loop, reply, r);
            return;
        case cf::ApiMethod::broadcast:
            api_broadcast(loop, reply, r);
            return;
        case cf::ApiMethod::history:
            api_history(loop, reply, r);
            return;
        case cf::ApiMethod::presence_stats:
        case cf::ApiMethod::unsubscribe:
        case cf::ApiMethod::disconnect:
        case cf::ApiMethod::channels:
        case cf::ApiMethod::info:
            api_gather(loop, reply, method, r);
            return;
        case cf::ApiMethod::unknown:
            return;
    }
}

template <class Loop>
void HubApp::api_publish(Loop& loop, const ReplyTo& reply, const cf::ApiRequest& r) {
    if (std::optional<cf::ErrorCode> bad = api_channel_error(r.channel)) {
        api_error(loop, reply, *bad);
        return;
    }
    auto req = std::make_unique<PublishRequest>();
    req->channel.assign(r.channel);
    req->hash = channel_hash(r.channel);
    req->data.assign(r.data);
    req->reply = reply;
    route_publish(loop, req.release());
}

template <class Loop>
void HubApp::api_broadcast(Loop& loop, const ReplyTo& reply, const cf::ApiRequest& r) {
    auto b = std::make_unique<Broadcast>();
    b->reply = reply;
    b->outcomes.resize(r.channels.size());
    std::vector<std::unique_ptr<PublishRequest>> reqs;
    for (uint32_t i = 0; i < r.channels.size(); ++i) {
        if (std::optional<cf::ErrorCode> bad = api_channel_error(r.channels[i])) {
            b->outcomes[i].failed = true;
            b->outcomes[i].error = *bad;
            continue;
        }
        auto req = std::make_unique<PublishRequest>();
        req->channel.assign(r.channels[i]);
        req->hash = channel_hash(r.channels[i]);
        req->data.assign(r.data);
        req->broadcast = b.get();
        req->index = i;
        reqs.push_back(std::move(req));
    }
    // Counted before any is routed (a home on this loop answers at once),
    // plus one held here until all are on their way.
    b->remaining = static_cast<uint32_t>(reqs.size()) + 1;
    Broadcast* raw = b.release();
    for (auto& req : reqs)
        route_publish(loop, req.release());
    if (--raw->remaining == 0) finish_broadcast(loop, std::unique_ptr<Broadcast>(raw));
}

template <class Loop>
void HubApp::api_history(Loop& loop, const ReplyTo& reply, const cf::ApiRequest& r) {
    if (std::optional<cf::ErrorCode> bad = api_channel_error(r.channel)) {
        api_error(loop, reply, *bad);
        return;
    }
    // The server API has every right (centrifugal.dev "Channel permission
    // model"): only the namespace's history being off refuses it.
    const ChannelOptions* options = options_of(r.channel);
    if (options->history_size == 0) {
        api_error(loop, reply, cf::ErrorCode::not_available);
        return;
    }
    auto req = std::make_unique<HistoryRequest>();
    req->history_size = options->history_size;
    req->channel.assign(r.channel);
    req->hash = channel_hash(r.channel);
    req->reply = reply;
    req->limit = r.has_limit ? r.limit : 0;
    req->has_since = r.has_since;
    req->since_offset = r.since_offset;
    req->since_epoch.assign(r.since_epoch);
    req->reverse = r.reverse;
    route_history(loop, req.release());
}

template <class Loop>
void HubApp::api_gather(Loop& loop, const ReplyTo& reply, cf::ApiMethod method,
                        const cf::ApiRequest& r) {
    auto g = std::make_unique<Gather>();
    g->reply = reply;
    g->channel.assign(r.channel);
    g->user.assign(r.user);
    g->client.assign(r.client);
    g->pattern.assign(r.pattern);
    switch (method) {
        case cf::ApiMethod::presence_stats:
            g->kind = Gather::Kind::presence_stats;
            break;
        case cf::ApiMethod::unsubscribe:
            g->kind = Gather::Kind::unsubscribe_user;
            break;
        case cf::ApiMethod::disconnect:
            g->kind = Gather::Kind::disconnect_user;
            break;
        case cf::ApiMethod::channels:
            g->kind = Gather::Kind::channels;
            break;
        default:
            g->kind = Gather::Kind::info;
            break;
    }
    if ((method == cf::ApiMethod::presence_stats || method == cf::ApiMethod::unsubscribe)) {
        if (std::optional<cf::ErrorCode> bad = api_channel_error(r.channel)) {
            api_error(loop, reply, *bad);
            return;
        }
        if (method == cf::ApiMethod::presence_stats && !options_of(r.channel)->presence) {
            api_error(loop, reply, cf::ErrorCode::not_available);
            return;
        }
    }
    if (r.has_disconnect) {
        // RFC 6455 §7.4.2: applications close with 3000-4999.
        if (r.disconnect_code < 3000 || r.disconnect_code > 4999) {
            api_error(loop, reply, cf::ErrorCode::bad_request);
            return;
        }
        g->disconnect_code = static_cast<uint16_t>(r.disconnect_code);
        g->disconnect_reason.assign(r.disconnect_reason.substr(0, proto::kMaxCloseReason));
    }
    start_gather(loop, g.release());
}

inline std::optional<cf::ErrorCode> HubApp::api_channel_error(std::string_view channel) const {
    cf::ChannelCheck check = cf::check_channel(channel);
    if (check == cf::ChannelCheck::ok || check == cf::ChannelCheck::private_channel) {
        if (options_of(channel) == nullptr) return cf::ErrorCode::unknown_channel;
        return std::nullopt;
    }
    return check == cf::ChannelCheck::empty ? cf::ErrorCode::bad_request : cf::channel_error(check);
}

template <class Loop>
void HubApp::api_error(Loop& loop, const ReplyTo& reply, cf::ErrorCode code) {
    respond_api(loop, reply, api_response_.build(200, reply.keep_alive, [&](proto::JsonOut& o) {
        cf::write_api_error(o, code);
    }));
}

inline bool HubApp::api_key_matches(const proto::HttpRequest& request) const {
    std::string_view key = request.header("X-API-Key");
    if (key.empty()) {
        std::string_view auth = request.header("Authorization");
        constexpr std::string_view kScheme = "apikey ";
        if (auth.size() > kScheme.size() &&
            strncasecmp(auth.data(), kScheme.data(), kScheme.size()) == 0) {
            key = auth.substr(kScheme.size());
        }
    }
    return !key.empty() && key.size() == settings_.api_key.size() &&
           CRYPTO_memcmp(key.data(), settings_.api_key.data(), key.size()) == 0;
}

inline void HubApp::log_api_refusal(ws::ConnectionHandle h, int status, std::string_view why) {
    static constexpr io::LogEvent kEvent{"pubsub_api_refused", io::LogLevel::info};
    io::log_limited(kEvent, status, ws::request_id(h), {{"status", status}, {"reason", why}},
                    "pubsub api: connection %u.%u: %d %.*s", loop_id_, h.index(), status,
                    static_cast<int>(why.size()), why.data());
}

template <class Loop>
void HubApp::respond_api(Loop& loop, const ReplyTo& reply, std::span<const uint8_t> response) {
    if (http_out_ != nullptr && reply.handle == http_current_) {
        http_out_->send_raw({reinterpret_cast<const char*>(response.data()), response.size()});
        http_answered_ = true;
        return;
    }
    loop.respond_http(reply.handle, response, reply.keep_alive);
}

}  // namespace wsgate::pubsub
