// --mode proxy: a reverse proxy in `tunnel` relay mode. A client's WebSocket
// upgrade request (validated by the loop, RFC 6455 §4.2.1) is routed by path
// (RouteTable: longest prefix; no route: 404 from the loop), forwarded to a
// server of the route's pool picked by the pool's policy (balancer.hpp:
// round robin, least connections, or consistent hashing with bounded load
// on a key of the request; connections counted across loops in
// UpstreamLive), with X-Forwarded-For,
// X-Forwarded-Proto and Forwarded extended (forwarded_headers.hpp); from
// then on bytes flow unchanged both ways: the upstream's response (101 or
// any other status) and every frame, extensions negotiated end to end.
//
// Both sides are byte streams of the loop (ws/stream_application.hpp); a
// Tunnel record joins them, its index + 1 in each side's app_state.
//  - Reload (proxy_table.hpp): a new table arrives with the settings snapshot
//    (on_settings); new connections are routed with it, each tunnel keeps
//    the table it was routed with until it ends (removed servers drain).
//  - Health (upstream_live.hpp, health_prober.hpp): only servers up by their
//    active check and not taken out by passive failures get new
//    connections; none left: 503 naming why, and one log line.
//  - Connect refused, failed or timed out (--upstream-connect-timeout): the
//    next server of the pool by the same policy (for hashing: the next one
//    clockwise on the ring), each tried once; when all failed the client
//    gets 502 (504 when the last one timed out) and one log line (at most
//    one a second, with the count, when they come in floods).
//  - No descriptor left for the upstream socket (EMFILE/ENFILE: a proxied
//    connection takes two): 503 at once, one log line (throttled).
//  - The upstream ends before answering: 502. After it answered: the client
//    gets what was relayed, then FIN (and the other way round).
//  - Backpressure: a side whose peer's queue is over --max-queued-bytes is
//    not read until that queue is under half (on_stream_drained), so a slow
//    client stops reads from its upstream and vice versa; a queue holds at
//    most the cap plus one receive.
//  - Live upgrade: a pairing moves whole to the new process once both sides
//    are quiet (ws::PairedHandoverApplication; what it carries:
//    pairing_state.hpp); one still waiting for its upstream's answer waits.
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/http_response.hpp"
#include "proxy/forwarded_headers.hpp"
#include "proxy/frames_relay.hpp"
#include "proxy/health_prober.hpp"
#include "proxy/pairing_state.hpp"
#include "proxy/proxy_table.hpp"
#include "proxy/route_table.hpp"
#include "proxy/upstream_live.hpp"
#include "ws/application.hpp"
#include "ws/connection_export.hpp"
#include "ws/connection_handle.hpp"
#include "ws/connection_log.hpp"
#include "ws/log_throttle.hpp"
#include "ws/outbound.hpp"

namespace wsgate::proxy {

struct ProxySettings {
    // The table and timing the loops start with; a reload's come with the
    // settings snapshot (ProxyReload, ProxyApp::on_settings).
    CurrentProxyTable table;
    uint32_t connect_timeout_ms = 5000;
    uint64_t max_message_bytes = 16 * 1024 * 1024;  // frames relay: upstream messages too
    uint32_t loops = 1;                             // health checks are shared out among them
    uint32_t upstream_ping_interval_ms = 30000;     // frames relay keepalive; 0: none
    // Plain HTTP requests (GET /healthz, ...): queues one complete response.
    void (*pages)(const proto::HttpRequest& request, bool keep_alive, ws::Outbound& out) = nullptr;
};

class ProxyApp {
  public:
    ProxyApp(const ProxySettings& settings, uint32_t loop)
        : settings_(settings),
          loop_(loop),
          frames_(settings.max_message_bytes),
          table_(settings.table.get()),
          connect_timeout_ms_(settings.connect_timeout_ms),
          ping_interval_ms_(settings.upstream_ping_interval_ms),
          prober_(table_->routes, table_->live, loop, settings.loops) {
        per_pool_state();
    }

