// The pub/sub hub: the Centrifugo client protocol (JSON) on every loop, with
// each channel owned by a home loop (XXH3(channel) % loops) that orders its
// publications.
//
// Ordering (a subscriber gets a channel's publications in offset order, no
// gap, no duplicate): every publication goes through the home, which assigns
// the next offset and forwards the publication once to each loop that
// registered interest, through that loop's inbox. An inbox delivers one
// producer's messages in order, so each loop sees the channel's publications
// in offset order. A subscriber becomes active only when the home's answer to
// its subscribe arrives, carrying the stream's position at that moment:
// publications the loop received before it are at or below that position
// (not for this subscriber), those after it follow it in the same inbox.
// Once a loop holds a position (and interest), later subscribes there are
// answered locally from it.
#pragma once

#include <fnmatch.h>
#include <openssl/crypto.h>
#include <strings.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proto/centrifugo_api.hpp"
#include "proto/centrifugo_channel.hpp"
#include "proto/centrifugo_codes.hpp"
#include "proto/centrifugo_command_parser.hpp"
#include "proto/centrifugo_recovery.hpp"
#include "proto/centrifugo_reply_writer.hpp"
#include "proto/jwt_hs256.hpp"
#include "pubsub/api_response.hpp"
#include "pubsub/channel_stream.hpp"
#include "pubsub/hub_requests.hpp"
#include "pubsub/hub_shared.hpp"
#include "pubsub/hub_state.hpp"
#include "pubsub/loop_outbox.hpp"
#include "pubsub/publication_record.hpp"
#include "pubsub/reply_batch.hpp"
#include "ws/application.hpp"
#include "ws/loop_message.hpp"
#include "ws/shared_frame.hpp"

namespace wsgate::pubsub {

namespace cf = proto::centrifugo;
namespace jwt = proto::jwt;

// Unix time in seconds (token exp is in it).
inline int64_t unix_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

class HubApp {
  public:
    // max_command_bytes: the longest command (the loop's --max-message-bytes).
    // max_request_bytes: the largest API body (--max-request-bytes).
    HubApp(HubShared& shared, uint32_t loop_id, size_t max_command_bytes, size_t max_request_bytes)
        : shared_(shared),
          settings_(shared.settings),
          loop_id_(loop_id),
          parser_(max_command_bytes),
          outbox_(shared.inboxes),
          api_parser_(max_request_bytes) {
        if (!settings_.token_hmac_secret.empty())
            verifier_ = std::make_unique<jwt::Hs256Verifier>(settings_.token_hmac_secret);
        epoch_counter_ = shared.seed ^ (uint64_t{loop_id} << 56);
    }
    ~HubApp() {
        // Streams, and what they hold, go with the channel table.
        channels_.for_each([this](uint32_t, LocalChannel& ch) {
            if (ch.stream) shared_.channels.fetch_sub(1, std::memory_order_relaxed);
        });
    }

    // ---- ws::Application ----

    template <class Loop>
    void on_open(Loop& loop, ws::ConnectionHandle h) {
        uint32_t i = clients_.add(h);
        *loop.app_state(h) = uint64_t{i} + 1;
    }

    template <class Loop>
    void on_message_piece(Loop& loop, ws::ConnectionHandle h, ws::Outbound&, proto::Opcode opcode,
                          std::span<const uint8_t> piece, bool last) {
        uint64_t* state = loop.app_state(h);
        if (state == nullptr || *state == 0) return;
        uint32_t ci = static_cast<uint32_t>(*state - 1);
        std::string_view bytes(reinterpret_cast<const char*>(piece.data()), piece.size());
        auto partial = partial_.find(ci);
        if (!last || partial != partial_.end()) {
            // A message in several pieces is assembled (bounded by the
            // loop's --max-message-bytes, enforced before this is called).
            if (partial == partial_.end()) partial = partial_.emplace(ci, std::string()).first;
            partial->second.append(bytes);
            if (!last) return;
            std::string message = std::move(partial->second);
            partial_.erase(partial);
            on_message(loop, ci, opcode, message);
            return;
        }
        on_message(loop, ci, opcode, bytes);
    }

    template <class Loop>
    void on_close(Loop& loop, ws::ConnectionHandle h, uint16_t) {
        uint32_t ci = client_of(loop, h);
        if (ci != kNoClient) client_gone(loop, ci);
    }

