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
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/redis_link.hpp"
#include "proto/centrifugo_api.hpp"
#include "proto/centrifugo_channel.hpp"
#include "proto/centrifugo_codes.hpp"
#include "proto/centrifugo_command_parser.hpp"
#include "proto/centrifugo_recovery.hpp"
#include "proto/centrifugo_reply_writer.hpp"
#include "proto/jwt_hs256.hpp"
#include "pubsub/api_response.hpp"
#include "pubsub/channel_namespace.hpp"
#include "pubsub/channel_stream.hpp"
#include "pubsub/handover_bytes.hpp"
#include "pubsub/hub_requests.hpp"
#include "pubsub/hub_shared.hpp"
#include "pubsub/hub_state.hpp"
#include "pubsub/loop_outbox.hpp"
#include "pubsub/publication_record.hpp"
#include "pubsub/redis_wire.hpp"
#include "pubsub/reply_batch.hpp"
#include "ws/application.hpp"
#include "ws/connection_export.hpp"
#include "ws/connection_log.hpp"
#include "ws/log_throttle.hpp"
#include "ws/loop_message.hpp"
#include "ws/shared_frame.hpp"

namespace wsgate::pubsub {

class HubApp;

// --engine redis: what a link's callbacks need (the app, the loop, typed
// where the callback is instantiated, and the shard), and a shard's links.
struct RedisContext {
    HubApp* app = nullptr;
    void* loop = nullptr;
    uint32_t shard = 0;
};

struct RedisShard {
    RedisContext cmd_context, sub_context;
    std::unique_ptr<broker::RedisLink> cmd, sub;
};

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
        const jwt::KeyRing* keys = shared.token_keys ? &shared.token_keys->ring() : nullptr;
        if (!settings_.token_hmac_secret.empty() || keys != nullptr) {
            verifier_ = std::make_unique<jwt::TokenVerifier>(settings_.token_hmac_secret, keys);
        }
        epoch_counter_ = shared.seed ^ (uint64_t{loop_id} << 56);
        holding_ = shared.awaiting_handover;
        default_options_ = settings_.default_namespace();
    }
    ~HubApp() {
        // Posts that never left (their targets' inboxes stayed full until
        // the end) hand their objects back here.
        outbox_.discard_all([](const ws::LoopMessage& m) { discard_message(m); });
        for (const ws::LoopMessage& m : held_)
            discard_message(m);
        // Streams, and what they hold, go with the channel table.
        channels_.for_each([this](uint32_t, LocalChannel& ch) {
            if (ch.stream) shared_.channels.fetch_sub(1, std::memory_order_relaxed);
            for (SubscribeRequest* r : ch.redis_waiting)
                delete r;
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
        if (path == "/healthz" && !broker_healthy()) {
            out.send_raw(broker_unhealthy_response(keep_alive));
            return ws::HttpAnswer::now;
        }
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

    // A connection whose token expired is closed (3005) this long after
    // its exp, not at it: the SDK sends its refresh right at the ttl, and
    // Centrifugo's client_expired_close_delay gives it the same 25 s.
    static constexpr int64_t kExpiredCloseDelayMs = 25 * 1000;

    // A reload's hub settings (ws::ReloadableApplication: the part is a
    // HubSettings), adopted between events. The reload policy leaves the
    // engine unchanged; the rest applies to the next command: namespaces and
    // their rights, publish and anonymous rights, API key, channel limits,
    // ping interval, the HMAC token secret. History limits apply to the
    // streams this loop is home of at once (cut to a smaller size now, a
    // shorter TTL at the next sweep). A channel whose namespace is gone
    // keeps its subscribers and its stream's limits (as in Centrifugo,
    // nothing happens to them until they resubscribe, which is then 102);
    // new subscribes, publishes and history requests get 102.
    template <class Loop>
    void on_settings(Loop& loop, const std::shared_ptr<const void>& part) {
        if (!part) return;
        const auto& next = *static_cast<const HubSettings*>(part.get());
        bool secret_changed = next.token_hmac_secret != settings_.token_hmac_secret;
        settings_ = next;
        default_options_ = settings_.default_namespace();
        apply_history_limits(loop);
        if (secret_changed) {
            const jwt::KeyRing* keys = shared_.token_keys ? &shared_.token_keys->ring() : nullptr;
            verifier_.reset();
            if (!settings_.token_hmac_secret.empty() || keys != nullptr) {
                verifier_ = std::make_unique<jwt::TokenVerifier>(settings_.token_hmac_secret, keys);
            }
        }
    }

    template <class Loop>
    void on_inbox_message(Loop& loop, const ws::LoopMessage& m) {
        switch (static_cast<HubTag>(m.tag)) {
            case HubTag::publish:
                shared_.publishes_in_flight.fetch_sub(1, std::memory_order_relaxed);
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
            case HubTag::channel_lost: {
                std::unique_ptr<InterestNote> note(static_cast<InterestNote*>(m.pointer));
                uint32_t id = channels_.find(note->channel, note->hash);
                if (id != LoopChannels::kNone) close_channel_subscribers(loop, id);
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
        if (holding_ && state_adopted_ms_ != 0 && may_release(now_ms)) release_held(loop);
        if (now_ms >= next_sweep_ms_) {
            sweep(loop, now_ms);
            redis_kick_ = redis_engine();  // retries what waited for a link
            if (redis_engine() && loop_id_ == 0) {
                // This node's heartbeat in Redis, from its info (every loop's part).
                auto* g = new Gather;
                g->kind = Gather::Kind::info;
                g->heartbeat = true;
                start_gather(loop, g);
            }
        }
        // After the sweep and before the outbox: commands of this turn go
        // out in one send per link, posts to other loops after them.
        if (redis_engine()) redis_tick(loop, now_ms);
        outbox_.flush(loop);
    }

    int ms_until_due(int64_t now_ms) const {
        if (!outbox_.empty()) return 1;
        int64_t due = next_sweep_ms_ - now_ms;
        int ms = due <= 0 ? 0 : static_cast<int>(std::min<int64_t>(due, 60 * 1000));
        if (redis_engine()) ms = std::min(ms, redis_ms_until_due(now_ms));
        return ms;
    }

    // ---- ws::StreamApplication: the Redis links (hub_redis.hpp) ----

    template <class Loop>
    void on_connected(Loop& loop, ws::ConnectionHandle h);
    template <class Loop>
    size_t on_stream_data(Loop& loop, ws::ConnectionHandle h, std::span<uint8_t> bytes);
    template <class Loop>
    void on_stream_drained(Loop& loop, ws::ConnectionHandle h);
    template <class Loop>
    void on_stream_end(Loop& loop, ws::ConnectionHandle h, int error);

    // The node can serve: with --engine redis, every link is up (or
    // --redis-health-strict is off).
    bool broker_healthy() const {
        return !redis_engine() || !settings_.redis_health_strict ||
               shared_.redis_links_down.load(std::memory_order_relaxed) <= 0;
    }

    // The client's connection is gone: leaves every channel, frees the record.
    template <class Loop>
    void client_gone(Loop& loop, uint32_t ci) {
        Client& c = clients_[ci];
        if (c.connected) shared_.clients.fetch_sub(1, std::memory_order_relaxed);
        while (!c.subs.empty())
            leave(loop, ci, c.subs.size() - 1);
        partial_.erase(ci);
        if (!adopted_ids_.empty()) adopted_ids_.erase(c.handle.bits());
        clients_.remove(ci);
    }

    // ---- ws::HandoverApplication, ws::HandoverLoopApplication (hub_handover.hpp) ----

    template <class Loop>
    bool movable(Loop& loop, ws::ConnectionHandle h);
    template <class Loop>
    bool export_state(Loop& loop, ws::ConnectionHandle h, ws::AppExport& out);
    template <class Loop>
    void handed_over(Loop& loop, ws::ConnectionHandle h);
    template <class Loop>
    bool adopt_state(Loop& loop, ws::ConnectionHandle h, std::span<const uint8_t> bytes,
                     std::span<const int> fds);
    template <class Loop>
    void on_handover_begin(Loop& loop);
    bool loop_state_ready() const;
    template <class Loop>
    void export_loop_state(Loop& loop, std::vector<uint8_t>& out);
    template <class Loop>
    void adopt_loop_state(Loop& loop, std::span<const uint8_t> bytes);

    uint32_t client_count() const { return clients_.size(); }

  private:
    // ---- commands ----

    template <class Loop>
    void on_message(Loop& loop, uint32_t ci, proto::Opcode opcode, std::string_view message);

    // Returns false when the client was disconnected (stop reading its commands).
    template <class Loop>
    bool handle_command(Loop& loop, uint32_t ci, const cf::Command& cmd);

    void error_reply(uint32_t id, cf::ErrorCode code);

    template <class Loop>
    bool connect(Loop& loop, uint32_t ci, const cf::Command& cmd);

    template <class Loop>
    bool refresh(Loop& loop, uint32_t ci, const cf::Command& cmd);

    // Checks a channel name from a client, its namespace (102) and the
    // client's right to `action` there; answers the error itself. Returns the
    // channel's options, or nullptr when the command is answered (*closed:
    // the client was closed).
    template <class Loop>
    const ChannelOptions* channel_allowed(Loop& loop, uint32_t ci, const cf::Command& cmd,
                                          ChannelAction action, bool* closed);

    template <class Loop>
    bool subscribe(Loop& loop, uint32_t ci, const cf::Command& cmd);

    // The home's part of a subscribe: the stream's position, and what a
    // recovering client missed.
    void home_subscribe_here(SubscribeRequest* req);

    // At the home: answers now, or once the channel is in step with Redis.
    template <class Loop>
    void home_subscribe(Loop& loop, SubscribeRequest* req);

    // Sends the home's answer to the subscriber's loop (or finishes it here).
    template <class Loop>
    void answer_subscribe(Loop& loop, SubscribeRequest* req);

    template <class Loop>
    void finish_subscribe(Loop& loop, std::unique_ptr<SubscribeRequest> req);

    // The home's answer to a subscription adopted from an older process:
    // pushes what the client missed and makes it active, or disconnects it
    // (3010) when its position is gone.
    template <class Loop>
    void finish_adopted_subscription(Loop& loop, SubscribeRequest& req, uint32_t ci, size_t k);

    template <class Loop>
    void unsubscribe(Loop& loop, uint32_t ci, std::string_view channel);

    // Removes the client's k-th subscription (active or pending).
    template <class Loop>
    void leave(Loop& loop, uint32_t ci, size_t k);

    // ---- publishing ----

    template <class Loop>
    bool client_publish(Loop& loop, uint32_t ci, const cf::Command& cmd);

    template <class Loop>
    void route_publish(Loop& loop, PublishRequest* req);

    template <class Loop>
    void home_publish(Loop& loop, PublishRequest* req);

    // Back on the loop of the API call that published.
    template <class Loop>
    void finish_publish(Loop& loop, PublishRequest* req);

    // The home has its answer: to the origin loop, or freed when none waits.
    template <class Loop>
    void publish_answered(Loop& loop, PublishRequest* req);

    // Records the publication in channel `id`'s stream's count, forwards it
    // to the loops with subscribers and delivers it here.
    template <class Loop>
    void fan_out(Loop& loop, uint32_t id, const PublicationRef& rec);

    template <class Loop>
    void finish_broadcast(Loop& loop, std::unique_ptr<Broadcast> b);

    // Queues the publication on every active subscriber of channel `id` on
    // this loop: one frame built once, queued by reference.
    template <class Loop>
    void deliver(Loop& loop, uint32_t id, PublicationRecord* rec);

    // ---- history and presence ----

    template <class Loop>
    bool client_history(Loop& loop, uint32_t ci, const cf::Command& cmd);

    template <class Loop>
    void route_history(Loop& loop, HistoryRequest* req);

    void home_history_here(HistoryRequest* req);

    template <class Loop>
    void home_history(Loop& loop, HistoryRequest* req);

    template <class Loop>
    void finish_history(Loop& loop, std::unique_ptr<HistoryRequest> req);

    template <class Loop>
    bool client_presence_stats(Loop& loop, uint32_t ci, const cf::Command& cmd);

    // Asks every loop for its part; the last one sends the whole back.
    template <class Loop>
    void start_gather(Loop& loop, Gather* g);

    template <class Loop>
    void gather_step(Loop& loop, Gather* g);

    template <class Loop>
    void add_part(Loop& loop, Gather& g);

    template <class Loop>
    void finish_gather(Loop& loop, std::unique_ptr<Gather> g);

    // ---- the server HTTP API (centrifugal.dev "Server API") ----

    template <class Loop>
    void api_call(Loop& loop, ws::ConnectionHandle h, const proto::HttpRequest& request,
                  std::string_view body, bool keep_alive);

    template <class Loop>
    void api_publish(Loop& loop, const ReplyTo& reply, const cf::ApiRequest& r);

    template <class Loop>
    void api_broadcast(Loop& loop, const ReplyTo& reply, const cf::ApiRequest& r);

    template <class Loop>
    void api_history(Loop& loop, const ReplyTo& reply, const cf::ApiRequest& r);

    template <class Loop>
    void api_gather(Loop& loop, const ReplyTo& reply, cf::ApiMethod method,
                    const cf::ApiRequest& r);

    // A channel name from the API: the client rules, except that the API
    // may publish to private channels; a namespace not configured is 102.
    std::optional<cf::ErrorCode> api_channel_error(std::string_view channel) const;

    template <class Loop>
    void api_error(Loop& loop, const ReplyTo& reply, cf::ErrorCode code);

    // X-API-Key: KEY, or Authorization: apikey KEY (both as Centrifugo),
    // compared in constant time.
    bool api_key_matches(const proto::HttpRequest& request) const;

    void log_api_refusal(ws::ConnectionHandle h, int status, std::string_view why);

    // The response to an API call: on the Outbound while the call is still
    // being handled, else later through the loop.
    template <class Loop>
    void respond_api(Loop& loop, const ReplyTo& reply, std::span<const uint8_t> response);

    void write_gather_result(proto::JsonOut& o, const Gather& g);

    bool user_matches(const Client& c, const Gather& g) const;

    static constexpr std::string_view kApiNotFound = R"({"error":"not found"})";
    static constexpr std::string_view kApiMethodNotAllowed = R"({"error":"method not allowed"})";
    static constexpr std::string_view kApiUnauthorized = R"({"error":"unauthorized"})";

    // ---- channels on this loop ----

    // The channel's entry with its stream, on its home (this loop), created
    // when missing; kNone when the node's --max-channels is reached.
    // Its history limits are those of the channel's namespace (the caller
    // checked that it exists).
    uint32_t home_channel(std::string_view name, uint64_t hash);

    // On the home: drops a stream nobody needs any more (no subscriber on
    // any loop, no history), and then the entry.
    void maybe_drop_channel(uint32_t id);

    // On any loop, after a subscriber left: an entry without subscribers is
    // dropped here, telling the home this loop needs no more publications.
    template <class Loop>
    void maybe_drop_channel_here(Loop& loop, uint32_t id);

    // ---- the Redis engine (hub_redis.hpp) ----

    bool redis_engine() const { return settings_.redis_engine; }

    // Keeps channel `id`'s entry (and stream) alive while a link's callback
    // works on it; whether it is still needed is decided at the end.
    class BusyChannel {
      public:
        BusyChannel(HubApp& app, uint32_t id) : app_(app), id_(id) {
            ++app_.channels_[id].redis_busy;
        }
        ~BusyChannel() {
            --app_.channels_[id_].redis_busy;
            app_.maybe_drop_channel(id_);
        }
        BusyChannel(const BusyChannel&) = delete;
        BusyChannel& operator=(const BusyChannel&) = delete;

      private:
        HubApp& app_;
        uint32_t id_;
    };
    static constexpr size_t kMaxHeldMessages = 4096;

    template <class Loop>
    void redis_start(Loop& loop);
    template <class Loop>
    void redis_tick(Loop& loop, int64_t now_ms);
    int redis_ms_until_due(int64_t now_ms) const;
    uint32_t redis_shard_of(uint64_t hash) const;
    uint64_t redis_cookie(uint32_t id) const;
    uint32_t redis_channel_of(uint64_t cookie);
    template <class Loop>
    void redis_want(Loop& loop, uint32_t id);
    template <class Loop>
    void redis_advance(Loop& loop, uint32_t id);
    void redis_sync_command(broker::RedisLink& link, const LocalChannel& ch, uint64_t from,
                            uint32_t count);
    void redis_unsubscribe(uint32_t id);
    template <class Loop>
    void redis_after_sync(Loop& loop, uint32_t id);
    PublicationRef redis_record(const LocalChannel& ch, uint64_t offset, std::string_view body);
    template <class Loop>
    void redis_apply(Loop& loop, uint32_t id, PublicationRef rec);
    template <class Loop>
    void redis_channel_lost(Loop& loop, uint32_t id,
                            std::string_view why = "history cannot cover a gap");
    template <class Loop>
    void close_channel_subscribers(Loop& loop, uint32_t id);
    template <class Loop>
    bool redis_hold_subscribe(Loop& loop, SubscribeRequest* req);
    template <class Loop>
    void redis_publish(Loop& loop, PublishRequest* req);
    void redis_publish_command(broker::RedisLink& link, const PublishRequest* req,
                               bool with_script);
    void redis_script_refused(const broker::RespValue* reply, const std::string* sha);
    // Info across the cluster: a heartbeat gather goes to Redis; an API
    // info call asks Redis for the other nodes. True: taken (g released).
    template <class Loop>
    bool redis_info(Loop& loop, std::unique_ptr<Gather>& g);
    template <class Loop>
    static void redis_nodes(void* context, uint64_t cookie, const broker::RespValue* reply);
    // Presence across the cluster: the heartbeat writes this node's part of
    // each channel; presence_stats adds the other live nodes' parts.
    void redis_write_presence(broker::RedisLink& link, const Gather& g);
    template <class Loop>
    bool redis_presence(Loop& loop, std::unique_ptr<Gather>& g);
    template <class Loop>
    static void redis_presence_reply(void* context, uint64_t cookie,
                                     const broker::RespValue* reply);
    template <class Loop>
    bool redis_channels(Loop& loop, std::unique_ptr<Gather>& g);
    template <class Loop>
    static void redis_channels_reply(void* context, uint64_t cookie,
                                     const broker::RespValue* reply);
    template <class Loop>
    void redis_history(Loop& loop, HistoryRequest* req);
    template <class Loop>
    static void redis_history_reply(void* context, uint64_t cookie, const broker::RespValue* reply);

    // Link events and replies (function pointers: RedisContext is the owner).
    template <class Loop>
    static void redis_cmd_up(void* context);
    template <class Loop>
    static void redis_sub_up(void* context);
    static void redis_link_down(void* context);
    static void redis_sub_down(void* context);
    template <class Loop>
    static void redis_message(void* context, const broker::RespValue& m);
    template <class Loop>
    static void redis_subscribed(void* context, uint64_t cookie, const broker::RespValue* reply);
    template <class Loop>
    static void redis_synced(void* context, uint64_t cookie, const broker::RespValue* reply);
    template <class Loop>
    static void redis_recovered(void* context, uint64_t cookie, const broker::RespValue* reply);
    template <class Loop>
    static void redis_published(void* context, uint64_t cookie, const broker::RespValue* reply);
    static void ignore_reply(void*, uint64_t, const broker::RespValue*) {}

    static std::string_view broker_unhealthy_response(bool keep_alive) {
        return keep_alive ? std::string_view(
                                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                "text/plain\r\nContent-Length: 26\r\n\r\n"
                                "redis link(s) unavailable\n")
                          : std::string_view(
                                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                "text/plain\r\nContent-Length: 26\r\nConnection: "
                                "close\r\n\r\nredis link(s) unavailable\n");
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
        if (settings_.any_history()) {
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

    // The options of `channel`'s namespace; nullptr when it has one that is
    // not configured (102 "unknown channel").
    const ChannelOptions* options_of(std::string_view channel) const {
        return find_channel_options(default_options_, settings_.namespaces, channel);
    }

    // After a reload: the streams this loop is home of take their
    // namespace's history limits; those left with nothing to keep go.
    // --engine redis: a channel whose history was off counted offsets
    // itself (every loop with subscribers too), while Redis's stream numbers
    // them from its own top once the publish script runs: the positions its
    // subscribers hold mean nothing there. They are closed 3010 (insufficient
    // state; the SDK reconnects and subscribes afresh) and the home takes
    // Redis's position (messages meanwhile are held, as after a lost link).
    template <class Loop>
    void apply_history_limits(Loop& loop) {
        std::vector<uint32_t> ids, resync;
        channels_.for_each([&](uint32_t id, LocalChannel& ch) {
            if (!ch.stream) return;
            const ChannelOptions* o = options_of(ch.name);
            if (o == nullptr) return;  // namespace gone: left as it is
            if (ch.stream->history_size() == 0 && o->history_size > 0 &&
                ch.redis != LocalChannel::Redis::none) {
                resync.push_back(id);
            }
            ch.stream->set_history_limits(o->history_size, int64_t{o->history_ttl_s} * 1000);
            ids.push_back(id);
        });
        for (uint32_t id : resync) {
            // Closing subscribers must not drop the entry under us.
            BusyChannel busy(*this, id);
            redis_channel_lost(loop, id, "history turned on by a reload");
            LocalChannel& ch = channels_[id];
            ch.redis_synced_once = false;
            if (ch.redis == LocalChannel::Redis::synced) {
                ch.redis = LocalChannel::Redis::sync_wanted;
                redis_advance(loop, id);
            }
        }
        for (uint32_t id : ids)
            maybe_drop_channel(id);
    }

    // Whether client `ci` is an active subscriber of `channel` (the
    // *_for_subscriber rights).
    bool subscribed(uint32_t ci, std::string_view channel) {
        uint32_t id = channels_.find(channel, channel_hash(channel));
        if (id == LoopChannels::kNone) return false;
        for (const Subscription& s : clients_[ci].subs) {
            if (s.channel == id && s.place != Subscription::kPending) return true;
        }
        return false;
    }

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
            static constexpr io::LogEvent kEvent{"pubsub_disconnect", io::LogLevel::info};
            io::log_limited(
                kEvent, c, ws::request_id(clients_[ci].handle), {{"code", c}, {"reason", why}},
                "pubsub: closing client %u.%u: %u %.*s (%.*s)", loop_id_,
                clients_[ci].handle.index(), c,
                static_cast<int>(cf::disconnect_reason(code).size()),
                cf::disconnect_reason(code).data(), static_cast<int>(why.size()), why.data());
        }
        loop.close(clients_[ci].handle, c, cf::disconnect_reason(code));
    }

    void client_id(ws::ConnectionHandle h, char (&out)[40]) const {
        if (!adopted_ids_.empty()) {
            // A client adopted from an older process keeps the id it was given.
            auto it = adopted_ids_.find(h.bits());
            if (it != adopted_ids_.end()) {
                size_t n = std::min(it->second.size(), sizeof(out) - 1);
                std::memcpy(out, it->second.data(), n);
                out[n] = 0;
                return;
            }
        }
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
    // The snapshot this loop adopted last (start-up, then on_settings).
    HubSettings settings_;
    ChannelOptions default_options_;  // settings_.default_namespace()
    uint32_t loop_id_;
    cf::CommandParser parser_;
    std::unique_ptr<jwt::TokenVerifier> verifier_;
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
    // --engine redis
    std::vector<RedisShard> redis_shards_;  // by shard; empty until the first turn
    std::string redis_publish_sha_, redis_sync_sha_;
    std::string redis_key_;   // a key being encoded (capacity kept)
    std::string redis_body_;  // a publication body being encoded
    // Channels whose presence the last heartbeat wrote (deleted once empty).
    std::set<std::string> redis_presence_written_;
    uint32_t redis_gen_ = 0;
    bool redis_kick_ = false;  // channels to move on at the end of the turn
    ws::LogThrottle redis_error_log_{1000};
    // Live upgrade (hub_handover.hpp).
    bool handing_over_ = false;  // old process: streams are kept for the new one
    // New process: stream requests wait for the old streams (and, with
    // Redis, for this loop's command links, which connect as the loop starts:
    // a publish meanwhile would fail 503 although nothing is wrong).
    bool holding_ = false;
    int64_t state_adopted_ms_ = 0;                   // when the old loop's state came (0: not yet)
    static constexpr int64_t kMaxLinkWaitMs = 5000;  // then a publish fails as in an outage
    bool may_release(int64_t now_ms) const {
        if (!redis_engine() || now_ms - state_adopted_ms_ >= kMaxLinkWaitMs) return true;
        if (redis_shards_.empty()) return false;
        for (const RedisShard& sh : redis_shards_) {
            if (!sh.cmd || !sh.cmd->up()) return false;
        }
        return true;
    }
    std::vector<ws::LoopMessage> held_;                      // those requests, in arrival order
    std::unordered_map<uint64_t, std::string> adopted_ids_;  // handle bits -> client id

    // Requests one home holds at most while it waits: the old process sends
    // its streams within --upgrade-timeout, so this is a bound on memory,
    // not a queue that fills in practice. Beyond it requests are refused
    // (108 not available; an API publish gets 503) rather than answered
    // against a stream that is not the channel's yet.
    static constexpr size_t kMaxHeld = 65536;

    // True when this home waits for the old process's streams: `pointer` is
    // kept (in order), or refused when kMaxHeld are kept already.
    template <class Loop>
    bool hold(Loop& loop, HubTag tag, void* pointer) {
        if (!holding_) return false;
        if (held_.size() >= kMaxHeld) {
            refuse_held(loop, tag, pointer);
            return true;
        }
        ws::LoopMessage m;
        m.kind = ws::LoopMessageKind::app;
        m.tag = static_cast<uint32_t>(tag);
        m.pointer = pointer;
        held_.push_back(m);
        return true;
    }
    template <class Loop>
    void refuse_held(Loop& loop, HubTag tag, void* pointer);
    template <class Loop>
    void release_held(Loop& loop);
    void write_subscription(HandoverWriter& w, const LocalChannel& ch) const;
};

}  // namespace wsgate::pubsub

// The definitions of HubApp's parts, one file each.
#include "pubsub/hub_api.hpp"
#include "pubsub/hub_commands.hpp"
#include "pubsub/hub_gather.hpp"
#include "pubsub/hub_handover.hpp"
#include "pubsub/hub_home.hpp"
#include "pubsub/hub_redis.hpp"
