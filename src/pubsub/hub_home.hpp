// HubApp: a channel's home (offsets, history, recovery) and delivery to subscribers. Definitions of
// members declared in hub_app.hpp, which includes this file after the class; not to be included on
// its own.
#pragma once

namespace wsgate::pubsub {

inline void HubApp::home_subscribe_here(SubscribeRequest* req) {
    uint32_t id = home_channel(req->channel, req->hash);
    if (id == LoopChannels::kNone) {
        req->failed = true;
        return;
    }
    ChannelStream& s = *channels_[id].stream;
    s.expire(wall_ms());
    if (req->register_interest) s.interested().set(req->client.loop());
    req->top = s.top();
    req->stream_epoch.assign(s.epoch());
    req->history = s.history_size() > 0;
    if (!req->recover) return;
    cf::RecoveryPlan plan =
        cf::plan_recovery(req->offset, req->epoch, s.bounds(), settings_.recovery_max_publications);
    req->recovered = plan.recovered;
    for (uint64_t o = plan.first; plan.recovered && o <= plan.last; ++o) {
        PublicationRecord* r = s.at(o);
        r->retain();
        req->missed.emplace_back(r);
    }
}

template <class Loop>
void HubApp::home_subscribe(Loop& loop, SubscribeRequest* req) {
    if (hold(loop, HubTag::subscribe, req)) return;  // the old process's stream is on its way
    if (options_of(req->channel) == nullptr) {
        // The namespace went in a reload adopted here before the
        // subscriber's loop adopted it.
        req->failed = true;
        req->error = cf::ErrorCode::unknown_channel;
        answer_subscribe(loop, req);
        return;
    }
    if (redis_engine() && redis_hold_subscribe(loop, req)) return;  // answered later
    home_subscribe_here(req);
    answer_subscribe(loop, req);
}

template <class Loop>
void HubApp::answer_subscribe(Loop& loop, SubscribeRequest* req) {
    if (req->client.loop() == loop_id_) {
        finish_subscribe(loop, std::unique_ptr<SubscribeRequest>(req));
    } else {
        post(loop, req->client.loop(), HubTag::subscribe_done, req);
    }
}

template <class Loop>
void HubApp::finish_subscribe(Loop& loop, std::unique_ptr<SubscribeRequest> req) {
    uint32_t id = channels_.find(req->channel, req->hash);
    if (id == LoopChannels::kNone) return;  // not reached: a pending subscribe keeps it
    LocalChannel& ch = channels_[id];
    --ch.pending;
    if (uint32_t owner = client_of(loop, req->client);
        owner != kNoClient && clients_[owner].requests > 0) {
        --clients_[owner].requests;
    }
    if (!req->failed && !ch.stream) {
        // The home's position holds for every later publication here.
        ch.positioned = true;
        ch.top = std::max(ch.top, req->top);
        ch.epoch = req->stream_epoch;
    }
    uint32_t ci = client_of(loop, req->client);
    size_t k = SIZE_MAX;  // the client's pending subscription, if it still has it
    if (ci != kNoClient) {
        std::vector<Subscription>& subs = clients_[ci].subs;
        for (size_t i = 0; i < subs.size(); ++i) {
            if (subs[i].channel == id && subs[i].place == Subscription::kPending) k = i;
        }
    }
    if (req->adopted) {
        finish_adopted_subscription(loop, *req, ci, k);
    } else if (req->failed) {
        if (k != SIZE_MAX) leave(loop, ci, k);
        if (ci != kNoClient) {
            reply(loop, req->client,
                  [&](proto::JsonOut& o) { cf::write_error_reply(o, req->id, req->error); });
        }
    } else {
        if (k != SIZE_MAX) {
            clients_[ci].subs[k].place = static_cast<uint32_t>(ch.subscribers.size());
            ch.subscribers.push_back(ci);
        }
        // Answered even when the client unsubscribed meanwhile: every
        // command with an id gets its reply.
        if (ci != kNoClient) {
            cf::SubscribeResult r;
            bool history = req->history;
            r.recoverable = history;
            r.positioned = history;
            r.epoch = req->stream_epoch;
            r.offset = req->top;
            r.was_recovering = req->recover;
            r.recovered = req->recovered;
            reply(loop, req->client, [&](proto::JsonOut& o) {
                cf::begin_subscribe_reply(o, req->id, r);
                for (const PublicationRef& p : req->missed)
                    cf::add_publication(o, p->object());
                cf::end_subscribe_reply(o);
            });
        }
    }
    // A reply can close its client (over the queue cap), which may drop
    // the channel: look it up again rather than trusting `id`.
    if (k == SIZE_MAX) {
        uint32_t again = channels_.find(req->channel, req->hash);
        if (again != LoopChannels::kNone) maybe_drop_channel_here(loop, again);
    }
}

template <class Loop>
void HubApp::route_publish(Loop& loop, PublishRequest* req) {
    uint32_t home = shared_.home_of(req->hash);
    if (home == loop_id_) {
        home_publish(loop, req);
    } else {
        shared_.publishes_in_flight.fetch_add(1, std::memory_order_relaxed);
        post(loop, home, HubTag::publish, req);
    }
}

template <class Loop>
void HubApp::home_publish(Loop& loop, PublishRequest* req) {
    if (hold(loop, HubTag::publish, req)) return;  // the old process's stream is on its way
    const ChannelOptions* options = options_of(req->channel);
    if (options == nullptr) {
        // Checked by the origin too; here for a reload between the two.
        req->failed = true;
        req->error = cf::ErrorCode::unknown_channel;
        publish_answered(loop, req);
        return;
    }
    req->history_size = options->history_size;
    req->history_ttl_s = options->history_ttl_s;
    if (redis_engine()) {
        redis_publish(loop, req);
        return;
    }
    uint32_t id = home_channel(req->channel, req->hash);
    if (id == LoopChannels::kNone) {
        req->failed = true;
        req->error = cf::ErrorCode::limit_exceeded;
    } else {
        ChannelStream& s = *channels_[id].stream;
        int64_t now = wall_ms();
        s.expire(now);
        cf::ClientInfo info{req->user, req->client};
        cf::Publication pub;
        pub.data = req->data;
        pub.info = req->has_info ? &info : nullptr;
        uint64_t offset = s.next_offset();
        // Offsets are written only when subscribers can use them (history on).
        bool history = s.history_size() > 0;
        pub.offset = history ? offset : 0;
        PublicationRef rec(PublicationRecord::create(req->channel, req->hash, pub, now));
        // create() encoded pub.offset; the stream counts every publication.
        s.append(offset, rec.share());
        // Without history a channel's stream does not outlive its
        // subscribers, so its position means nothing to a publisher:
        // the result is empty, as Centrifugo's for unpositioned channels.
        if (history) {
            req->offset = offset;
            req->epoch.assign(s.epoch());
        }
        fan_out(loop, id, rec);
        maybe_drop_channel(id);
    }
    publish_answered(loop, req);
}

template <class Loop>
void HubApp::fan_out(Loop& loop, uint32_t id, const PublicationRef& rec) {
    ChannelStream& s = *channels_[id].stream;
    shared_.counters.publications.fetch_add(1, std::memory_order_relaxed);
    for (uint32_t l = 0; l < shared_.loops(); ++l) {
        if (l == loop_id_ || !s.interested().test(l)) continue;
        post(loop, l, HubTag::publication, rec.share().release());
    }
    deliver(loop, id, rec.get());
}

template <class Loop>
void HubApp::publish_answered(Loop& loop, PublishRequest* req) {
    if (req->reply.kind == ReplyTo::Kind::none && req->broadcast == nullptr) {
        delete req;
        return;
    }
    uint32_t origin =
        req->broadcast != nullptr ? req->broadcast->reply.handle.loop() : req->reply.handle.loop();
    if (origin == loop_id_) {
        finish_publish(loop, req);
    } else {
        post(loop, origin, HubTag::publish_done, req);
    }
}

template <class Loop>
void HubApp::finish_publish(Loop& loop, PublishRequest* req) {
    std::unique_ptr<PublishRequest> own(req);
    if (Broadcast* b = req->broadcast) {
        PublishOutcome& o = b->outcomes[req->index];
        o.offset = req->offset;
        o.epoch = req->epoch;
        o.failed = req->failed;
        o.error = req->error;
        if (--b->remaining == 0) finish_broadcast(loop, std::unique_ptr<Broadcast>(b));
        return;
    }
    if (req->reply.kind != ReplyTo::Kind::http) return;
    // The broker is unreachable: 503, so a backend's retry logic sees it.
    int status = req->failed && req->error == cf::ErrorCode::not_available ? 503 : 200;
    respond_api(loop, req->reply,
                api_response_.build(status, req->reply.keep_alive, [&](proto::JsonOut& o) {
                    if (req->failed) {
                        cf::write_api_error(o, req->error);
                    } else {
                        cf::write_api_publish_result(o, req->offset, req->epoch);
                    }
                }));
}

template <class Loop>
void HubApp::finish_broadcast(Loop& loop, std::unique_ptr<Broadcast> b) {
    respond_api(loop, b->reply,
                api_response_.build(200, b->reply.keep_alive, [&](proto::JsonOut& o) {
                    cf::begin_api_broadcast_result(o);
                    for (const PublishOutcome& r : b->outcomes) {
                        if (r.failed) {
                            cf::add_api_broadcast_error(o, r.error);
                        } else {
                            cf::add_api_broadcast_published(o, r.offset, r.epoch);
                        }
                    }
                    cf::end_api_broadcast_result(o);
                }));
}

template <class Loop>
void HubApp::deliver(Loop& loop, uint32_t id, PublicationRecord* rec) {
    LocalChannel& ch = channels_[id];
    if (!ch.positioned) return;  // no active subscriber yet
    if (!ch.stream) {
        if (rec->offset() != 0 && rec->offset() <= ch.top) return;  // seen already
        ch.top = std::max(ch.top, rec->offset());
        // With history off pushes carry no offset; the position counts anyway.
        if (rec->offset() == 0) ++ch.top;
    }
    if (ch.subscribers.empty()) return;
    flush_batch(loop);
    std::string_view push = rec->push();
    ws::SharedMessage message(proto::Opcode::text,
                              {reinterpret_cast<const uint8_t*>(push.data()), push.size()});
    uint64_t queued = 0;
    for (uint32_t ci : ch.subscribers) {
        switch (loop.send_shared(clients_[ci].handle, message)) {
            case ws::SendResult::queued:
                ++queued;
                break;
            case ws::SendResult::over_cap:
            case ws::SendResult::busy:
                slow_.push_back(ci);
                break;
            case ws::SendResult::gone:
                break;
        }
    }
    shared_.counters.deliveries.fetch_add(queued, std::memory_order_relaxed);
    // A subscriber over --max-queued-bytes would miss this publication:
    // it is disconnected instead (3008, the SDK reconnects and recovers).
    for (uint32_t ci : slow_) {
        if (!clients_[ci].in_use) continue;
        shared_.counters.slow_disconnects.fetch_add(1, std::memory_order_relaxed);
        disconnect(loop, ci, cf::DisconnectCode::slow, "over --max-queued-bytes");
    }
    slow_.clear();
}

template <class Loop>
void HubApp::route_history(Loop& loop, HistoryRequest* req) {
    if (redis_engine()) {
        redis_history(loop, req);  // Redis's stream, asked from this loop
        return;
    }
    uint32_t home = shared_.home_of(req->hash);
    if (home == loop_id_) {
        if (hold(loop, HubTag::history, req)) return;
        home_history_here(req);
        finish_history(loop, std::unique_ptr<HistoryRequest>(req));
    } else {
        post(loop, home, HubTag::history, req);
    }
}

inline void HubApp::home_history_here(HistoryRequest* req) {
    uint32_t id = channels_.find(req->channel, req->hash);
    if (id == LoopChannels::kNone || !channels_[id].stream) return;  // empty, top 0
    ChannelStream& s = *channels_[id].stream;
    s.expire(wall_ms());
    req->top = s.top();
    req->epoch.assign(s.epoch());
    if (req->has_since && req->since_epoch != s.epoch()) {
        req->failed = true;
        req->error = cf::ErrorCode::unrecoverable_position;
        return;
    }
    const auto& h = s.history();
    size_t begin = 0;
    if (req->has_since) {
        while (begin < h.size() && h[begin]->offset() <= req->since_offset)
            ++begin;
    }
    size_t n = h.size() - begin;
    if (req->limit >= 0) n = std::min<size_t>(n, static_cast<size_t>(req->limit));
    if (!req->reverse) {
        for (size_t k = begin; k < begin + n; ++k)
            req->pubs.push_back(h[k].share());
    } else {
        // Newest first; with since, the newest n after it.
        for (size_t k = h.size(); k > h.size() - n; --k)
            req->pubs.push_back(h[k - 1].share());
    }
}

template <class Loop>
void HubApp::home_history(Loop& loop, HistoryRequest* req) {
    if (hold(loop, HubTag::history, req)) return;
    home_history_here(req);
    post(loop, req->reply.handle.loop(), HubTag::history_done, req);
}

template <class Loop>
void HubApp::finish_history(Loop& loop, std::unique_ptr<HistoryRequest> req) {
    if (req->reply.kind == ReplyTo::Kind::http) {
        respond_api(loop, req->reply,
                    api_response_.build(200, req->reply.keep_alive, [&](proto::JsonOut& o) {
                        if (req->failed) {
                            cf::write_api_error(o, req->error);
                            return;
                        }
                        cf::begin_api_history_result(o);
                        for (const PublicationRef& p : req->pubs)
                            cf::add_publication(o, p->object());
                        cf::end_api_history_result(o, req->top, req->epoch);
                    }));
        return;
    }
    if (req->reply.kind != ReplyTo::Kind::client) return;
    if (uint32_t ci = client_of(loop, req->reply.handle);
        ci != kNoClient && clients_[ci].requests > 0) {
        --clients_[ci].requests;
    }
    reply(loop, req->reply.handle, [&](proto::JsonOut& o) {
        if (req->failed) {
            cf::write_error_reply(o, req->reply.id, req->error);
            return;
        }
        cf::begin_history_reply(o, req->reply.id);
        for (const PublicationRef& p : req->pubs)
            cf::add_publication(o, p->object());
        cf::end_history_reply(o, req->epoch, req->top);
    });
}

inline uint32_t HubApp::home_channel(std::string_view name, uint64_t hash) {
    uint32_t id = channels_.find(name, hash);
    if (id != LoopChannels::kNone && channels_[id].stream) return id;
    if (shared_.channels.fetch_add(1, std::memory_order_relaxed) >= settings_.max_channels) {
        shared_.channels.fetch_sub(1, std::memory_order_relaxed);
        return LoopChannels::kNone;
    }
    if (id == LoopChannels::kNone) id = channels_.insert(name, hash);
    LocalChannel& ch = channels_[id];
    const ChannelOptions* o = options_of(name);
    ChannelOptions none;
    none.history_size = 0;
    if (o == nullptr) o = &none;  // not reached: callers checked the namespace
    ch.stream = std::make_unique<ChannelStream>(o->history_size, int64_t{o->history_ttl_s} * 1000,
                                                next_epoch_seed());
    ch.positioned = true;
    return id;
}

inline void HubApp::maybe_drop_channel(uint32_t id) {
    LocalChannel& ch = channels_[id];
    // Handing over: the new process takes every stream (and, with Redis,
    // this node's subscriptions stay until it exits).
    if (!ch.stream || handing_over_) return;
    // With Redis the history lives there: the copy here keeps nothing alive.
    if (!ch.subscribers.empty() || ch.pending != 0 || ch.stream->interested().any() ||
        !ch.redis_waiting.empty() || ch.redis_busy != 0 ||
        (!redis_engine() && !ch.stream->history_empty())) {
        return;
    }
    if (redis_engine()) redis_unsubscribe(id);
    shared_.channels.fetch_sub(1, std::memory_order_relaxed);
    channels_.erase(id);
}

template <class Loop>
void HubApp::maybe_drop_channel_here(Loop& loop, uint32_t id) {
    LocalChannel& ch = channels_[id];
    if (!ch.subscribers.empty() || ch.pending != 0) return;
    if (ch.stream) {
        maybe_drop_channel(id);
        return;
    }
    if (ch.interest_registered) {
        auto note = std::make_unique<InterestNote>();
        note->channel = ch.name;
        note->hash = ch.hash;
        note->loop = loop_id_;
        post(loop, shared_.home_of(ch.hash), HubTag::uninterest, note.release());
    }
    channels_.erase(id);
}

}  // namespace wsgate::pubsub
