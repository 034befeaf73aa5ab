// HubApp: the client commands (connect, subscribe, publish, ...). Definitions of members declared
// in hub_app.hpp, which includes this file after the class; not to be included on its own.
#pragma once

namespace wsgate::pubsub {

template <class Loop>
void HubApp::on_message(Loop& loop, uint32_t ci, proto::Opcode opcode, std::string_view message) {
    if (opcode != proto::Opcode::text) {
        // The JSON protocol is text only (binary is the protobuf one).
        disconnect(loop, ci, cf::DisconnectCode::bad_request, "binary message");
        return;
    }
    batch_.clear();
    current_ = clients_[ci].handle;
    parser_.start_copied(message);
    cf::Command cmd;
    cf::ParseStatus status;
    while ((status = parser_.next(cmd)) == cf::ParseStatus::command) {
        if (!handle_command(loop, ci, cmd)) {  // disconnected
            current_ = {};
            return;
        }
    }
    flush_batch(loop);
    current_ = {};
    if (status == cf::ParseStatus::bad_request) {
        disconnect(loop, ci, cf::DisconnectCode::bad_request,
                   cf::parse_error_text(parser_.error()));
    }
}

template <class Loop>
bool HubApp::handle_command(Loop& loop, uint32_t ci, const cf::Command& cmd) {
    Client& c = clients_[ci];
    if (cmd.method == cf::Method::pong) {
        c.ping_outstanding = false;
        return true;
    }
    if (!c.connected && cmd.method != cf::Method::connect) {
        disconnect(loop, ci, cf::DisconnectCode::bad_request, "command before connect");
        return false;
    }
    switch (cmd.method) {
        case cf::Method::connect:
            return connect(loop, ci, cmd);
        case cf::Method::subscribe:
            return subscribe(loop, ci, cmd);
        case cf::Method::unsubscribe:
            unsubscribe(loop, ci, cmd.channel);
            batch_.add([&](proto::JsonOut& o) { cf::write_empty_reply(o, cmd.id, cmd.method); });
            return true;
        case cf::Method::publish:
            return client_publish(loop, ci, cmd);
        case cf::Method::history:
            return client_history(loop, ci, cmd);
        case cf::Method::presence_stats:
            return client_presence_stats(loop, ci, cmd);
        case cf::Method::refresh:
            return refresh(loop, ci, cmd);
        case cf::Method::ping:
        case cf::Method::sub_refresh:
            batch_.add([&](proto::JsonOut& o) { cf::write_empty_reply(o, cmd.id, cmd.method); });
            return true;
        case cf::Method::presence:
            // Full presence (every client's info) is not kept: stats only.
            error_reply(cmd.id, cf::ErrorCode::not_available);
            return true;
        case cf::Method::rpc:
            error_reply(cmd.id, cf::ErrorCode::method_not_found);
            return true;
        case cf::Method::send:
            return true;  // asynchronous message with no handler: ignored
        case cf::Method::pong:
            return true;
    }
    return true;
}

inline void HubApp::error_reply(uint32_t id, cf::ErrorCode code) {
    batch_.add([&](proto::JsonOut& o) { cf::write_error_reply(o, id, code); });
}

template <class Loop>
bool HubApp::connect(Loop& loop, uint32_t ci, const cf::Command& cmd) {
    Client& c = clients_[ci];
    if (c.connected) {
        disconnect(loop, ci, cf::DisconnectCode::bad_request, "connect twice");
        return false;
    }
    uint32_t ttl = 0;
    if (cmd.token.empty()) {
        if (!settings_.allow_anonymous) {
            disconnect(loop, ci, cf::DisconnectCode::invalid_token, "anonymous not allowed");
            return false;
        }
    } else {
        if (!verifier_) {
            disconnect(loop, ci, cf::DisconnectCode::invalid_token, "no token secret");
            return false;
        }
        jwt::Claims claims;
        int64_t now = unix_seconds();
        jwt::JwtError e = verifier_->verify(cmd.token, now, claims);
        if (jwt::is_token_expired(e)) {
            error_reply(cmd.id, cf::ErrorCode::token_expired);
            return true;
        }
        if (e != jwt::JwtError::none) {
            disconnect(loop, ci, cf::DisconnectCode::invalid_token, jwt::jwt_error_text(e));
            return false;
        }
        c.user.assign(claims.sub);
        if (claims.exp > 0) {
            ttl = static_cast<uint32_t>(claims.exp - now);
            c.expires_ms = now_ms_ + int64_t{ttl} * 1000 + kExpiredCloseDelayMs;
        }
    }
    c.connected = true;
    shared_.clients.fetch_add(1, std::memory_order_relaxed);
    char id[40];
    client_id(c.handle, id);
    cf::ConnectResult r;
    r.client = id;
    r.version = settings_.version;
    r.ping_seconds = settings_.ping_interval_s;
    r.pong = settings_.ping_interval_s > 0;
    r.ttl_seconds = ttl;
    batch_.add([&](proto::JsonOut& o) { cf::write_connect_reply(o, cmd.id, r); });
    return true;
}

template <class Loop>
bool HubApp::refresh(Loop& loop, uint32_t ci, const cf::Command& cmd) {
    Client& c = clients_[ci];
    if (!verifier_) {
        disconnect(loop, ci, cf::DisconnectCode::invalid_token, "no token secret");
        return false;
    }
    jwt::Claims claims;
    int64_t now = unix_seconds();
    jwt::JwtError e = verifier_->verify(cmd.token, now, claims);
    if (e != jwt::JwtError::none || claims.sub != c.user) {
        disconnect(loop, ci,
                   jwt::is_token_expired(e) ? cf::DisconnectCode::expired
                                            : cf::DisconnectCode::invalid_token,
                   e == jwt::JwtError::none ? "token for another user" : jwt::jwt_error_text(e));
        return false;
    }
    uint32_t ttl = 0;
    c.expires_ms = 0;
    if (claims.exp > 0) {
        ttl = static_cast<uint32_t>(claims.exp - now);
        c.expires_ms = now_ms_ + int64_t{ttl} * 1000 + kExpiredCloseDelayMs;
    }
    char id[40];
    client_id(c.handle, id);
    batch_.add(
        [&](proto::JsonOut& o) { cf::write_refresh_reply(o, cmd.id, id, settings_.version, ttl); });
    return true;
}

template <class Loop>
const ChannelOptions* HubApp::channel_allowed(Loop& loop, uint32_t ci, const cf::Command& cmd,
                                              ChannelAction action, bool* closed) {
    *closed = false;
    cf::ChannelCheck check = cf::check_channel(cmd.channel);
    if (check == cf::ChannelCheck::empty) {
        disconnect(loop, ci, cf::DisconnectCode::bad_request, "empty channel");
        *closed = true;
        return nullptr;
    }
    if (check != cf::ChannelCheck::ok) {
        error_reply(cmd.id, cf::channel_error(check));
        return nullptr;
    }
    const ChannelOptions* options = options_of(cmd.channel);
    if (options == nullptr) {
        error_reply(cmd.id, cf::ErrorCode::unknown_channel);
        return nullptr;
    }
    const Client& c = clients_[ci];
    cf::ChannelParts parts = cf::split_channel(cmd.channel);
    if (parts.user_limited) {
        if (!cf::user_listed(parts.users, c.user)) {
            error_reply(cmd.id, cf::ErrorCode::permission_denied);
            return nullptr;
        }
        // A listed user may subscribe whatever the namespace's subscribe
        // rights (centrifugal.dev "Channel permission model": user-limited
        // channels are one of the ways to grant it).
        if (action == ChannelAction::subscribe) return options;
    }
    // Whether the client is subscribed matters only when the right is a
    // subscriber's: looked up then.
    std::optional<cf::ErrorCode> refused = action_refused(*options, action, false, c.user.empty());
    if (refused == cf::ErrorCode::permission_denied && action != ChannelAction::subscribe &&
        subscribed(ci, cmd.channel)) {
        refused = action_refused(*options, action, true, c.user.empty());
    }
    if (refused) {
        error_reply(cmd.id, *refused);
        return nullptr;
    }
    return options;
}

template <class Loop>
bool HubApp::subscribe(Loop& loop, uint32_t ci, const cf::Command& cmd) {
    bool closed = false;
    const ChannelOptions* options =
        channel_allowed(loop, ci, cmd, ChannelAction::subscribe, &closed);
    if (options == nullptr) return !closed;
    if (cmd.type != 0) {
        error_reply(cmd.id, cf::ErrorCode::not_available);
        return true;
    }
    Client& c = clients_[ci];
    uint64_t hash = channel_hash(cmd.channel);
    uint32_t id = channels_.find(cmd.channel, hash);
    if (id != LoopChannels::kNone) {
        for (const Subscription& s : c.subs) {
            if (s.channel == id) {
                error_reply(cmd.id, cf::ErrorCode::already_subscribed);
                return true;
            }
        }
    }
    if (c.subs.size() >= settings_.max_channels_per_connection) {
        error_reply(cmd.id, cf::ErrorCode::limit_exceeded);
        return true;
    }
    // A channel new to this loop may exist on the node already: only its
    // home knows, and answers 106 when creating it would pass --max-channels.
    if (id == LoopChannels::kNone) id = channels_.insert(cmd.channel, hash);
    c.subs.push_back({id, Subscription::kPending});
    shared_.subscriptions.fetch_add(1, std::memory_order_relaxed);
    LocalChannel& ch = channels_[id];
    ++ch.pending;
    ++c.requests;  // answered by finish_subscribe, here or from the home
    auto req = std::make_unique<SubscribeRequest>();
    req->channel.assign(cmd.channel);
    req->hash = hash;
    req->client = c.handle;
    req->id = cmd.id;
    req->recover = cmd.recover && options->history_size > 0;
    req->history = options->history_size > 0;
    req->offset = cmd.offset;
    req->epoch.assign(cmd.epoch);
    uint32_t home = shared_.home_of(hash);
    if (home == loop_id_) {
        home_subscribe(loop, req.release());
    } else if (ch.positioned && !req->recover) {
        req->top = ch.top;
        req->stream_epoch = ch.epoch;
        finish_subscribe(loop, std::move(req));
    } else {
        req->register_interest = !ch.interest_registered;
        ch.interest_registered = true;
        post(loop, home, HubTag::subscribe, req.release());
    }
    return true;
}

template <class Loop>
void HubApp::unsubscribe(Loop& loop, uint32_t ci, std::string_view channel) {
    uint64_t hash = channel_hash(channel);
    uint32_t id = channels_.find(channel, hash);
    if (id == LoopChannels::kNone) return;
    std::vector<Subscription>& subs = clients_[ci].subs;
    for (size_t k = 0; k < subs.size(); ++k) {
        if (subs[k].channel == id) {
            leave(loop, ci, k);
            return;
        }
    }
}

template <class Loop>
void HubApp::leave(Loop& loop, uint32_t ci, size_t k) {
    std::vector<Subscription>& subs = clients_[ci].subs;
    Subscription s = subs[k];
    subs[k] = subs.back();
    subs.pop_back();
    shared_.subscriptions.fetch_sub(1, std::memory_order_relaxed);
    LocalChannel& ch = channels_[s.channel];
    if (s.place != Subscription::kPending) {
        // Swap-remove from the channel's list, telling the moved client.
        uint32_t moved = ch.subscribers.back();
        ch.subscribers[s.place] = moved;
        ch.subscribers.pop_back();
        if (moved != ci) {
            for (Subscription& m : clients_[moved].subs) {
                if (m.channel == s.channel) m.place = s.place;
            }
        }
    }
    // A pending subscribe still counts in ch.pending until its answer.
    maybe_drop_channel_here(loop, s.channel);
}

template <class Loop>
bool HubApp::client_publish(Loop& loop, uint32_t ci, const cf::Command& cmd) {
    bool closed = false;
    if (channel_allowed(loop, ci, cmd, ChannelAction::publish, &closed) == nullptr) return !closed;
    auto req = std::make_unique<PublishRequest>();
    req->channel.assign(cmd.channel);
    req->hash = channel_hash(cmd.channel);
    req->data.assign(cmd.data);
    req->has_info = true;
    req->user = clients_[ci].user;
    char id[40];
    client_id(clients_[ci].handle, id);
    req->client = id;
    route_publish(loop, req.release());
    batch_.add([&](proto::JsonOut& o) { cf::write_empty_reply(o, cmd.id, cmd.method); });
    return true;
}

template <class Loop>
bool HubApp::client_history(Loop& loop, uint32_t ci, const cf::Command& cmd) {
    bool closed = false;
    const ChannelOptions* options = channel_allowed(loop, ci, cmd, ChannelAction::history, &closed);
    if (options == nullptr) return !closed;
    auto req = std::make_unique<HistoryRequest>();
    req->history_size = options->history_size;
    req->channel.assign(cmd.channel);
    req->hash = channel_hash(cmd.channel);
    req->reply = {ReplyTo::Kind::client, clients_[ci].handle, cmd.id};
    req->limit = cmd.has_limit ? cmd.limit : 0;
    req->has_since = cmd.has_since;
    req->since_offset = cmd.offset;
    req->since_epoch.assign(cmd.epoch);
    req->reverse = cmd.reverse;
    ++clients_[ci].requests;  // answered by finish_history
    route_history(loop, req.release());
    return true;
}

template <class Loop>
bool HubApp::client_presence_stats(Loop& loop, uint32_t ci, const cf::Command& cmd) {
    bool closed = false;
    if (channel_allowed(loop, ci, cmd, ChannelAction::presence, &closed) == nullptr) return !closed;
    auto g = std::make_unique<Gather>();
    g->kind = Gather::Kind::presence_stats;
    g->channel.assign(cmd.channel);
    g->reply = {ReplyTo::Kind::client, clients_[ci].handle, cmd.id};
    ++clients_[ci].requests;  // answered by finish_gather
    start_gather(loop, g.release());
    return true;
}

}  // namespace wsgate::pubsub
