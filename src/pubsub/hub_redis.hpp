// HubApp: the Redis engine (--engine redis, docs/redis-engine.md). Each loop
// opens a command link and a subscriber link to every --redis shard; a
// channel's home loop owns its Redis subscription (one per channel per
// node) and keeps its ChannelStream as a copy of Redis's (top, epoch,
// recent history), fed by the subscription. Publishes run one script on the
// channel's shard; the publication reaches every node through PUBLISH, in
// offset order, and each home delivers it as the memory engine would.
//
// A gap (a lost link, a message missed) is noticed by offset or epoch and
// closed from Redis's stream (XRANGE in the sync script): delivered in order
// when history still holds it, else the channel's subscribers on every loop
// are closed 3010 (insufficient state) so the SDK recovers or resubscribes.
// Never a silent gap. Definitions of members declared in hub_app.hpp, which
// includes this file after the class; not to be included on its own.
#pragma once

namespace wsgate::pubsub {

template <class Loop>
void HubApp::redis_start(Loop& loop) {
    redis_publish_sha_ = redis::script_sha1(redis::kPublishScript);
    redis_sync_sha_ = redis::script_sha1(redis::kSyncScript);
    const std::vector<broker::RedisLinkSettings>& links = shared_.redis_links;
    redis_shards_.resize(links.size());
    for (uint32_t i = 0; i < links.size(); ++i) {
        RedisShard& sh = redis_shards_[i];
        sh.cmd_context = {this, &loop, i};
        sh.sub_context = {this, &loop, i};
        std::string where =
            io::format_endpoint(links[i].endpoint) + " loop " + std::to_string(loop_id_);
        sh.cmd = std::make_unique<broker::RedisLink>(
            links[i], where + " commands",
            broker::LinkEvents{&sh.cmd_context, &redis_cmd_up<Loop>, &redis_link_down, nullptr},
            shared_.seed ^ (uint64_t{loop_id_} << 40) ^ (uint64_t{i} << 20));
        sh.sub = std::make_unique<broker::RedisLink>(
            links[i], where + " subscriptions",
            broker::LinkEvents{&sh.sub_context, &redis_sub_up<Loop>, &redis_sub_down,
                               &redis_message<Loop>},
            shared_.seed ^ (uint64_t{loop_id_} << 40) ^ (uint64_t{i} << 20) ^ 1);
    }
}

inline uint32_t HubApp::redis_shard_of(uint64_t hash) const {
    return redis::jump_hash(hash, static_cast<uint32_t>(redis_shards_.size()));
}

template <class Loop>
void HubApp::redis_tick(Loop& loop, int64_t now_ms) {
    if (redis_shards_.empty()) redis_start(loop);
    for (RedisShard& sh : redis_shards_) {
        sh.cmd->tick(loop, now_ms);
        sh.sub->tick(loop, now_ms);
    }
    if (redis_kick_) {
        redis_kick_ = false;
        channels_.for_each([&](uint32_t id, LocalChannel& ch) {
            if (ch.stream && ch.redis != LocalChannel::Redis::none) redis_advance(loop, id);
        });
        for (RedisShard& sh : redis_shards_) {
            sh.cmd->tick(loop, now_ms);  // sends what the kick queued
            sh.sub->tick(loop, now_ms);
        }
    }
}

inline int HubApp::redis_ms_until_due(int64_t now_ms) const {
    int due = 60 * 1000;
    if (redis_shards_.empty() || redis_kick_) return 0;
    for (const RedisShard& sh : redis_shards_) {
        due = std::min(due, sh.cmd->ms_until_due(now_ms));
        due = std::min(due, sh.sub->ms_until_due(now_ms));
    }
    return due;
}

// ---- link events ----

template <class Loop>
void HubApp::redis_cmd_up(void* context) {
    auto* c = static_cast<RedisContext*>(context);
    HubApp& app = *c->app;
    app.shared_.redis_links_down.fetch_sub(1, std::memory_order_relaxed);
    // EVALSHA finds them from here on (NOSCRIPT falls back to EVAL).
    broker::RedisLink& link = *app.redis_shards_[c->shard].cmd;
    link.send(&ignore_reply, nullptr, 0, "SCRIPT", "LOAD", redis::kPublishScript);
    link.send(&ignore_reply, nullptr, 0, "SCRIPT", "LOAD", redis::kSyncScript);
    app.redis_kick_ = true;  // syncs that waited for this link
}

template <class Loop>
void HubApp::redis_sub_up(void* context) {
    auto* c = static_cast<RedisContext*>(context);
    c->app->shared_.redis_links_down.fetch_sub(1, std::memory_order_relaxed);
    c->app->redis_kick_ = true;  // every channel subscribes again
}

inline void HubApp::redis_link_down(void* context) {
    auto* c = static_cast<RedisContext*>(context);
    c->app->shared_.redis_links_down.fetch_add(1, std::memory_order_relaxed);
}

inline void HubApp::redis_sub_down(void* context) {
    auto* c = static_cast<RedisContext*>(context);
    HubApp& app = *c->app;
    app.shared_.redis_links_down.fetch_add(1, std::memory_order_relaxed);
    // The subscriptions went with the connection: each channel of the shard
    // subscribes again once it is back, then compares its position.
    app.channels_.for_each([&](uint32_t, LocalChannel& ch) {
        if (!ch.stream || ch.redis == LocalChannel::Redis::none) return;
        if (app.redis_shard_of(ch.hash) != c->shard) return;
        ch.redis = LocalChannel::Redis::subscribe_wanted;
    });
}

// ---- a channel's subscription and sync, on its home ----

inline uint64_t HubApp::redis_cookie(uint32_t id) const {
    return (uint64_t{id} << 32) | channels_[id].redis_gen;
}

inline uint32_t HubApp::redis_channel_of(uint64_t cookie) {
    uint32_t id = static_cast<uint32_t>(cookie >> 32);
    if (id >= channels_.capacity()) return LoopChannels::kNone;
    LocalChannel& ch = channels_[id];
    if (!ch.stream || ch.redis_gen != static_cast<uint32_t>(cookie)) return LoopChannels::kNone;
    return id;
}

// Moves channel `id` towards synced as far as the links allow now.
template <class Loop>
void HubApp::redis_advance(Loop& loop, uint32_t id) {
    LocalChannel& ch = channels_[id];
    RedisShard& sh = redis_shards_[redis_shard_of(ch.hash)];
    if (ch.redis == LocalChannel::Redis::subscribe_wanted && sh.sub->accepting()) {
        broker::RespWriter& w = sh.sub->writer();
        w.begin(2);
        w.argument("SUBSCRIBE");
        redis_key_ = redis::kChannelPrefix;
        redis_key_ += ch.name;
        w.argument(redis_key_);
        sh.sub->expect(&redis_subscribed<Loop>, &sh.sub_context, redis_cookie(id));
        ch.redis = LocalChannel::Redis::subscribe_sent;
    }
    if (ch.redis == LocalChannel::Redis::sync_wanted) {
        if (ch.stream->history_size() == 0) {
            // No offsets to compare: subscribed is in step.
            ch.redis = LocalChannel::Redis::synced;
            redis_after_sync(loop, id);
            return;
        }
        if (!sh.cmd->accepting()) return;
        ChannelStream& s = *ch.stream;
        // First time: the position only. Later: what followed our top.
        uint64_t from = ch.redis_synced_once ? s.top() : 0;
        uint32_t count = ch.redis_synced_once ? settings_.recovery_max_publications + 1 : 0;
        redis_sync_command(*sh.cmd, ch, from, count);
        sh.cmd->expect(&redis_synced<Loop>, &sh.cmd_context, redis_cookie(id));
        ch.redis = LocalChannel::Redis::sync_sent;
    }
}

inline void HubApp::redis_sync_command(broker::RedisLink& link, const LocalChannel& ch,
                                       uint64_t from, uint32_t count) {
    char epoch[ChannelStream::kEpochBytes];
    ChannelStream::epoch_letters(next_epoch_seed(), epoch);
    broker::RespWriter& w = link.writer();
    w.begin(9);
    w.argument("EVALSHA");
    w.argument(redis_sync_sha_);
    w.argument(2);
    redis_key_ = redis::kStreamPrefix;
    redis_key_ += ch.name;
    w.argument(redis_key_);
    redis_key_ = redis::kMetaPrefix;
    redis_key_ += ch.name;
    w.argument(redis_key_);
    w.argument(from);
    w.argument(count);
    w.argument(redis::kMetaTtlSeconds);
    w.argument(std::string_view(epoch, sizeof(epoch)));
}

// The home needs the channel in step with Redis (a subscriber came).
template <class Loop>
void HubApp::redis_want(Loop& loop, uint32_t id) {
    LocalChannel& ch = channels_[id];
    if (ch.redis != LocalChannel::Redis::none) return;
    ch.redis = LocalChannel::Redis::subscribe_wanted;
    ch.redis_gen = ++redis_gen_;
    redis_advance(loop, id);
}

inline void HubApp::redis_unsubscribe(uint32_t id) {
    LocalChannel& ch = channels_[id];
    for (SubscribeRequest* r : ch.redis_waiting)
        delete r;  // not reached: a waiting subscribe keeps the channel
    if (ch.redis == LocalChannel::Redis::none) return;
    RedisShard& sh = redis_shards_[redis_shard_of(ch.hash)];
    if (!sh.sub->accepting()) return;  // down: the subscription went with it
    broker::RespWriter& w = sh.sub->writer();
    w.begin(2);
    w.argument("UNSUBSCRIBE");
    redis_key_ = redis::kChannelPrefix;
    redis_key_ += ch.name;
    w.argument(redis_key_);
    sh.sub->expect(&ignore_reply, nullptr, 0);
}

template <class Loop>
void HubApp::redis_subscribed(void* context, uint64_t cookie, const broker::RespValue* reply) {
    auto* c = static_cast<RedisContext*>(context);
    HubApp& app = *c->app;
    if (reply == nullptr) return;  // the link is down: subscribed again when it is back
    uint32_t id = app.redis_channel_of(cookie);
    if (id == LoopChannels::kNone) return;
    BusyChannel busy(app, id);
    LocalChannel& ch = app.channels_[id];
    if (ch.redis != LocalChannel::Redis::subscribe_sent) return;
    ch.redis = LocalChannel::Redis::sync_wanted;
    app.redis_advance(*static_cast<Loop*>(c->loop), id);
}

template <class Loop>
void HubApp::redis_synced(void* context, uint64_t cookie, const broker::RespValue* reply) {
    auto* c = static_cast<RedisContext*>(context);
    HubApp& app = *c->app;
    Loop& loop = *static_cast<Loop*>(c->loop);
    uint32_t id = app.redis_channel_of(cookie);
    if (id == LoopChannels::kNone) return;
    BusyChannel busy(app, id);
    LocalChannel& ch = app.channels_[id];
    if (ch.redis != LocalChannel::Redis::sync_sent) return;
    if (reply == nullptr || reply->type != broker::RespType::array || reply->count != 3 ||
        (*reply)[0].type != broker::RespType::integer) {
        // Lost or refused: tried again once the link is back (or next sweep).
        ch.redis = LocalChannel::Redis::sync_wanted;
        if (reply != nullptr) app.redis_script_refused(reply, &app.redis_sync_sha_);
        return;
    }
    ChannelStream& s = *ch.stream;
    uint64_t top = static_cast<uint64_t>((*reply)[0].integer);
    std::string_view epoch = (*reply)[1].text;
    const broker::RespValue& entries = (*reply)[2];
    if (!ch.redis_synced_once) {
        s.reposition(top, epoch);
        ch.redis_synced_once = true;
    } else if (epoch != s.epoch() || top < s.top()) {
        // Redis lost the stream (restarted without persistence, expired).
        app.redis_channel_lost(loop, id);
        s.reposition(top, epoch);
    } else if (top > s.top()) {
        // Missed while the link was down: in order from history, if it
        // still holds every one of them.
        uint64_t next = s.top() + 1;
        bool complete = entries.type == broker::RespType::array && entries.count >= top - s.top();
        for (uint32_t k = 0; complete && next <= top; ++k, ++next) {
            const broker::RespValue& e = entries[k];
            std::optional<uint64_t> offset;
            if (e.type == broker::RespType::array && e.count >= 2) {
                offset = redis::entry_offset(e[0].text);
            }
            complete = offset && *offset == next;
        }
        if (!complete) {
            app.redis_channel_lost(loop, id);
            s.reposition(top, epoch);
        } else {
            const uint64_t missing = top - s.top();
            for (uint64_t k = 0; k < missing; ++k) {
                const broker::RespValue& fields = entries[k][1];
                PublicationRef rec;
                if (fields.type == broker::RespType::array && fields.count >= 2) {
                    rec = app.redis_record(ch, s.top() + 1, fields[1].text);
                }
                if (!rec) {
                    app.redis_channel_lost(loop, id);
                    s.reposition(top, epoch);
                    break;
                }
                s.append(rec->offset() != 0 ? rec->offset() : s.top() + 1, rec.share());
                app.shared_.counters.redis_gap_recovered.fetch_add(1, std::memory_order_relaxed);
                app.fan_out(loop, id, rec);
            }
        }
    }
    ch.redis = LocalChannel::Redis::synced;
    app.redis_after_sync(loop, id);
}

// Synced: held messages in order, then the subscribes that waited.
template <class Loop>
void HubApp::redis_after_sync(Loop& loop, uint32_t id) {
    BusyChannel busy(*this, id);
    std::vector<PublicationRef> held;
    held.swap(channels_[id].redis_held);
    bool overflow = channels_[id].redis_held_overflow;
    channels_[id].redis_held_overflow = false;
    for (PublicationRef& rec : held) {
        if (channels_[id].redis != LocalChannel::Redis::synced) {
            channels_[id].redis_held.push_back(std::move(rec));  // a new gap: wait again
            continue;
        }
        redis_apply(loop, id, std::move(rec));
    }
    if (overflow && channels_[id].redis == LocalChannel::Redis::synced &&
        channels_[id].stream->history_size() > 0) {
        // Messages were dropped while held: what Redis has after our top.
        channels_[id].redis = LocalChannel::Redis::sync_wanted;
        redis_advance(loop, id);
        return;
    }
    if (channels_[id].redis != LocalChannel::Redis::synced) return;
    std::vector<SubscribeRequest*> waiting;
    waiting.swap(channels_[id].redis_waiting);
    for (SubscribeRequest* req : waiting)
        home_subscribe(loop, req);
}

// A message of the channel's subscription, decoded into a record.
inline PublicationRef HubApp::redis_record(const LocalChannel& ch, uint64_t offset,
                                           std::string_view body) {
    std::optional<redis::Body> b = redis::parse_body(body);
    if (!b) return {};
    cf::Publication pub;
    pub.data = b->data;
    pub.info = b->has_info ? &b->info : nullptr;
    pub.offset = ch.stream->history_size() > 0 ? offset : 0;
    return PublicationRef(PublicationRecord::create(ch.name, ch.hash, pub, wall_ms()));
}

template <class Loop>
void HubApp::redis_message(void* context, const broker::RespValue& m) {
    auto* c = static_cast<RedisContext*>(context);
    HubApp& app = *c->app;
    Loop& loop = *static_cast<Loop*>(c->loop);
    std::string_view name = m[1].text;
    if (!name.starts_with(redis::kChannelPrefix)) return;
    name.remove_prefix(redis::kChannelPrefix.size());
    uint64_t hash = channel_hash(name);
    uint32_t id = app.channels_.find(name, hash);
    if (id == LoopChannels::kNone || !app.channels_[id].stream) return;
    std::optional<redis::Message> msg = redis::parse_message(m[2].text);
    if (!msg) return;
    BusyChannel busy(app, id);
    LocalChannel& ch = app.channels_[id];
    PublicationRef rec = app.redis_record(ch, msg->offset, msg->body);
    if (!rec) return;
    if (ch.stream->history_size() > 0 && msg->epoch != ch.stream->epoch() &&
        ch.redis == LocalChannel::Redis::synced) {
        // Another epoch: Redis's stream was created afresh. The sync says how.
        ch.redis_held.push_back(std::move(rec));
        ch.redis = LocalChannel::Redis::sync_wanted;
        app.redis_advance(loop, id);
        return;
    }
    app.redis_apply(loop, id, std::move(rec));
}

// A publication for channel `id` from its subscription: delivered when it is
// the next offset, dropped when seen, held when early (a gap: sync first).
template <class Loop>
void HubApp::redis_apply(Loop& loop, uint32_t id, PublicationRef rec) {
    LocalChannel& ch = channels_[id];
    ChannelStream& s = *ch.stream;
    if (ch.redis != LocalChannel::Redis::synced) {
        if (ch.redis_held.size() < kMaxHeldMessages) {
            ch.redis_held.push_back(std::move(rec));
        } else {
            ch.redis_held_overflow = true;  // Redis's history has it
        }
        return;
    }
    if (s.history_size() == 0) {
        s.append(s.next_offset(), rec.share());
        fan_out(loop, id, rec);
        return;
    }
    if (rec->offset() <= s.top()) return;  // delivered already (from history)
    if (rec->offset() > s.top() + 1) {
        ch.redis_held.push_back(std::move(rec));
        ch.redis = LocalChannel::Redis::sync_wanted;
        redis_advance(loop, id);
        return;
    }
    s.append(rec->offset(), rec.share());
    fan_out(loop, id, rec);
}

// History cannot close the channel's gap: every subscriber on every loop is
// closed 3010 (insufficient state); the SDK reconnects and recovers what it
// can, or learns it cannot (recovered: false).
template <class Loop>
void HubApp::redis_channel_lost(Loop& loop, uint32_t id, std::string_view why) {
    LocalChannel& ch = channels_[id];
    shared_.counters.redis_insufficient_state.fetch_add(1, std::memory_order_relaxed);
    io::log(io::LogLevel::warn, "redis_channel_lost", io::kNoConn, {{"channel", ch.name}},
            "redis: channel %s: %.*s; its subscribers are closed 3010", ch.name.c_str(),
            static_cast<int>(why.size()), why.data());
    for (uint32_t l = 0; l < shared_.loops(); ++l) {
        if (l == loop_id_ || !ch.stream->interested().test(l)) continue;
        auto note = std::make_unique<InterestNote>();
        note->channel = ch.name;
        note->hash = ch.hash;
        note->loop = loop_id_;
        post(loop, l, HubTag::channel_lost, note.release());
    }
    close_channel_subscribers(loop, id);
}

template <class Loop>
void HubApp::close_channel_subscribers(Loop& loop, uint32_t id) {
    std::vector<uint32_t> subscribers = channels_[id].subscribers;
    for (uint32_t ci : subscribers) {
        if (clients_[ci].in_use) {
            disconnect(loop, ci, cf::DisconnectCode::insufficient_state, "");
        }
    }
}

// ---- subscribe at the home ----

// True when the subscribe waits (answered by redis_after_sync or a
// recovery reply); false: answer it now from the stream here.
template <class Loop>
bool HubApp::redis_hold_subscribe(Loop& loop, SubscribeRequest* req) {
    uint32_t id = home_channel(req->channel, req->hash);
    if (id == LoopChannels::kNone) return false;  // home_subscribe_here refuses it (106)
    LocalChannel& ch = channels_[id];
    if (ch.redis != LocalChannel::Redis::synced) {
        ch.redis_waiting.push_back(req);
        redis_want(loop, id);
        return true;
    }
    if (!req->recover) return false;
    ChannelStream& s = *ch.stream;
    cf::RecoveryPlan plan =
        cf::plan_recovery(req->offset, req->epoch, s.bounds(), settings_.recovery_max_publications);
    if (plan.recovered || req->epoch != s.epoch() || req->offset >= s.top()) return false;
    // Older than what this node holds: Redis's stream may have it.
    RedisShard& sh = redis_shards_[redis_shard_of(ch.hash)];
    if (!sh.cmd->accepting()) {
        req->failed = true;
        req->error = cf::ErrorCode::internal;  // temporary: the SDK tries again
        answer_subscribe(loop, req);
        return true;
    }
    redis_sync_command(*sh.cmd, ch, req->offset, settings_.recovery_max_publications + 1);
    sh.cmd->expect(&redis_recovered<Loop>, &sh.cmd_context, reinterpret_cast<uint64_t>(req));
    ++ch.pending;  // keeps the channel while the answer travels
    return true;
}

template <class Loop>
void HubApp::redis_recovered(void* context, uint64_t cookie, const broker::RespValue* reply) {
    auto* c = static_cast<RedisContext*>(context);
    HubApp& app = *c->app;
    Loop& loop = *static_cast<Loop*>(c->loop);
    auto* req = reinterpret_cast<SubscribeRequest*>(cookie);
    uint32_t id = app.channels_.find(req->channel, req->hash);
    if (id == LoopChannels::kNone || !app.channels_[id].stream) {
        app.home_subscribe(loop, req);  // not reached: pending kept it
        return;
    }
    BusyChannel busy(app, id);
    LocalChannel& ch = app.channels_[id];
    --ch.pending;
    if (reply == nullptr || reply->type != broker::RespType::array || reply->count != 3 ||
        ch.redis != LocalChannel::Redis::synced) {
        req->failed = true;
        req->error = cf::ErrorCode::internal;
        app.answer_subscribe(loop, req);
        return;
    }
    ChannelStream& s = *ch.stream;
    uint64_t top = static_cast<uint64_t>((*reply)[0].integer);
    const broker::RespValue& entries = (*reply)[2];
    // Entries cover (req->offset, top]; this node's stream (req->offset..
    // s.top()]'s recent part. The subscriber is positioned at s.top().
    app.home_subscribe_here(req);  // position and interest; recovered when held here now
    uint64_t last = s.top();
    if (req->recovered || (*reply)[1].text != req->epoch || (*reply)[1].text != s.epoch() ||
        last < req->offset || last - req->offset > app.settings_.recovery_max_publications) {
        app.answer_subscribe(loop, req);
        return;
    }
    std::vector<PublicationRef> missed;
    uint64_t next = req->offset + 1;
    for (uint32_t k = 0; entries.type == broker::RespType::array && k < entries.count &&
                         next <= std::min(top, last);
         ++k, ++next) {
        const broker::RespValue& e = entries[k];
        if (e.type != broker::RespType::array || e.count < 2 || e[1].count < 2) break;
        std::optional<uint64_t> offset = redis::entry_offset(e[0].text);
        if (!offset || *offset != next) break;
        PublicationRef rec = app.redis_record(ch, next, e[1][1].text);
        if (!rec) break;
        missed.push_back(std::move(rec));
    }
    for (; next <= last; ++next) {
        PublicationRecord* r = s.at(next);
        if (r == nullptr) break;
        r->retain();
        missed.emplace_back(r);
    }
    if (next == last + 1) {
        req->recovered = true;
        req->missed = std::move(missed);
    }
    app.answer_subscribe(loop, req);
}

// ---- publish ----

template <class Loop>
void HubApp::redis_publish(Loop& loop, PublishRequest* req) {
    broker::RedisLink* link =
        redis_shards_.empty() ? nullptr : redis_shards_[redis_shard_of(req->hash)].cmd.get();
    if (link == nullptr || !link->accepting()) {
        req->failed = true;
        req->error = cf::ErrorCode::not_available;
        shared_.counters.redis_publish_failed.fetch_add(1, std::memory_order_relaxed);
        publish_answered(loop, req);
        return;
    }
    RedisShard& sh = redis_shards_[redis_shard_of(req->hash)];
    redis_publish_command(*link, req, false);
    link->expect(&redis_published<Loop>, &sh.cmd_context, reinterpret_cast<uint64_t>(req));
}

// EVALSHA (or EVAL with the script, after NOSCRIPT) of the publish script;
// PUBLISH alone without history.
inline void HubApp::redis_publish_command(broker::RedisLink& link, const PublishRequest* req,
                                          bool with_script) {
    cf::ClientInfo info{req->user, req->client};
    redis_body_.clear();
    if (req->history_size == 0) redis_body_ = "0 - ";
    redis::append_body(redis_body_, req->data, req->has_info ? &info : nullptr);
    broker::RespWriter& w = link.writer();
    if (req->history_size == 0) {
        w.begin(3);
        w.argument("PUBLISH");
        redis_key_ = redis::kChannelPrefix;
        redis_key_ += req->channel;
        w.argument(redis_key_);
        w.argument(redis_body_);
        return;
    }
    char epoch[ChannelStream::kEpochBytes];
    ChannelStream::epoch_letters(next_epoch_seed(), epoch);
    w.begin(11);
    w.argument(with_script ? "EVAL" : "EVALSHA");
    w.argument(with_script ? redis::kPublishScript : std::string_view(redis_publish_sha_));
    w.argument(2);
    redis_key_ = redis::kStreamPrefix;
    redis_key_ += req->channel;
    w.argument(redis_key_);
    redis_key_ = redis::kMetaPrefix;
    redis_key_ += req->channel;
    w.argument(redis_key_);
    redis_key_ = redis::kChannelPrefix;
    redis_key_ += req->channel;
    w.argument(redis_key_);
    w.argument(redis_body_);
    w.argument(req->history_size);
    w.argument(req->history_ttl_s);
    w.argument(redis::kMetaTtlSeconds);
    w.argument(std::string_view(epoch, sizeof(epoch)));
}

template <class Loop>
void HubApp::redis_published(void* context, uint64_t cookie, const broker::RespValue* reply) {
    auto* c = static_cast<RedisContext*>(context);
    HubApp& app = *c->app;
    Loop& loop = *static_cast<Loop*>(c->loop);
    auto* req = reinterpret_cast<PublishRequest*>(cookie);
    if (reply != nullptr && reply->is_error() && reply->text.starts_with("NOSCRIPT")) {
        // SCRIPT FLUSH, or a server that restarted between our SCRIPT LOAD
        // and this: once more with the script itself (EVAL loads it).
        broker::RedisLink& link = *app.redis_shards_[c->shard].cmd;
        if (link.accepting()) {
            app.redis_publish_command(link, req, true);
            link.expect(&redis_published<Loop>, context, cookie);
            return;
        }
    }
    if (reply == nullptr || reply->is_error()) {
        req->failed = true;
        req->error = reply == nullptr ? cf::ErrorCode::not_available : cf::ErrorCode::internal;
        app.shared_.counters.redis_publish_failed.fetch_add(1, std::memory_order_relaxed);
        if (reply != nullptr) app.redis_script_refused(reply, nullptr);
    } else if (req->history_size > 0 && reply->type == broker::RespType::array &&
               reply->count == 2) {
        req->offset = static_cast<uint64_t>((*reply)[0].integer);
        req->epoch.assign((*reply)[1].text);
    }
    app.publish_answered(loop, req);
}

inline void HubApp::redis_script_refused(const broker::RespValue* reply, const std::string*) {
    if (!reply->is_error()) return;
    int64_t now = wall_ms();
    if (uint64_t n = redis_error_log_.note(now); n > 0) {
        if (n > 1) io::count_suppressed_lines(n - 1);
        io::log(io::LogLevel::error, "redis_refused", io::kNoConn, {{"count", n}},
                "redis: command refused: %.*s (%llu in %.1f s)",
                static_cast<int>(reply->text.size()), reply->text.data(),
                static_cast<unsigned long long>(n),
                static_cast<double>(redis_error_log_.covered_ms()) / 1000.0);
    }
}

// ---- streams: the links' connections ----

template <class Loop>
void HubApp::on_connected(Loop& loop, ws::ConnectionHandle h) {
    for (RedisShard& sh : redis_shards_) {
        sh.cmd->on_connected(loop, h);
        sh.sub->on_connected(loop, h);
    }
}

template <class Loop>
size_t HubApp::on_stream_data(Loop& loop, ws::ConnectionHandle h, std::span<uint8_t> bytes) {
    for (RedisShard& sh : redis_shards_) {
        if (sh.cmd->owns(h)) return sh.cmd->on_data(loop, h, bytes);
        if (sh.sub->owns(h)) return sh.sub->on_data(loop, h, bytes);
    }
    return bytes.size();
}

template <class Loop>
void HubApp::on_stream_drained(Loop& loop, ws::ConnectionHandle h) {
    for (RedisShard& sh : redis_shards_) {
        sh.cmd->on_drained(loop, h);
        sh.sub->on_drained(loop, h);
    }
}

template <class Loop>
void HubApp::on_stream_end(Loop& loop, ws::ConnectionHandle h, int error) {
    for (RedisShard& sh : redis_shards_) {
        sh.cmd->on_end(loop, h, error);
        sh.sub->on_end(loop, h, error);
    }
}

// ---- info across the cluster ----

template <class Loop>
bool HubApp::redis_info(Loop&, std::unique_ptr<Gather>& g) {
    // This node's object, as /api/info writes it, without the envelope.
    redis_body_.resize(4096);
    proto::JsonOut out({redis_body_.data(), redis_body_.size()});
    const bool heartbeat = g->heartbeat;
    write_gather_result(out, *g);
    std::string_view whole = out.view();
    constexpr std::string_view kHead = R"({"result":{"nodes":[)";
    constexpr std::string_view kTail = "]}}";
    if (!whole.starts_with(kHead) || !whole.ends_with(kTail)) return heartbeat;
    std::string_view node = whole.substr(kHead.size(), whole.size() - kHead.size() - kTail.size());
    if (redis_shards_.empty() || !redis_shards_[0].cmd->accepting()) return heartbeat;
    broker::RedisLink& link = *redis_shards_[0].cmd;
    redis_key_ = redis::kNodePrefix;
    redis_key_ += shared_.node_uid;
    if (heartbeat) {
        link.send(&ignore_reply, nullptr, 0, "EVAL", redis::kHeartbeatScript, 2, redis::kNodesKey,
                  redis_key_, shared_.node_uid, node, redis::kNodeTtlMs);
        redis_write_presence(link, *g);
        return true;
    }
    g->node_json.assign(node);
    link.send(&redis_nodes<Loop>, &redis_shards_[0].cmd_context,
              reinterpret_cast<uint64_t>(g.get()), "EVAL", redis::kNodesScript, 1, redis::kNodesKey,
              redis::kNodeTtlMs);
    g.release();  // the reply's
    return true;
}

template <class Loop>
void HubApp::redis_nodes(void* context, uint64_t cookie, const broker::RespValue* reply) {
    auto* c = static_cast<RedisContext*>(context);
    HubApp& app = *c->app;
    std::unique_ptr<Gather> g(reinterpret_cast<Gather*>(cookie));
    if (reply != nullptr && reply->type == broker::RespType::array) {
        // Every node's heartbeat but ours (ours is fresher: just gathered).
        std::string own = "\"uid\":\"" + app.shared_.node_uid + "\"";
        for (uint32_t i = 0; i < reply->count; ++i) {
            std::string_view other = (*reply)[i].text;
            if ((*reply)[i].type != broker::RespType::string ||
                other.find(own) != std::string::npos) {
                continue;
            }
            g->other_nodes.emplace_back(other);
        }
    }
    Loop& loop = *static_cast<Loop*>(c->loop);
    app.respond_api(loop, g->reply,
                    app.api_response_.build(200, g->reply.keep_alive, [&](proto::JsonOut& o) {
                        app.write_gather_result(o, *g);
                    }));
}

// ---- presence across the cluster ----

// Once a second with the heartbeat (loop 0): this node's part of each
// channel with subscribers, expiring with the node; a channel emptied since
// the last heartbeat is deleted rather than left to expire.
inline void HubApp::redis_write_presence(broker::RedisLink& link, const Gather& g) {
    std::set<std::string> written;
    for (const auto& [name, p] : g.presence) {
        redis_key_ = redis::kPresencePrefix;
        redis_key_ += name;
        redis_key_ += '.';
        redis_key_ += shared_.node_uid;
        redis_body_.clear();
        redis::append_presence(redis_body_, p.clients, p.users);
        if (!link.send(&ignore_reply, nullptr, 0, "SET", redis_key_, redis_body_, "PX",
                       redis::kNodeTtlMs)) {
            return;  // refused (queue full): the next heartbeat writes again
        }
        written.insert(name);
    }
    for (const std::string& name : redis_presence_written_) {
        if (written.contains(name)) continue;
        redis_key_ = redis::kPresencePrefix;
        redis_key_ += name;
        redis_key_ += '.';
        redis_key_ += shared_.node_uid;
        link.send(&ignore_reply, nullptr, 0, "DEL", redis_key_);
    }
    redis_presence_written_.swap(written);
    // The channels API's part: one hash, replaced atomically.
    if (!link.accepting()) return;
    broker::RespWriter& w = link.writer();
    w.begin(5 + 2 * g.presence.size());
    w.argument("EVAL");
    w.argument(redis::kChannelsWriteScript);
    w.argument(1);
    redis_key_ = redis::kChannelsPrefix;
    redis_key_ += shared_.node_uid;
    w.argument(redis_key_);
    w.argument(redis::kNodeTtlMs);
    for (const auto& [name, p] : g.presence) {
        w.argument(name);
        w.argument(p.clients);
    }
    link.expect(&ignore_reply, nullptr, 0);
}

template <class Loop>
bool HubApp::redis_channels(Loop&, std::unique_ptr<Gather>& g) {
    g->cluster_asked = true;
    if (redis_shards_.empty() ||
        !redis_shards_[0].cmd->send(&redis_channels_reply<Loop>, &redis_shards_[0].cmd_context,
                                    reinterpret_cast<uint64_t>(g.get()), "EVAL",
                                    redis::kChannelsScript, 1, redis::kNodesKey, redis::kNodeTtlMs,
                                    shared_.node_uid)) {
        return false;
    }
    g.release();  // the reply's
    return true;
}

template <class Loop>
void HubApp::redis_channels_reply(void* context, uint64_t cookie, const broker::RespValue* reply) {
    auto* c = static_cast<RedisContext*>(context);
    HubApp& app = *c->app;
    std::unique_ptr<Gather> g(reinterpret_cast<Gather*>(cookie));
    if (reply != nullptr && reply->type == broker::RespType::array) {
        for (uint32_t i = 0; i + 1 < reply->count; i += 2) {
            uint64_t n = 0;
            std::string_view digits = (*reply)[i + 1].text;
            auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
            if (ec != std::errc() || (*reply)[i].type != broker::RespType::string) continue;
            g->channels[std::string((*reply)[i].text)] += n;
        }
    }
    app.finish_gather(*static_cast<Loop*>(c->loop), std::move(g));
}

// This node's part is gathered; the other live nodes' come from Redis. A
// link that is down answers with this node's part alone (as before).
template <class Loop>
bool HubApp::redis_presence(Loop&, std::unique_ptr<Gather>& g) {
    g->cluster_asked = true;
    if (redis_shards_.empty() || !redis_shards_[0].cmd->accepting()) return false;
    redis_key_ = redis::kPresencePrefix;
    redis_key_ += g->channel;
    redis_key_ += '.';
    if (!redis_shards_[0].cmd->send(&redis_presence_reply<Loop>, &redis_shards_[0].cmd_context,
                                    reinterpret_cast<uint64_t>(g.get()), "EVAL",
                                    redis::kPresenceScript, 1, redis::kNodesKey, redis::kNodeTtlMs,
                                    redis_key_, shared_.node_uid)) {
        return false;
    }
    g.release();  // the reply's
    return true;
}

template <class Loop>
void HubApp::redis_presence_reply(void* context, uint64_t cookie, const broker::RespValue* reply) {
    auto* c = static_cast<RedisContext*>(context);
    HubApp& app = *c->app;
    std::unique_ptr<Gather> g(reinterpret_cast<Gather*>(cookie));
    if (reply != nullptr && reply->type == broker::RespType::array) {
        for (uint32_t i = 0; i < reply->count; ++i) {
            if ((*reply)[i].type != broker::RespType::string) continue;
            redis::parse_presence((*reply)[i].text, g->num_clients, g->users);
        }
    }
    app.finish_gather(*static_cast<Loop*>(c->loop), std::move(g));
}

// ---- the history API: Redis's stream, whichever node is asked ----

template <class Loop>
void HubApp::redis_history(Loop& loop, HistoryRequest* req) {
    broker::RedisLink* link =
        redis_shards_.empty() ? nullptr : redis_shards_[redis_shard_of(req->hash)].cmd.get();
    if (req->history_size == 0 || link == nullptr || !link->accepting()) {
        req->failed = true;
        req->error =
            req->history_size == 0 ? cf::ErrorCode::not_available : cf::ErrorCode::internal;
        finish_history(loop, std::unique_ptr<HistoryRequest>(req));
        return;
    }
    char epoch[ChannelStream::kEpochBytes];
    ChannelStream::epoch_letters(next_epoch_seed(), epoch);
    broker::RespWriter& w = link->writer();
    w.begin(11);
    w.argument("EVAL");
    w.argument(redis::kHistoryScript);
    w.argument(2);
    redis_key_ = redis::kStreamPrefix;
    redis_key_ += req->channel;
    w.argument(redis_key_);
    redis_key_ = redis::kMetaPrefix;
    redis_key_ += req->channel;
    w.argument(redis_key_);
    w.argument(req->has_since ? static_cast<int64_t>(req->since_offset) : int64_t{-1});
    w.argument(int64_t{req->limit});
    w.argument(req->reverse ? 1 : 0);
    w.argument(req->history_size);
    w.argument(redis::kMetaTtlSeconds);
    w.argument(std::string_view(epoch, sizeof(epoch)));
    link->expect(&redis_history_reply<Loop>, &redis_shards_[redis_shard_of(req->hash)].cmd_context,
                 reinterpret_cast<uint64_t>(req));
}

template <class Loop>
void HubApp::redis_history_reply(void* context, uint64_t cookie, const broker::RespValue* reply) {
    auto* c = static_cast<RedisContext*>(context);
    HubApp& app = *c->app;
    Loop& loop = *static_cast<Loop*>(c->loop);
    std::unique_ptr<HistoryRequest> req(reinterpret_cast<HistoryRequest*>(cookie));
    if (reply == nullptr || reply->type != broker::RespType::array || reply->count != 3 ||
        (*reply)[0].type != broker::RespType::integer) {
        req->failed = true;
        req->error = cf::ErrorCode::internal;  // temporary: try again
        app.finish_history(loop, std::move(req));
        return;
    }
    req->top = static_cast<uint64_t>((*reply)[0].integer);
    req->epoch.assign((*reply)[1].text);
    if (req->has_since && req->since_epoch != req->epoch) {
        req->failed = true;
        req->error = cf::ErrorCode::unrecoverable_position;
        app.finish_history(loop, std::move(req));
        return;
    }
    const broker::RespValue& entries = (*reply)[2];
    int64_t now = wall_ms();
    for (uint32_t k = 0; entries.type == broker::RespType::array && k < entries.count; ++k) {
        const broker::RespValue& e = entries[k];
        if (e.type != broker::RespType::array || e.count < 2 || e[1].count < 2) continue;
        std::optional<uint64_t> offset = redis::entry_offset(e[0].text);
        std::optional<redis::Body> b = redis::parse_body(e[1][1].text);
        if (!offset || !b) continue;
        cf::Publication pub;
        pub.data = b->data;
        pub.info = b->has_info ? &b->info : nullptr;
        pub.offset = *offset;
        req->pubs.emplace_back(PublicationRecord::create(req->channel, req->hash, pub, now));
    }
    app.finish_history(loop, std::move(req));
}

}  // namespace wsgate::pubsub