    // Plain HTTP: the server API under /api/, the gateway's pages elsewhere.
    template <class Loop>
    ws::HttpAnswer on_http_request(Loop& loop, ws::ConnectionHandle h,
                                   const proto::HttpRequest& request, std::span<const uint8_t> body,
                                   bool keep_alive, ws::Outbound& out) {
        std::string_view path = request.target.substr(0, request.target.find('?'));
        if (!path.starts_with("/api/")) {
            if (shared_.pages != nullptr) shared_.pages(request, keep_alive, out);
            return ws::HttpAnswer::now;
        }
        // Answers that are ready before this returns go on `out`; those
        // that need another loop go later through respond_http.
        http_current_ = h;
        http_out_ = &out;
        http_answered_ = false;
        api_call(loop, h, request, {reinterpret_cast<const char*>(body.data()), body.size()},
                 keep_alive);
        http_current_ = {};
        http_out_ = nullptr;
        return http_answered_ ? ws::HttpAnswer::now : ws::HttpAnswer::later;
    }

    // WebSocket connections are served on the SDK's endpoint only.
    bool accept_upgrade(const proto::HttpRequest& request) const {
        std::string_view path = request.target.substr(0, request.target.find('?'));
        return path == kClientEndpoint;
    }

    static constexpr std::string_view kClientEndpoint = "/connection/websocket";

    template <class Loop>
    void on_inbox_message(Loop& loop, const ws::LoopMessage& m) {
        switch (static_cast<HubTag>(m.tag)) {
            case HubTag::publish:
                home_publish(loop, static_cast<PublishRequest*>(m.pointer));
                return;
            case HubTag::publish_done:
                finish_publish(loop, static_cast<PublishRequest*>(m.pointer));
                return;
            case HubTag::publication: {
                PublicationRef rec(static_cast<PublicationRecord*>(m.pointer));
                uint32_t id = channels_.find(rec->channel(), rec->channel_hash());
                if (id != LoopChannels::kNone) deliver(loop, id, rec.get());
                return;
            }
            case HubTag::subscribe:
                home_subscribe(loop, static_cast<SubscribeRequest*>(m.pointer));
                return;
            case HubTag::subscribe_done:
                finish_subscribe(loop, std::unique_ptr<SubscribeRequest>(
                                           static_cast<SubscribeRequest*>(m.pointer)));
                return;
            case HubTag::uninterest: {
                std::unique_ptr<InterestNote> note(static_cast<InterestNote*>(m.pointer));
                uint32_t id = channels_.find(note->channel, note->hash);
                if (id == LoopChannels::kNone || !channels_[id].stream) return;
                channels_[id].stream->interested().reset(note->loop);
                maybe_drop_channel(id);
                return;
            }
            case HubTag::history:
                home_history(loop, static_cast<HistoryRequest*>(m.pointer));
                return;
            case HubTag::history_done:
                finish_history(
                    loop, std::unique_ptr<HistoryRequest>(static_cast<HistoryRequest*>(m.pointer)));
                return;
            case HubTag::gather:
                gather_step(loop, static_cast<Gather*>(m.pointer));
                return;
            case HubTag::gather_done:
                finish_gather(loop, std::unique_ptr<Gather>(static_cast<Gather*>(m.pointer)));
                return;
        }
    }

    // ---- ws::TickingApplication ----

    template <class Loop>
    void on_turn_end(Loop& loop, int64_t now_ms) {
        now_ms_ = now_ms;
        outbox_.flush(loop);
        if (now_ms >= next_sweep_ms_) sweep(loop, now_ms);
    }

    int ms_until_due(int64_t now_ms) const {
        if (!outbox_.empty()) return 1;
        int64_t due = next_sweep_ms_ - now_ms;
        return due <= 0 ? 0 : static_cast<int>(std::min<int64_t>(due, 60 * 1000));
    }

    // The client's connection is gone: leaves every channel, frees the record.
    template <class Loop>
    void client_gone(Loop& loop, uint32_t ci) {
        Client& c = clients_[ci];
        if (c.connected) shared_.clients.fetch_sub(1, std::memory_order_relaxed);
        while (!c.subs.empty())
            leave(loop, ci, c.subs.size() - 1);
        partial_.erase(ci);
        clients_.remove(ci);
    }

    uint32_t client_count() const { return clients_.size(); }

  private:
    // ---- commands ----