    // A reload's part (ws::ReloadableApplication: a ProxyReload) - its
    // timing applies to the next connect and ping; its table (the same one
    // again when the routing did not change):
    // new connections are routed with it from now on; tunnels keep theirs.
    // The health checks this loop owns start again on the new table.
    template <class Loop>
    void on_settings(Loop& loop, const std::shared_ptr<const void>& part) {
        if (!part) return;
        const auto& next = *static_cast<const ProxyReload*>(part.get());
        connect_timeout_ms_ = next.connect_timeout_ms;
        if (next.upstream_ping_interval_ms != ping_interval_ms_) {
            ping_interval_ms_ = next.upstream_ping_interval_ms;
            next_ping_ms_ = 0;  // scheduled again at the next turn's end
        }
        if (next.table == nullptr || next.table == table_) return;
        prober_.stop(loop);
        table_ = next.table;
        prober_ = HealthProber(table_->routes, table_->live, loop_, settings_.loops);
        per_pool_state();
    }

    // ---- WebSocket connections: none are opened in this mode ----
    template <class Loop>
    void on_open(Loop&, ws::ConnectionHandle) {}
    // ---- frames relay: the client side is the loop's WebSocket (frames_relay.hpp) ----
    template <class Loop>
    void on_message_piece(Loop& loop, ws::ConnectionHandle h, ws::Outbound&, proto::Opcode opcode,
                          std::span<const uint8_t> piece, bool last) {
        uint32_t id = tunnel_of(loop, h);
        if (id == kNoTunnel || !tunnels_[id].frames) return;
        Tunnel& t = tunnels_[id];
        frames_.client_piece(loop, *t.frames, t.client, t.upstream, opcode, piece, last);
    }
    template <class Loop>
    void on_peer_close(Loop& loop, ws::ConnectionHandle h, uint16_t code, std::string_view reason) {
        uint32_t id = tunnel_of(loop, h);
        if (id == kNoTunnel || !tunnels_[id].frames) return;
        frames_.client_close_frame(loop, *tunnels_[id].frames, tunnels_[id].upstream, code, reason);
    }
    template <class Loop>
    void on_close(Loop& loop, ws::ConnectionHandle h, uint16_t code) {
        uint32_t id = tunnel_of(loop, h);
        if (id == kNoTunnel || !tunnels_[id].frames) return;
        Tunnel& t = tunnels_[id];
        if (t.frames->feeding) {
            t.frames->client_gone = true;  // upstream_data ends the tunnel
            return;
        }
        if (!t.upstream.empty()) frames_.client_closed(loop, *t.frames, t.upstream, code);
        free_tunnel(id);
    }

    template <class Loop>
    ws::HttpAnswer on_http_request(Loop&, ws::ConnectionHandle, const proto::HttpRequest& request,
                                   std::span<const uint8_t>, bool keep_alive, ws::Outbound& out) {
        settings_.pages(request, keep_alive, out);
        return ws::HttpAnswer::now;
    }

    // No route: the loop answers 404.
    bool accept_upgrade(const proto::HttpRequest& request) const {
        return table_->routes.match_route(request.target, request.header("host")) != nullptr;
    }

    // ---- streams ----

    template <class Loop>
    void relay_upgrade(Loop& loop, ws::ConnectionHandle client, const proto::HttpRequest& request,
                       std::string_view) {
        const Route* route = table_->routes.match_route(request.target, request.header("host"));
        uint32_t id = new_tunnel();
        Tunnel& t = tunnels_[id];
        t.client = client;
        t.table = table_;
        t.pool = route->pool;
        sockaddr_storage peer{};
        socklen_t peer_len = 0;
        std::string address;
        if (loop.peer_address(client, peer, peer_len)) {
            address = client_address_text(reinterpret_cast<const sockaddr*>(&peer));
        }
        const UpstreamPool& p = table_->routes.pools()[t.pool];
        if (p.balance.kind == BalanceKind::hash) {
            t.key_hash = hash_of(hash_key(p.balance, request, address));
        }
        *loop.app_state(client) = id + 1;
        if (route->relay == Relay::frames) {
            t.frames = frames_.begin(request, address, t.head);
            if (!t.frames) {
                refuse(loop, id, 500, "no random key for the upstream handshake");
                return;
            }
        } else {
            t.head = forwarded_request_head(request, address, "http");
        }
        connect_next(loop, id);
    }

