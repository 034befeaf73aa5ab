// HubApp: live upgrade (docs/live-upgrade.md, "Pub/sub"). A client moves
// with its id, user, expiry, pending ping and subscriptions, each with the
// offset and epoch of the last publication it was sent; a home's streams
// (epoch, top, history) move once no loop of the old process holds a
// connection. The new process's homes hold every request that touches a
// stream until the old streams have come, then answer them in order; an
// adopted subscription is answered like a recovering subscribe, its missed
// publications pushed. Definitions of members declared in hub_app.hpp,
// which includes this file after the class; not to be included on its own.
#pragma once

namespace wsgate::pubsub {

// What a client's state starts with.
inline constexpr uint8_t kExportConnected = 1;
inline constexpr uint8_t kExportPingOutstanding = 2;

template <class Loop>
bool HubApp::movable(Loop& loop, ws::ConnectionHandle h) {
    uint32_t ci = client_of(loop, h);
    if (ci == kNoClient) return true;
    const Client& c = clients_[ci];
    if (c.requests != 0 || partial_.contains(ci)) return false;
    for (const Subscription& s : c.subs) {
        if (s.place == Subscription::kPending) return false;
    }
    return true;
}

inline void HubApp::write_subscription(HandoverWriter& w, const LocalChannel& ch) const {
    // The last publication this loop delivered to its subscribers (the
    // home's stream top on the home): the client has every one up to it.
    w.put_short(ch.name);
    if (ch.stream) {
        w.put_short(ch.stream->epoch());
        w.put(ch.stream->top());
    } else {
        w.put_short(ch.epoch);
        w.put(ch.top);
    }
}

template <class Loop>
bool HubApp::export_state(Loop& loop, ws::ConnectionHandle h, ws::AppExport& out) {
    uint32_t ci = client_of(loop, h);
    if (ci == kNoClient) return true;  // no state: a connection that never sent connect
    const Client& c = clients_[ci];
    HandoverWriter w(out.bytes);
    uint8_t flags = 0;
    if (c.connected) flags |= kExportConnected;
    if (c.ping_outstanding) flags |= kExportPingOutstanding;
    w.put(flags);
    w.put<int64_t>(c.expires_ms == 0 ? 0 : std::max<int64_t>(1, c.expires_ms - now_ms_));
    char id[40];
    client_id(c.handle, id);
    w.put_short(id);
    w.put_short(c.user);
    w.put(static_cast<uint16_t>(c.subs.size()));
    for (const Subscription& s : c.subs)
        write_subscription(w, channels_[s.channel]);
    return true;
}

template <class Loop>
void HubApp::handed_over(Loop& loop, ws::ConnectionHandle h) {
    uint32_t ci = client_of(loop, h);
    if (ci != kNoClient) client_gone(loop, ci);
    *loop.app_state(h) = 0;
}

template <class Loop>
bool HubApp::adopt_state(Loop& loop, ws::ConnectionHandle h, std::span<const uint8_t> bytes,
                         std::span<const int> fds) {
    for (int fd : fds)
        ::close(fd);  // the hub passes none
    if (!fds.empty()) return false;
    if (bytes.empty()) return true;  // it had not sent connect
    uint32_t ci = client_of(loop, h);
    if (ci == kNoClient) return false;
    HandoverReader r(bytes);
    uint8_t flags = r.get<uint8_t>();
    int64_t expires_in = r.get<int64_t>();
    std::string_view id = r.get_short();
    std::string_view user = r.get_short();
    uint16_t subs = r.get<uint16_t>();
    if (!r.ok()) return false;
    Client& c = clients_[ci];
    c.user.assign(user);
    c.expires_ms = expires_in == 0 ? 0 : now_ms_ + expires_in;
    c.ping_outstanding = (flags & kExportPingOutstanding) != 0;
    if ((flags & kExportConnected) != 0) {
        c.connected = true;
        shared_.clients.fetch_add(1, std::memory_order_relaxed);
    }
    adopted_ids_[h.bits()].assign(id);
    for (uint16_t k = 0; k < subs; ++k) {
        std::string_view channel = r.get_short();
        std::string_view epoch = r.get_short();
        uint64_t offset = r.get<uint64_t>();
        if (!r.ok()) return false;
        // A namespace this configuration lacks: the client reconnects (1001)
        // and hears 102 for it, as any subscriber would.
        const ChannelOptions* options = options_of(channel);
        if (options == nullptr) return false;
        uint64_t hash = channel_hash(channel);
        uint32_t id_here = channels_.find(channel, hash);
        if (id_here == LoopChannels::kNone) id_here = channels_.insert(channel, hash);
        // Admitted by the old process: no per-connection limit applies again.
        clients_[ci].subs.push_back({id_here, Subscription::kPending});
        shared_.subscriptions.fetch_add(1, std::memory_order_relaxed);
        LocalChannel& ch = channels_[id_here];
        ++ch.pending;
        ++clients_[ci].requests;
        auto req = std::make_unique<SubscribeRequest>();
        req->channel.assign(channel);
        req->hash = hash;
        req->client = h;
        req->adopted = true;
        req->recover = options->history_size > 0;
        req->history = options->history_size > 0;
        req->offset = offset;
        req->epoch.assign(epoch);
        uint32_t home = shared_.home_of(hash);
        if (home == loop_id_) {
            home_subscribe(loop, req.release());
        } else {
            req->register_interest = !ch.interest_registered;
            ch.interest_registered = true;
            post(loop, home, HubTag::subscribe, req.release());
        }
    }
    return r.done();
}

template <class Loop>
void HubApp::finish_adopted_subscription(Loop& loop, SubscribeRequest& req, uint32_t ci, size_t k) {
    if (ci == kNoClient || k == SIZE_MAX) return;  // gone, or unsubscribed meanwhile
    if (req.failed || (req.recover && !req.recovered)) {
        // The stream lost the client's position (history too short, or the
        // old process's stream did not come): as Centrifugo after a lost
        // position, the client reconnects and recovers what it can.
        leave(loop, ci, k);
        disconnect(loop, ci, cf::DisconnectCode::insufficient_state,
                   "position lost in a live upgrade");
        return;
    }
    // What was published after the client's last publication, then live:
    // both in offset order (later publications come after this answer).
    for (const PublicationRef& p : req.missed) {
        send_text(loop, req.client, p->push());
        if (client_of(loop, req.client) != ci) return;  // closed (over its queue cap)
    }
    uint32_t id = clients_[ci].subs[k].channel;
    LocalChannel& ch = channels_[id];
    clients_[ci].subs[k].place = static_cast<uint32_t>(ch.subscribers.size());
    ch.subscribers.push_back(ci);
}

template <class Loop>
void HubApp::on_handover_begin(Loop&) {
    handing_over_ = true;
}

inline bool HubApp::loop_state_ready() const {
    return shared_.publishes_in_flight.load(std::memory_order_relaxed) == 0 && outbox_.empty();
}

template <class Loop>
void HubApp::export_loop_state(Loop&, std::vector<uint8_t>& out) {
    // With Redis the streams live there: nothing to move.
    HandoverWriter w(out);
    uint32_t streams = 0;
    if (!redis_engine()) {
        channels_.for_each([&](uint32_t, LocalChannel& ch) { streams += ch.stream ? 1 : 0; });
    }
    w.put(streams);
    if (streams == 0) return;
    uint64_t pubs = 0;
    channels_.for_each([&](uint32_t, LocalChannel& ch) {
        if (!ch.stream) return;
        ch.stream->expire(wall_ms());
        w.put_short(ch.name);
        w.put_short(ch.stream->epoch());
        w.put(ch.stream->top());
        const auto& history = ch.stream->history();
        w.put(static_cast<uint32_t>(history.size()));
        for (const PublicationRef& p : history) {
            w.put(p->offset());
            w.put(p->time_ms());
            w.put(p->object_begin());
            w.put(static_cast<uint32_t>(p->object().size()));
            w.put_long(p->push());
        }
        pubs += history.size();
    });
    io::log(io::LogLevel::info, "", io::kNoConn, {},
            "upgrade: loop %u hands over %u channel streams (%llu publications, %zu bytes)",
            loop_id_, streams, static_cast<unsigned long long>(pubs), out.size());
}

template <class Loop>
void HubApp::adopt_loop_state(Loop& loop, std::span<const uint8_t> bytes) {
    uint32_t streams = 0;
    uint64_t pubs = 0;
    if (!bytes.empty() && !redis_engine()) {
        HandoverReader r(bytes);
        streams = r.get<uint32_t>();
        for (uint32_t i = 0; i < streams && r.ok(); ++i) {
            std::string_view name = r.get_short();
            std::string_view epoch = r.get_short();
            uint64_t top = r.get<uint64_t>();
            uint32_t count = r.get<uint32_t>();
            uint64_t hash = channel_hash(name);
            std::vector<PublicationRef> history;
            for (uint32_t k = 0; k < count && r.ok(); ++k) {
                uint64_t offset = r.get<uint64_t>();
                int64_t time_ms = r.get<int64_t>();
                uint32_t object_begin = r.get<uint32_t>();
                uint32_t object_len = r.get<uint32_t>();
                std::string_view push = r.get_long();
                if (!r.ok()) break;
                PublicationRecord* rec = PublicationRecord::from_push(
                    name, hash, push, object_begin, object_len, offset, time_ms);
                if (rec == nullptr) {
                    r.fail();
                    break;
                }
                history.emplace_back(rec);
            }
            if (!r.ok() || epoch.size() != ChannelStream::kEpochBytes) {
                r.fail();
                break;
            }
            const ChannelOptions* options = options_of(name);
            if (options == nullptr) continue;  // its namespace is not configured here
            uint32_t id = channels_.find(name, hash);
            if (id == LoopChannels::kNone) id = channels_.insert(name, hash);
            LocalChannel& ch = channels_[id];
            if (!ch.stream) {
                shared_.channels.fetch_add(1, std::memory_order_relaxed);  // admitted before
                ch.stream = std::make_unique<ChannelStream>(options->history_size,
                                                            int64_t{options->history_ttl_s} * 1000,
                                                            next_epoch_seed());
            }
            ch.stream->adopt(top, epoch, std::move(history));
            ch.positioned = true;
            pubs += count;
        }
        if (!r.done()) {
            io::log(io::LogLevel::info, "", io::kNoConn, {},
                    "upgrade: loop %u: the old process's channel streams do not read back; the "
                    "rest start afresh",
                    loop_id_);
        }
    }
    if (holding_ && !redis_engine()) {
        io::log(io::LogLevel::info, "", io::kNoConn, {},
                "upgrade: loop %u took %u channel streams (%llu publications); answering %zu held "
                "requests",
                loop_id_, streams, static_cast<unsigned long long>(pubs), held_.size());
    }
    state_adopted_ms_ = std::max<int64_t>(now_ms_, 1);
    if (may_release(now_ms_)) release_held(loop);
    // Streams nobody needs (no subscriber came with them, no history).
    std::vector<uint32_t> ids;
    channels_.for_each([&](uint32_t id, LocalChannel& ch) {
        if (ch.stream) ids.push_back(id);
    });
    for (uint32_t id : ids)
        maybe_drop_channel(id);
}

template <class Loop>
void HubApp::refuse_held(Loop& loop, HubTag tag, void* pointer) {
    switch (tag) {
        case HubTag::publish: {
            auto* req = static_cast<PublishRequest*>(pointer);
            req->failed = true;
            req->error = cf::ErrorCode::not_available;
            publish_answered(loop, req);
            return;
        }
        case HubTag::subscribe: {
            auto* req = static_cast<SubscribeRequest*>(pointer);
            req->failed = true;
            req->error = cf::ErrorCode::not_available;
            answer_subscribe(loop, req);
            return;
        }
        case HubTag::history: {
            auto* req = static_cast<HistoryRequest*>(pointer);
            req->failed = true;
            req->error = cf::ErrorCode::not_available;
            if (req->reply.handle.loop() == loop_id_) {
                finish_history(loop, std::unique_ptr<HistoryRequest>(req));
            } else {
                post(loop, req->reply.handle.loop(), HubTag::history_done, req);
            }
            return;
        }
        default:
            return;
    }
}

template <class Loop>
void HubApp::release_held(Loop& loop) {
    holding_ = false;
    std::vector<ws::LoopMessage> held = std::move(held_);
    held_.clear();
    for (const ws::LoopMessage& m : held) {
        switch (static_cast<HubTag>(m.tag)) {
            case HubTag::publish:
                home_publish(loop, static_cast<PublishRequest*>(m.pointer));
                break;
            case HubTag::subscribe:
                home_subscribe(loop, static_cast<SubscribeRequest*>(m.pointer));
                break;
            case HubTag::history: {
                auto* req = static_cast<HistoryRequest*>(m.pointer);
                if (req->reply.handle.loop() == loop_id_) {
                    home_history_here(req);
                    finish_history(loop, std::unique_ptr<HistoryRequest>(req));
                } else {
                    home_history(loop, req);
                }
                break;
            }
            default:
                discard_message(m);
                break;
        }
    }
}

}  // namespace wsgate::pubsub