    template <class Loop>
    void on_message(Loop& loop, uint32_t ci, proto::Opcode opcode, std::string_view message) {
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

    // Returns false when the client was disconnected (stop reading its commands).
    template <class Loop>
    bool handle_command(Loop& loop, uint32_t ci, const cf::Command& cmd) {
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
                batch_.add(
                    [&](proto::JsonOut& o) { cf::write_empty_reply(o, cmd.id, cmd.method); });
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
                batch_.add(
                    [&](proto::JsonOut& o) { cf::write_empty_reply(o, cmd.id, cmd.method); });
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

    void error_reply(uint32_t id, cf::ErrorCode code) {
        batch_.add([&](proto::JsonOut& o) { cf::write_error_reply(o, id, code); });
    }

    template <class Loop>
    bool connect(Loop& loop, uint32_t ci, const cf::Command& cmd) {
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
                c.expires_ms = now_ms_ + int64_t{ttl} * 1000;
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
    bool refresh(Loop& loop, uint32_t ci, const cf::Command& cmd) {
        Client& c = clients_[ci];
        if (!verifier_) {
            disconnect(loop, ci, cf::DisconnectCode::invalid_token, "no token secret");
            return false;
        }
        jwt::Claims claims;
        int64_t now = unix_seconds();
        jwt::JwtError e = verifier_->verify(cmd.token, now, claims);
        if (e != jwt::JwtError::none || claims.sub != c.user) {
            disconnect(
                loop, ci,
                jwt::is_token_expired(e) ? cf::DisconnectCode::expired
                                         : cf::DisconnectCode::invalid_token,
                e == jwt::JwtError::none ? "token for another user" : jwt::jwt_error_text(e));
            return false;
        }
        uint32_t ttl = 0;
        c.expires_ms = 0;
        if (claims.exp > 0) {
            ttl = static_cast<uint32_t>(claims.exp - now);
            c.expires_ms = now_ms_ + int64_t{ttl} * 1000;
        }
        char id[40];
        client_id(c.handle, id);
        batch_.add([&](proto::JsonOut& o) {
            cf::write_refresh_reply(o, cmd.id, id, settings_.version, ttl);
        });
        return true;
    }

    // Checks a channel name from a client; answers the error itself.
    // Returns false when the command is answered (or the client closed).
    template <class Loop>
    bool channel_allowed(Loop& loop, uint32_t ci, const cf::Command& cmd, bool* closed) {
        *closed = false;
        cf::ChannelCheck check = cf::check_channel(cmd.channel);
        if (check == cf::ChannelCheck::empty) {
            disconnect(loop, ci, cf::DisconnectCode::bad_request, "empty channel");
            *closed = true;
            return false;
        }
        if (check != cf::ChannelCheck::ok) {
            error_reply(cmd.id, cf::channel_error(check));
            return false;
        }
        cf::ChannelParts parts = cf::split_channel(cmd.channel);
        if (parts.user_limited && !cf::user_listed(parts.users, clients_[ci].user)) {
            error_reply(cmd.id, cf::ErrorCode::permission_denied);
            return false;
        }
        return true;
    }

    template <class Loop>
    bool subscribe(Loop& loop, uint32_t ci, const cf::Command& cmd) {
        bool closed = false;
        if (!channel_allowed(loop, ci, cmd, &closed)) return !closed;
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
        if (id == LoopChannels::kNone) {
            // A channel new to this loop may be new to the node: the node's
            // limit is checked here (the home's count may lag by the
            // subscribes in flight).
            if (shared_.channels.load(std::memory_order_relaxed) >= settings_.max_channels) {
                error_reply(cmd.id, cf::ErrorCode::limit_exceeded);
                return true;
            }
            id = channels_.insert(cmd.channel, hash);
        }
        c.subs.push_back({id, Subscription::kPending});
        LocalChannel& ch = channels_[id];
        ++ch.pending;
        auto req = std::make_unique<SubscribeRequest>();
        req->channel.assign(cmd.channel);
        req->hash = hash;
        req->client = c.handle;
        req->id = cmd.id;
        req->recover = cmd.recover && settings_.history_size > 0;
        req->offset = cmd.offset;
        req->epoch.assign(cmd.epoch);
        uint32_t home = shared_.home_of(hash);
        if (home == loop_id_) {
            home_subscribe_here(req.get());
            finish_subscribe(loop, std::move(req));
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

    // The home's part of a subscribe: the stream's position, and what a
    // recovering client missed.
    void home_subscribe_here(SubscribeRequest* req) {
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
        if (!req->recover) return;
        cf::RecoveryPlan plan = cf::plan_recovery(req->offset, req->epoch, s.bounds(),
                                                  settings_.recovery_max_publications);
        req->recovered = plan.recovered;
        for (uint64_t o = plan.first; plan.recovered && o <= plan.last; ++o) {
            PublicationRecord* r = s.at(o);
            r->retain();
            req->missed.emplace_back(r);
        }
    }

    template <class Loop>
    void home_subscribe(Loop& loop, SubscribeRequest* req) {
        home_subscribe_here(req);
        post(loop, req->client.loop(), HubTag::subscribe_done, req);
    }

    template <class Loop>
    void finish_subscribe(Loop& loop, std::unique_ptr<SubscribeRequest> req) {
        uint32_t id = channels_.find(req->channel, req->hash);
        if (id == LoopChannels::kNone) return;  // not reached: a pending subscribe keeps it
        LocalChannel& ch = channels_[id];
        --ch.pending;
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
        if (req->failed) {
            if (k != SIZE_MAX) leave(loop, ci, k);
            if (ci != kNoClient) {
                reply(loop, req->client, [&](proto::JsonOut& o) {
                    cf::write_error_reply(o, req->id, cf::ErrorCode::limit_exceeded);
                });
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
                bool history = settings_.history_size > 0;
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
    void unsubscribe(Loop& loop, uint32_t ci, std::string_view channel) {
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

    // Removes the client's k-th subscription (active or pending).
    template <class Loop>
    void leave(Loop& loop, uint32_t ci, size_t k) {
        std::vector<Subscription>& subs = clients_[ci].subs;
        Subscription s = subs[k];
        subs[k] = subs.back();
        subs.pop_back();
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

    // ---- publishing ----

    template <class Loop>
    bool client_publish(Loop& loop, uint32_t ci, const cf::Command& cmd) {
        if (!settings_.allow_client_publish) {
            error_reply(cmd.id, cf::ErrorCode::permission_denied);
            return true;
        }
        bool closed = false;
        if (!channel_allowed(loop, ci, cmd, &closed)) return !closed;
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
    void route_publish(Loop& loop, PublishRequest* req) {
        uint32_t home = shared_.home_of(req->hash);
        if (home == loop_id_) {
            home_publish(loop, req);
        } else {
            post(loop, home, HubTag::publish, req);
        }
    }

    template <class Loop>
    void home_publish(Loop& loop, PublishRequest* req) {
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
            pub.offset = settings_.history_size > 0 ? offset : 0;
            PublicationRef rec(PublicationRecord::create(req->channel, req->hash, pub, now));
            // create() encoded pub.offset; the stream counts every publication.
            s.append(offset, rec.share());
            // Without history a channel's stream does not outlive its
            // subscribers, so its position means nothing to a publisher:
            // the result is empty, as Centrifugo's for unpositioned channels.
            if (settings_.history_size > 0) {
                req->offset = offset;
                req->epoch.assign(s.epoch());
            }
            shared_.counters.publications.fetch_add(1, std::memory_order_relaxed);
            for (uint32_t l = 0; l < shared_.loops(); ++l) {
                if (l == loop_id_ || !s.interested().test(l)) continue;
                post(loop, l, HubTag::publication, rec.share().release());
            }
            deliver(loop, id, rec.get());
            maybe_drop_channel(id);
        }
        if (req->reply.kind == ReplyTo::Kind::none && req->broadcast == nullptr) {
            delete req;
            return;
        }
        uint32_t origin = req->broadcast != nullptr ? req->broadcast->reply.handle.loop()
                                                    : req->reply.handle.loop();
        if (origin == loop_id_) {
            finish_publish(loop, req);
        } else {
            post(loop, origin, HubTag::publish_done, req);
        }
    }

    // Back on the loop of the API call that published.
    template <class Loop>
    void finish_publish(Loop& loop, PublishRequest* req) {
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
        respond_api(loop, req->reply,
                    api_response_.build(200, req->reply.keep_alive, [&](proto::JsonOut& o) {
                        if (req->failed) {
                            cf::write_api_error(o, req->error);
                        } else {
                            cf::write_api_publish_result(o, req->offset, req->epoch);
                        }
                    }));
    }

    template <class Loop>
    void finish_broadcast(Loop& loop, std::unique_ptr<Broadcast> b) {
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

    // Queues the publication on every active subscriber of channel `id` on
    // this loop: one frame built once, queued by reference.
    template <class Loop>
    void deliver(Loop& loop, uint32_t id, PublicationRecord* rec) {
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

    // ---- history and presence ----

    template <class Loop>
    bool client_history(Loop& loop, uint32_t ci, const cf::Command& cmd) {
        if (settings_.history_size == 0) {
            error_reply(cmd.id, cf::ErrorCode::not_available);
            return true;
        }
        bool closed = false;
        if (!channel_allowed(loop, ci, cmd, &closed)) return !closed;
        auto req = std::make_unique<HistoryRequest>();
        req->channel.assign(cmd.channel);
        req->hash = channel_hash(cmd.channel);
        req->reply = {ReplyTo::Kind::client, clients_[ci].handle, cmd.id};
        req->limit = cmd.has_limit ? cmd.limit : 0;
        req->has_since = cmd.has_since;
        req->since_offset = cmd.offset;
        req->since_epoch.assign(cmd.epoch);
        req->reverse = cmd.reverse;
        route_history(loop, req.release());
        return true;
    }

    template <class Loop>
    void route_history(Loop& loop, HistoryRequest* req) {
        uint32_t home = shared_.home_of(req->hash);
        if (home == loop_id_) {
            home_history_here(req);
            finish_history(loop, std::unique_ptr<HistoryRequest>(req));
        } else {
            post(loop, home, HubTag::history, req);
        }
    }

    void home_history_here(HistoryRequest* req) {
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
    void home_history(Loop& loop, HistoryRequest* req) {
        home_history_here(req);
        post(loop, req->reply.handle.loop(), HubTag::history_done, req);
    }

    template <class Loop>
    void finish_history(Loop& loop, std::unique_ptr<HistoryRequest> req) {
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

    template <class Loop>
    bool client_presence_stats(Loop& loop, uint32_t ci, const cf::Command& cmd) {
        bool closed = false;
        if (!channel_allowed(loop, ci, cmd, &closed)) return !closed;
        auto g = std::make_unique<Gather>();
        g->kind = Gather::Kind::presence_stats;
        g->channel.assign(cmd.channel);
        g->reply = {ReplyTo::Kind::client, clients_[ci].handle, cmd.id};
        start_gather(loop, g.release());
        return true;
    }

    // Asks every loop for its part; the last one sends the whole back.
    template <class Loop>
    void start_gather(Loop& loop, Gather* g) {
        g->remaining.store(shared_.loops(), std::memory_order_relaxed);
        for (uint32_t l = 0; l < shared_.loops(); ++l) {
            if (l != loop_id_) post(loop, l, HubTag::gather, g);
        }
        gather_step(loop, g);
    }

    template <class Loop>
    void gather_step(Loop& loop, Gather* g) {
        {
            std::lock_guard lock(g->mutex);
            add_part(loop, *g);
        }
        if (g->remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
        uint32_t origin = g->reply.handle.loop();
        if (origin == loop_id_) {
            finish_gather(loop, std::unique_ptr<Gather>(g));
        } else {
            post(loop, origin, HubTag::gather_done, g);
        }
    }

    template <class Loop>
    void add_part(Loop& loop, Gather& g) {
        switch (g.kind) {
            case Gather::Kind::presence_stats: {
                uint32_t id = channels_.find(g.channel, channel_hash(g.channel));
                if (id == LoopChannels::kNone) return;
                for (uint32_t ci : channels_[id].subscribers) {
                    ++g.num_clients;
                    g.users.insert(clients_[ci].user);
                }
                // Subscribes still waiting for their home count too: a client
                // that sent subscribe, then presence_stats, counts itself
                // (Centrifugo handles one client's commands in order). Rare
                // enough to look through the loop's clients for them.
                if (channels_[id].pending == 0) return;
                clients_.for_each([&](uint32_t, Client& c) {
                    for (const Subscription& sub : c.subs) {
                        if (sub.channel == id && sub.place == Subscription::kPending) {
                            ++g.num_clients;
                            g.users.insert(c.user);
                        }
                    }
                });
                return;
            }
            case Gather::Kind::channels:
                channels_.for_each([&](uint32_t, LocalChannel& ch) {
                    if (!ch.subscribers.empty()) g.channels[ch.name] += ch.subscribers.size();
                });
                return;
            case Gather::Kind::info:
                clients_.for_each([&](uint32_t, Client& c) {
                    if (!c.connected) return;
                    ++g.num_clients;
                    g.num_subs += c.subs.size();
                    g.users.insert(c.user);
                });
                return;
            case Gather::Kind::unsubscribe_user: {
                uint32_t id = channels_.find(g.channel, channel_hash(g.channel));
                if (id == LoopChannels::kNone) return;
                std::vector<uint32_t> found;
                for (uint32_t ci : channels_[id].subscribers) {
                    if (user_matches(clients_[ci], g)) found.push_back(ci);
                }
                for (uint32_t ci : found) {
                    ws::ConnectionHandle h = clients_[ci].handle;
                    unsubscribe(loop, ci, g.channel);
                    reply(loop, h, [&](proto::JsonOut& o) {
                        cf::write_unsubscribe_push(o, g.channel, cf::UnsubscribeCode::server);
                    });
                }
                return;
            }
            case Gather::Kind::disconnect_user: {
                std::vector<uint32_t> found;
                clients_.for_each([&](uint32_t ci, Client& c) {
                    if (c.connected && user_matches(c, g)) found.push_back(ci);
                });
                for (uint32_t ci : found) {
                    if (g.disconnect_code != 0) {
                        loop.close(clients_[ci].handle, g.disconnect_code, g.disconnect_reason);
                    } else {
                        disconnect(loop, ci, cf::DisconnectCode::force_no_reconnect, "by the API");
                    }
                }
                return;
            }
        }
    }

    template <class Loop>
    void finish_gather(Loop& loop, std::unique_ptr<Gather> g) {
        if (g->reply.kind == ReplyTo::Kind::http) {
            respond_api(loop, g->reply,
                        api_response_.build(200, g->reply.keep_alive, [&](proto::JsonOut& o) {
                            write_gather_result(o, *g);
                        }));
            return;
        }
        if (g->reply.kind != ReplyTo::Kind::client) return;
        if (g->kind != Gather::Kind::presence_stats) return;
        reply(loop, g->reply.handle, [&](proto::JsonOut& o) {
            cf::write_presence_stats_reply(o, g->reply.id, static_cast<uint32_t>(g->num_clients),
                                           static_cast<uint32_t>(g->users.size()));
        });
    }

    // ---- the server HTTP API (centrifugal.dev "Server API") ----

    template <class Loop>
    void api_call(Loop& loop, ws::ConnectionHandle h, const proto::HttpRequest& request,
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
    void api_publish(Loop& loop, const ReplyTo& reply, const cf::ApiRequest& r) {
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
    void api_broadcast(Loop& loop, const ReplyTo& reply, const cf::ApiRequest& r) {
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
    void api_history(Loop& loop, const ReplyTo& reply, const cf::ApiRequest& r) {
        if (settings_.history_size == 0) {
            api_error(loop, reply, cf::ErrorCode::not_available);
            return;
        }
        if (std::optional<cf::ErrorCode> bad = api_channel_error(r.channel)) {
            api_error(loop, reply, *bad);
            return;
        }
        auto req = std::make_unique<HistoryRequest>();
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
    void api_gather(Loop& loop, const ReplyTo& reply, cf::ApiMethod method,
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

    // A channel name from the API: the client rules, except that the API
    // may publish to private channels.
    static std::optional<cf::ErrorCode> api_channel_error(std::string_view channel) {
        cf::ChannelCheck check = cf::check_channel(channel);
        if (check == cf::ChannelCheck::ok || check == cf::ChannelCheck::private_channel) {
            return std::nullopt;
        }
        return check == cf::ChannelCheck::empty ? cf::ErrorCode::bad_request
                                                : cf::channel_error(check);
    }

    template <class Loop>
    void api_error(Loop& loop, const ReplyTo& reply, cf::ErrorCode code) {
        respond_api(loop, reply, api_response_.build(200, reply.keep_alive, [&](proto::JsonOut& o) {
            cf::write_api_error(o, code);
        }));
    }

    // X-API-Key: KEY, or Authorization: apikey KEY (both as Centrifugo),
    // compared in constant time.
    bool api_key_matches(const proto::HttpRequest& request) const {
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

    void log_api_refusal(ws::ConnectionHandle h, int status, std::string_view why) {
        std::fprintf(stderr, "wsgate: pubsub api: connection %u.%u: %d %.*s\n", loop_id_, h.index(),
                     status, static_cast<int>(why.size()), why.data());
    }

    // The response to an API call: on the Outbound while the call is still
    // being handled, else later through the loop.
    template <class Loop>
    void respond_api(Loop& loop, const ReplyTo& reply, std::span<const uint8_t> response) {
        if (http_out_ != nullptr && reply.handle == http_current_) {
            http_out_->send_raw({reinterpret_cast<const char*>(response.data()), response.size()});
            http_answered_ = true;
            return;
        }
        loop.respond_http(reply.handle, response, reply.keep_alive);
    }

    void write_gather_result(proto::JsonOut& o, const Gather& g) {
        switch (g.kind) {
            case Gather::Kind::presence_stats:
                cf::write_api_presence_stats_result(o, static_cast<uint32_t>(g.num_clients),
                                                    static_cast<uint32_t>(g.users.size()));
                return;
            case Gather::Kind::unsubscribe_user:
            case Gather::Kind::disconnect_user:
                cf::write_api_empty_result(o);
                return;
            case Gather::Kind::channels:
                cf::begin_api_channels_result(o);
                for (const auto& [name, n] : g.channels) {
                    if (!g.pattern.empty() && fnmatch(g.pattern.c_str(), name.c_str(), 0) != 0) {
                        continue;
                    }
                    cf::add_api_channel(o, name, static_cast<uint32_t>(n));
                }
                cf::end_api_channels_result(o);
                return;
            case Gather::Kind::info: {
                cf::ApiNodeInfo node;
                node.uid = shared_.node_uid;
                node.name = shared_.node_uid;
                node.version = settings_.version;
                node.num_clients = static_cast<uint32_t>(g.num_clients);
                node.num_users = static_cast<uint32_t>(g.users.size());
                node.num_channels =
                    static_cast<uint32_t>(shared_.channels.load(std::memory_order_relaxed));
                node.num_subs = static_cast<uint32_t>(g.num_subs);
                node.uptime_seconds =
                    static_cast<uint32_t>((unix_seconds() * 1000 - shared_.start_ms) / 1000);
                cf::write_api_info_result(o, node);
                return;
            }
        }
    }

    bool user_matches(const Client& c, const Gather& g) const {
        if (c.user != g.user) return false;
        if (g.client.empty()) return true;
        char id[40];
        client_id(c.handle, id);
        return g.client == id;
    }

    static constexpr std::string_view kApiNotFound = R"({"error":"not found"})";
    static constexpr std::string_view kApiMethodNotAllowed = R"({"error":"method not allowed"})";
    static constexpr std::string_view kApiUnauthorized = R"({"error":"unauthorized"})";

    // ---- channels on this loop ----

    // The channel's entry with its stream, on its home (this loop), created
    // when missing; kNone when the node's --max-channels is reached.
    uint32_t home_channel(std::string_view name, uint64_t hash) {
        uint32_t id = channels_.find(name, hash);
        if (id != LoopChannels::kNone && channels_[id].stream) return id;
        if (shared_.channels.fetch_add(1, std::memory_order_relaxed) >= settings_.max_channels) {
            shared_.channels.fetch_sub(1, std::memory_order_relaxed);
            return LoopChannels::kNone;
        }
        if (id == LoopChannels::kNone) id = channels_.insert(name, hash);
        LocalChannel& ch = channels_[id];
        ch.stream = std::make_unique<ChannelStream>(
            settings_.history_size, int64_t{settings_.history_ttl_s} * 1000, next_epoch_seed());
        ch.positioned = true;
        return id;
    }

    // On the home: drops a stream nobody needs any more (no subscriber on
    // any loop, no history), and then the entry.
    void maybe_drop_channel(uint32_t id) {
        LocalChannel& ch = channels_[id];
        if (!ch.stream) return;
        if (!ch.subscribers.empty() || ch.pending != 0 || ch.stream->interested().any() ||
            !ch.stream->history_empty()) {
            return;
        }
        shared_.channels.fetch_sub(1, std::memory_order_relaxed);
        channels_.erase(id);
    }

    // On any loop, after a subscriber left: an entry without subscribers is
    // dropped here, telling the home this loop needs no more publications.
    template <class Loop>
    void maybe_drop_channel_here(Loop& loop, uint32_t id) {
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

    // ---- ticks: pings, token expiry, history expiry ----

    template <class Loop>
    void sweep(Loop& loop, int64_t now_ms) {
        uint32_t interval_ms = settings_.ping_interval_s * 1000;
        next_sweep_ms_ = now_ms + (interval_ms > 0 ? std::min<uint32_t>(interval_ms, 1000) : 1000);
        bool ping_now = interval_ms > 0 && now_ms >= next_ping_ms_;
        if (ping_now) next_ping_ms_ = now_ms + interval_ms;
        io::SharedBytesRef ping;
        if (ping_now) {
            ping = ws::make_shared_frame(
                proto::Opcode::text,
                {reinterpret_cast<const uint8_t*>(cf::kPing.data()), cf::kPing.size()});
        }
        std::vector<std::pair<uint32_t, cf::DisconnectCode>> drop;
        clients_.for_each([&](uint32_t ci, Client& c) {
            if (!c.connected) return;
            if (c.expires_ms != 0 && now_ms >= c.expires_ms) {
                drop.emplace_back(ci, cf::DisconnectCode::expired);
                return;
            }
            if (!ping_now) return;
            // No pong to the previous ping within an interval.
            if (c.ping_outstanding) {
                drop.emplace_back(ci, cf::DisconnectCode::no_pong);
                return;
            }
            if (loop.send_frame(c.handle, *ping.get()) == ws::SendResult::queued)
                c.ping_outstanding = true;
        });
        for (auto [ci, code] : drop) {
            if (code == cf::DisconnectCode::no_pong)
                shared_.counters.no_pong_disconnects.fetch_add(1, std::memory_order_relaxed);
            disconnect(loop, ci, code, "");
        }
        if (settings_.history_size > 0) {
            int64_t wall = wall_ms();
            std::vector<uint32_t> idle;
            channels_.for_each([&](uint32_t id, LocalChannel& ch) {
                if (!ch.stream) return;
                ch.stream->expire(wall);
                idle.push_back(id);
            });
            for (uint32_t id : idle)
                maybe_drop_channel(id);
        }
    }

    // ---- helpers ----

    static constexpr uint32_t kNoClient = UINT32_MAX;

    template <class Loop>
    uint32_t client_of(Loop& loop, ws::ConnectionHandle h) {
        uint64_t* state = loop.app_state(h);
        if (state == nullptr || *state == 0) return kNoClient;
        return static_cast<uint32_t>(*state - 1);
    }

    template <class Loop>
    void post(Loop& loop, uint32_t target, HubTag tag, void* pointer) {
        ws::LoopMessage m;
        m.kind = ws::LoopMessageKind::app;
        m.tag = static_cast<uint32_t>(tag);
        m.pointer = pointer;
        outbox_.post(loop, target, m);
    }

    // One reply or push for client `h`: into the batch of the message being
    // handled when it is for that client (so replies keep their order and
    // go out together), else sent as a message of its own.
    template <class Loop, class Write>
    void reply(Loop& loop, ws::ConnectionHandle h, Write&& write) {
        if (h == current_) {
            batch_.add(write);
            return;
        }
        async_.clear();
        async_.add(write);
        send_text(loop, h, async_.text());
        async_.clear();
    }

    // Sends the replies batched so far for the client whose message is being
    // handled: before a publication is queued for it, so a subscribe reply
    // always precedes the channel's first push.
    template <class Loop>
    void flush_batch(Loop& loop) {
        if (current_.empty() || batch_.empty()) return;
        send_text(loop, current_, batch_.text());
        batch_.clear();
    }

    template <class Loop>
    void send_text(Loop& loop, ws::ConnectionHandle h, std::string_view text) {
        if (text.empty()) return;
        if (loop.send_message(h, proto::Opcode::text,
                              {reinterpret_cast<const uint8_t*>(text.data()), text.size()}) ==
            ws::SendResult::over_cap) {
            uint32_t ci = client_of(loop, h);
            if (ci != kNoClient) {
                shared_.counters.slow_disconnects.fetch_add(1, std::memory_order_relaxed);
                disconnect(loop, ci, cf::DisconnectCode::slow, "over --max-queued-bytes");
            }
        }
    }

    // Closes the connection with a Centrifugo disconnect code as the
    // WebSocket close code and its reason (the SDK reads both from the
    // close frame); one log line for the protocol errors.
    template <class Loop>
    void disconnect(Loop& loop, uint32_t ci, cf::DisconnectCode code, std::string_view why) {
        uint16_t c = static_cast<uint16_t>(code);
        if (code == cf::DisconnectCode::bad_request) {
            shared_.counters.bad_requests.fetch_add(1, std::memory_order_relaxed);
        }
        if (code == cf::DisconnectCode::bad_request || code == cf::DisconnectCode::invalid_token) {
            std::fprintf(stderr, "wsgate: pubsub: closing client %u.%u: %u %.*s (%.*s)\n", loop_id_,
                         clients_[ci].handle.index(), c,
                         static_cast<int>(cf::disconnect_reason(code).size()),
                         cf::disconnect_reason(code).data(), static_cast<int>(why.size()),
                         why.data());
        }
        loop.close(clients_[ci].handle, c, cf::disconnect_reason(code));
    }

    void client_id(ws::ConnectionHandle h, char (&out)[40]) const {
        uint64_t a = shared_.seed;
        uint64_t b = h.bits();
        std::snprintf(out, sizeof(out), "%08x-%04x-%04x-%04x-%012llx",
                      static_cast<unsigned>(a >> 32), static_cast<unsigned>((a >> 16) & 0xffff),
                      static_cast<unsigned>(a & 0xffff), static_cast<unsigned>(b >> 48),
                      static_cast<unsigned long long>(b & 0xffffffffffffull));
    }

    uint64_t next_epoch_seed() {
        // splitmix64 over a per-loop counter: distinct per stream, random per process.
        uint64_t z = (epoch_counter_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }

    static int64_t wall_ms() {
        timespec ts{};
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
    }

    HubShared& shared_;
    const HubSettings& settings_;
    uint32_t loop_id_;
    cf::CommandParser parser_;
    std::unique_ptr<jwt::Hs256Verifier> verifier_;
    LoopOutbox outbox_;
    ClientTable clients_;
    LoopChannels channels_;
    cf::ApiParser api_parser_;
    ApiResponse api_response_;
    ws::ConnectionHandle http_current_;  // the API call being handled
    ws::Outbound* http_out_ = nullptr;
    bool http_answered_ = false;
    ReplyBatch batch_;              // replies to the message being handled
    ReplyBatch async_;              // a reply that arrives later (from another loop)
    ws::ConnectionHandle current_;  // whose message is being handled (empty: none)
    std::unordered_map<uint32_t, std::string> partial_;  // messages arriving in pieces
    std::vector<uint32_t> slow_;
    int64_t now_ms_ = 0;
    int64_t next_sweep_ms_ = 0;
    int64_t next_ping_ms_ = 0;
    uint64_t epoch_counter_ = 0;
};

}  // namespace wsgate::pubsub