    template <class Loop>
    void on_connected(Loop& loop, ws::ConnectionHandle upstream) {
        if (uint64_t probe = probe_of(loop, upstream)) {
            prober_.on_connected(loop, upstream, probe);
            return;
        }
        uint32_t id = tunnel_of(loop, upstream);
        if (id == kNoTunnel) return;
        Tunnel& t = tunnels_[id];
        t.connected = true;
        loop.send_stream(upstream,
                         {reinterpret_cast<const uint8_t*>(t.head.data()), t.head.size()});
        std::string().swap(t.head);  // sent: its memory goes back
        // Bytes that followed the head (frames relay: they wait for the 101).
        if (!t.frames) loop.resume_reading(t.client);
    }

    template <class Loop>
    size_t on_stream_data(Loop& loop, ws::ConnectionHandle h, std::span<uint8_t> bytes) {
        if (uint64_t probe = probe_of(loop, h)) return prober_.on_data(loop, h, probe, bytes);
        uint32_t id = tunnel_of(loop, h);
        if (id == kNoTunnel) return bytes.size();
        Tunnel& t = tunnels_[id];
        const bool from_client = h == t.client;
        if (!from_client && !t.server_answered) {
            t.server_answered = true;  // its failures in a row end here
            t.table->live.note_success(server_live(t));
        }
        if (t.frames) {
            if (from_client) return 0;  // decoded by the loop once the client has its 101
            size_t taken = 0;
            switch (frames_.upstream_data(loop, *t.frames, t.client, t.upstream, bytes, taken)) {
                case FramesStep::keep:
                    return taken;
                case FramesStep::ended:
                    free_tunnel(id);
                    return bytes.size();
                case FramesStep::refused:
                    t.frames.reset();  // its answer and what follows go as they came
                    loop.resume_reading(t.client);
                    break;
            }
        }
        if (from_client && !t.connected) return 0;  // resumed in on_connected
        if (!from_client) t.answered = true;
        ws::ConnectionHandle to = from_client ? t.upstream : t.client;
        switch (loop.send_stream(to, bytes)) {
            case ws::SendResult::over_cap:
                return 0;  // resumed in on_stream_drained(to)
            default:
                return bytes.size();
        }
    }

    template <class Loop>
    void on_stream_drained(Loop& loop, ws::ConnectionHandle h) {
        uint32_t id = tunnel_of(loop, h);
        if (id == kNoTunnel) return;
        const Tunnel& t = tunnels_[id];
        loop.resume_reading(h == t.client ? t.upstream : t.client);
    }

    template <class Loop>
    void on_stream_end(Loop& loop, ws::ConnectionHandle h, int error) {
        if (uint64_t probe = probe_of(loop, h)) {
            prober_.on_end(loop, h, probe, error);
            return;
        }
        uint32_t id = tunnel_of(loop, h);
        if (id == kNoTunnel) return;
        Tunnel& t = tunnels_[id];
        if (h == t.client) {
            loop.finish_stream(t.upstream);  // the client is gone: so is its upstream
            free_tunnel(id);
            return;
        }
        if (!t.connected) {
            // The connect failed or timed out: the next server, if any.
            t.last_error = error;
            t.upstream = {};
            if (!local_error(error)) note_failure(t, FailureKind::connect, error);
            release_server(t);
            connect_next(loop, id);
            return;
        }
        if (t.frames && t.frames->open) {
            // RFC 6455 §7.4.1: the upstream ended without a close frame
            // (1014), or the server is shutting down: 1001 both ways.
            ws::ConnectionHandle to = t.client;
            if (error == -ESHUTDOWN) {
                frames_.close_upstream(loop, *t.frames, h, kGoingAway, "server shutting down");
            }
            t.upstream = {};
            if (!loop.close(to, error == -ESHUTDOWN ? kGoingAway : kBadGateway,
                            error == -ESHUTDOWN ? "server shutting down" : "bad gateway")) {
                free_tunnel(id);  // else on_close freed it
            }
            return;
        }
        if (!t.answered) {
            if (!local_error(error)) note_failure(t, FailureKind::handshake, error);
            if (error == -ETIMEDOUT) {
                refuse(loop, id, 504, "upstream did not answer in time");
            } else {
                refuse(loop, id, 502, "upstream closed before answering");
            }
            return;
        }
        loop.finish_stream(t.client);
        free_tunnel(id);
    }

    // Health checks and passive returns, and the frames relay's keepalive
    // pings (TickingApplication).
    template <class Loop>
    void on_turn_end(Loop& loop, int64_t now_ms) {
        last_turn_ms_ = now_ms;
        prober_.on_turn_end(loop, now_ms);
        ping_upstreams(loop, now_ms);
    }
    int ms_until_due(int64_t now_ms) {
        int probe = prober_.ms_until_due(now_ms);
        if (next_ping_ms_ == 0) return probe;
        int ping = static_cast<int>(std::max<int64_t>(0, next_ping_ms_ - now_ms));
        return probe < 0 ? ping : std::min(probe, ping);
    }

    // Frames relay keepalive: every --upstream-ping-interval each open
    // upstream gets a ping (one walk over the tunnels, no timer per connection).
    template <class Loop>
    void ping_upstreams(Loop& loop, int64_t now_ms) {
        const uint32_t interval = ping_interval_ms_;
        if (interval == 0 || tunnels() == 0) {
            next_ping_ms_ = 0;
            return;
        }
        if (next_ping_ms_ == 0) next_ping_ms_ = now_ms + interval;
        if (now_ms < next_ping_ms_) return;
        next_ping_ms_ = now_ms + interval;
        for (Tunnel& t : tunnels_) {
            if (t.live && t.frames) frames_.ping_upstream(loop, *t.frames, t.upstream);
        }
    }

    // Tunnels open on this loop (tests, stats).
    size_t tunnels() const { return tunnels_.size() - free_.size(); }

    // ---- live upgrade (ws::PairedHandoverApplication) ----

    // A pairing moves once its upstream has answered (tunnel) or both sides
    // are open WebSockets (frames); the client is the lead. Health checks
    // are not moved: the new process runs its own.
    template <class Loop>
    ws::HandoverCheck handover_check(Loop& loop, ws::ConnectionHandle h) {
        using Verdict = ws::HandoverCheck::Verdict;
        ws::HandoverCheck check;
        uint32_t id = tunnel_of(loop, h);
        if (id == kNoTunnel) {
            check.verdict = Verdict::close;
            return check;
        }
        const Tunnel& t = tunnels_[id];
        const bool client = h == t.client;
        check.partner = client ? t.upstream : t.client;
        check.lead = client;
        if (!t.connected || t.upstream.empty() || (!t.frames && !t.answered)) {
            check.verdict = Verdict::wait;  // the upstream has not answered yet
        } else if (t.frames) {
            const FramesSession& s = *t.frames;
            if (!s.open || s.close_sent_upstream || s.client_gone) check.verdict = Verdict::wait;
            // The client's decoder is the loop's; the upstream's is the session's.
            check.at_boundary = client ? !s.upstream_in_message : s.decoder.at_message_boundary();
        }
        return check;
    }

    template <class Loop>
    void export_pairing(Loop& loop, ws::ConnectionHandle client, ws::AppExport& out) {
        const Tunnel& t = tunnels_[tunnel_of(loop, client)];
        PairingState state;
        state.relay = t.frames ? Relay::frames : Relay::tunnel;
        if (t.server != kNoServer) {
            const UpstreamPool& pool = t.table->routes.pools()[t.pool];
            state.pool = pool.name;
            state.server = pool.servers[static_cast<size_t>(t.server)].name;
        }
        if (t.frames && next_ping_ms_ != 0) {
            state.ping_due_ms =
                static_cast<uint32_t>(std::max<int64_t>(0, next_ping_ms_ - last_turn_ms_));
        }
        append_pairing_state(state, out.bytes);
    }

    // Its sockets live on in the new process: nothing is closed or sent.
    template <class Loop>
    void pairing_handed_over(Loop& loop, ws::ConnectionHandle client) {
        uint32_t id = tunnel_of(loop, client);
        if (id != kNoTunnel) free_tunnel(id);
    }

    template <class Loop>
    bool adopt_pairing(Loop& loop, ws::ConnectionHandle client, ws::ConnectionHandle upstream,
                       std::span<const uint8_t> bytes) {
        PairingState state;
        if (!read_pairing_state(bytes, &state)) return false;
        uint32_t id = new_tunnel();
        Tunnel& t = tunnels_[id];
        t.client = client;
        t.upstream = upstream;
        t.connected = t.answered = t.server_answered = true;
        t.table = table_;  // the newest: the pairing is counted in it
        const std::vector<UpstreamPool>& pools = table_->routes.pools();
        for (uint32_t p = 0; p < pools.size() && t.server == kNoServer; ++p) {
            if (pools[p].name != state.pool) continue;
            for (uint32_t i = 0; i < pools[p].servers.size(); ++i) {
                if (pools[p].servers[i].name != state.server) continue;
                t.pool = p;
                t.server = static_cast<int>(i);
                table_->live.server(p, i).connections.fetch_add(1, std::memory_order_relaxed);
                break;
            }
        }
        if (t.server == kNoServer) log_uncounted(state);
        if (state.relay == Relay::frames) {
            t.frames = frames_.adopted();
            // Its upstream is pinged no later than the old process would have.
            const int64_t due = last_turn_ms_ + state.ping_due_ms;
            if (ping_interval_ms_ != 0 && (next_ping_ms_ == 0 || due < next_ping_ms_)) {
                next_ping_ms_ = std::max<int64_t>(due, 1);
            }
        }
        *loop.app_state(client) = id + 1;
        *loop.app_state(upstream) = id + 1;
        return true;
    }

  private:
    static constexpr uint32_t kNoTunnel = UINT32_MAX;
    static constexpr int64_t kLogIntervalMs = 1000;

    struct Tunnel {
        ws::ConnectionHandle client;
        ws::ConnectionHandle upstream;
        // The table it was routed with: its pool and server indices are into
        // it, and it keeps a removed server's live record while relaying.
        std::shared_ptr<const ProxyTable> table;
        std::string head;                       // to send once connected
        std::unique_ptr<FramesSession> frames;  // frames relay (else tunnel)
        uint64_t key_hash = 0;                  // hashing pools: XXH3 of the request's key
        uint64_t tried = 0;                     // bit i: server i of the pool was tried
        int server = kNoServer;                 // counted in its ServerLive::connections
        uint32_t pool = 0;
        uint32_t tries = 0;  // servers of the pool tried so far
        int last_error = 0;
        bool connected = false;        // the upstream's TCP connect succeeded
        bool answered = false;         // the upstream sent a byte
        bool server_answered = false;  // noted for passive health (any relay mode)
        bool live = false;
    };

    uint32_t new_tunnel() {
        uint32_t id;
        if (!free_.empty()) {
            id = free_.back();
            free_.pop_back();
            tunnels_[id] = Tunnel{};
        } else {
            id = static_cast<uint32_t>(tunnels_.size());
            tunnels_.emplace_back();
        }
        tunnels_[id].live = true;
        return id;
    }
    void free_tunnel(uint32_t id) {
        release_server(tunnels_[id]);
        tunnels_[id] = Tunnel{};
        free_.push_back(id);
    }

    template <class Loop>
    uint32_t tunnel_of(Loop& loop, ws::ConnectionHandle h) {
        uint64_t* word = loop.app_state(h);
        if (word == nullptr || *word == 0 || HealthProber::is_probe(*word)) return kNoTunnel;
        uint32_t id = static_cast<uint32_t>(*word - 1);
        return id < tunnels_.size() && tunnels_[id].live ? id : kNoTunnel;
    }

    // A health check's stream: its app_state (non-zero), else 0.
    template <class Loop>
    static uint64_t probe_of(Loop& loop, ws::ConnectionHandle h) {
        uint64_t* word = loop.app_state(h);
        return word != nullptr && HealthProber::is_probe(*word) ? *word : 0;
    }

    static ServerLive& server_live(const Tunnel& t) {
        return t.table->live.server(t.pool, static_cast<uint32_t>(t.server));
    }

    // A failure of the tunnel's current server; one log line when it takes
    // the server out.
    void note_failure(const Tunnel& t, FailureKind kind, int error) {
        if (t.server == kNoServer) return;
        const UpstreamLive& live = t.table->live;
        const UpstreamPool& pool = t.table->routes.pools()[t.pool];
        if (live.note_failure(server_live(t), kind, monotonic_ms(), pool.servers.size() > 1) ==
            HealthChange::down) {
            log_taken_out(
                pool, pool.servers[static_cast<size_t>(t.server)], live.passive().max_fails, kind,
                error == 0 ? "closed before answering" : std::strerror(-error), live.passive());
        }
    }

    // The pool's policy picks among the servers this tunnel has not tried
    // and that are up (at their slow-start weight).
    int pick_server(Tunnel& t, const UpstreamPool& pool) {
        const UpstreamLive& live = t.table->live;
        const int64_t now = monotonic_ms();
        for (uint32_t i = 0; i < pool.servers.size(); ++i) {
            if (live.passive_return(live.server(t.pool, i), now) == HealthChange::up) {
                log_passive_return(pool, pool.servers[i], live.passive());
            }
        }
        Candidate candidates[kMaxPoolServers];
        live.candidates(t.pool, pool, t.tried, now, candidates);
        std::span<const Candidate> view(candidates, pool.servers.size());
        // A tunnel routed before this loop adopted a newer table retries on
        // its own table, from fresh round-robin and least-conn positions.
        const bool current = t.table == table_;
        switch (pool.balance.kind) {
            case BalanceKind::round_robin: {
                if (current) return cursors_[t.pool].next(view);
                RoundRobin fresh(pool);
                return fresh.next(view);
            }
            case BalanceKind::least_conn:
                return pick_least_conn(view, current ? least_conn_start_[t.pool]++ : 0);
            case BalanceKind::hash:
                return pool.ring.pick(t.key_hash, view, t.table->routes.hash_balance_factor());
        }
        return kNoServer;
    }

    void release_server(Tunnel& t) {
        if (t.server == kNoServer) return;
        server_live(t).connections.fetch_sub(1, std::memory_order_relaxed);
        t.server = kNoServer;
    }

    // Connects to the server the pool's policy picks, each tried once;
    // answers the client when none is left.
    template <class Loop>
    void connect_next(Loop& loop, uint32_t id) {
        // The tunnel's table outlives this call (it holds it).
        const UpstreamPool& pool = tunnels_[id].table->routes.pools()[tunnels_[id].pool];
        for (;;) {
            Tunnel& t = tunnels_[id];
            int picked = pick_server(t, pool);
            if (picked == kNoServer) break;
            ++t.tries;
            t.tried |= uint64_t{1} << picked;
            t.server = picked;
            server_live(t).connections.fetch_add(1, std::memory_order_relaxed);
            const UpstreamServer& server = pool.servers[static_cast<size_t>(picked)];
            int error = 0;
            ws::ConnectionHandle up =
                loop.connect(reinterpret_cast<const sockaddr*>(&server.endpoint.addr),
                             server.endpoint.len, connect_timeout_ms_, &error);
            if (!up.empty()) {
                t.upstream = up;
                *loop.app_state(up) = id + 1;
                return;
            }
            if (error == -EMFILE || error == -ENFILE) {
                // This process is out of descriptors, not the server out of
                // reach: another server of the pool would fail the same way.
                log_out_of_descriptors(error, t.client);
                refuse(loop, id, 503, "proxy out of file descriptors");
                return;
            }
            t.last_error = error;
            if (!local_error(error)) note_failure(t, FailureKind::connect, error);
            release_server(t);
        }
        Tunnel& t = tunnels_[id];
        if (t.tries == 0) {
            // Not one server is up: 503, and why (RFC 9110 §15.6.4).
            char reason[160];
            describe_down(t.table->live, t.pool, pool, reason, sizeof(reason));
            log_unreachable(pool, unreachable_log(t), reason, 503, t.client);
            refuse(loop, id, 503, reason);
            return;
        }
        bool timed_out = t.last_error == -ETIMEDOUT;
        char reason[160];
        std::snprintf(reason, sizeof(reason), "no server reachable (%u tried, last: %s)", t.tries,
                      std::strerror(-t.last_error));
        log_unreachable(pool, unreachable_log(t), reason, timed_out ? 504 : 502, t.client);
        refuse(loop, id, timed_out ? 504 : 502,
               timed_out ? "upstream connect timed out" : "upstream connect failed");
    }

    // "no server up in pool P (2 down by health check, 1 out after failures)".
    static void describe_down(const UpstreamLive& live, uint32_t pool_index,
                              const UpstreamPool& pool, char* out, size_t size) {
        const int64_t now = monotonic_ms();
        uint32_t by_check = 0, by_failures = 0;
        for (uint32_t i = 0; i < pool.servers.size(); ++i) {
            const ServerLive& s = live.server(pool_index, i);
            if (pool.check && !s.check_up.load(std::memory_order_relaxed)) {
                ++by_check;
            } else if (live.effective_weight(s, 1, now, false) == 0) {
                ++by_failures;
            }
        }
        std::snprintf(out, size,
                      "no server up in pool %s (%u down by health check, %u out after failures)",
                      pool.name.c_str(), by_check, by_failures);
    }

    // One line per failure, but a client can cause them at any rate (a dead
    // pool): per pool, the first at once, then at most one a second with the
    // count (so a flood at one pool does not hide another's failures).
    static void log_unreachable(const UpstreamPool& pool, ws::LogThrottle& throttle,
                                const char* reason, int status, ws::ConnectionHandle client) {
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
        uint64_t n = throttle.note(int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1000000);
        if (n == 0) return;
        if (n > 1) io::count_suppressed_lines(n - 1);
        char count[80] = "";
        if (n > 1) {
            std::snprintf(count, sizeof(count), "; %llu such answers in the last %.1f s",
                          static_cast<unsigned long long>(n),
                          static_cast<double>(throttle.covered_ms()) / 1000.0);
        }
        io::log(io::LogLevel::warn, "proxy_unreachable", ws::request_id(client),
                {{"pool", pool.name}, {"status", status}, {"answers", n}},
                "proxy: pool %s: %s: %d%s", pool.name.c_str(), reason, status, count);
    }

    // A proxied connection holds two descriptors (client and upstream), so a
    // process holds at most half its RLIMIT_NOFILE of them; --workers are
    // processes of their own, each with the whole limit.
    void log_out_of_descriptors(int error, ws::ConnectionHandle client) {
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
        uint64_t n =
            out_of_descriptors_log_.note(int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1000000);
        if (n == 0) return;
        if (n > 1) io::count_suppressed_lines(n - 1);
        rlimit lim{};
        getrlimit(RLIMIT_NOFILE, &lim);
        char count[80] = "";
        if (n > 1) {
            std::snprintf(count, sizeof(count), "; %llu such answers in the last %.1f s",
                          static_cast<unsigned long long>(n),
                          static_cast<double>(out_of_descriptors_log_.covered_ms()) / 1000.0);
        }
        io::log(io::LogLevel::error, "proxy_descriptors", ws::request_id(client), {{"answers", n}},
                "proxy: no descriptor for an upstream connection (%s; RLIMIT_NOFILE %llu, two per "
                "proxied connection; more with --workers): 503%s",
                std::strerror(-error), static_cast<unsigned long long>(lim.rlim_cur), count);
    }

    // The per-pool state of the loop's table (a reload's table starts afresh).
    void per_pool_state() {
        cursors_.clear();
        unreachable_log_.clear();
        least_conn_start_.clear();
        for (const UpstreamPool& pool : table_->routes.pools()) {
            cursors_.emplace_back(pool);
            unreachable_log_.emplace_back(kLogIntervalMs);
            least_conn_start_.push_back(0);
        }
    }

    // The pool's log throttle; a tunnel of an older table shares one.
    ws::LogThrottle& unreachable_log(const Tunnel& t) {
        return t.table == table_ ? unreachable_log_[t.pool] : older_table_log_;
    }

    // An error response to the client, then FIN; the tunnel ends.
    template <class Loop>
    void refuse(Loop& loop, uint32_t id, int status, std::string_view reason) {
        char response[512];
        size_t n = proto::write_http_error(response, sizeof(response), status, reason);
        ws::ConnectionHandle client = tunnels_[id].client;
        loop.send_stream(client, {reinterpret_cast<const uint8_t*>(response), n});
        loop.finish_stream(client);
        free_tunnel(id);
    }

    // A pairing handed over whose pool or server this configuration does not
    // have: relayed as before, counted against no server (throttled line).
    void log_uncounted(const PairingState& state) {
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
        uint64_t n = uncounted_log_.note(int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1000000);
        if (n == 0) return;
        if (n > 1) io::count_suppressed_lines(n - 1);
        char count[48] = "";
        if (n > 1) {
            std::snprintf(count, sizeof(count), "; %llu such pairings",
                          static_cast<unsigned long long>(n));
        }
        io::log(io::LogLevel::warn, "proxy_uncounted_pairing", io::kNoConn, {},
                "proxy: upgrade: a pairing of pool %.*s server %.*s (not in this configuration) "
                "relays on, counted against no server%s",
                static_cast<int>(state.pool.size()), state.pool.data(),
                static_cast<int>(state.server.size()), state.server.data(), count);
    }

    const ProxySettings& settings_;
    uint32_t loop_;
    FramesRelay frames_;
    std::shared_ptr<const ProxyTable> table_;  // new connections are routed with it
    uint32_t connect_timeout_ms_;              // ProxySettings' until a reload's
    uint32_t ping_interval_ms_;                // 0: no pings
    int64_t last_turn_ms_ = 0;                 // the loop's clock at the end of its last turn
    int64_t next_ping_ms_ = 0;                 // 0: no ping due (none to send)
    std::vector<RoundRobin> cursors_;          // per pool
    std::vector<Tunnel> tunnels_;
    std::vector<uint32_t> free_;
    std::vector<ws::LogThrottle> unreachable_log_;  // per pool
    std::vector<uint32_t> least_conn_start_;        // per pool: where ties start
    ws::LogThrottle out_of_descriptors_log_{kLogIntervalMs};
    ws::LogThrottle older_table_log_{kLogIntervalMs};
    ws::LogThrottle uncounted_log_{kLogIntervalMs};
    HealthProber prober_;
};

}  // namespace wsgate::proxy
