#include "gateway/settings_snapshot.hpp"

#include <algorithm>
#include <cmath>

#include "gateway/deflate_budget.hpp"
#include "gateway/edge_config.hpp"
#include "ws/server_loop.hpp"

namespace wsgate::gateway {

namespace {

uint32_t to_ticks(double seconds) {
    double ticks = std::ceil(seconds * 1000.0 / ws::kTickMs);
    return ticks < 1 ? 1 : static_cast<uint32_t>(ticks);
}

uint32_t ceil_ms(double seconds) {
    return static_cast<uint32_t>(std::ceil(seconds * 1000.0));
}

}  // namespace

ws::LoopSettings loop_settings(const Config& config, unsigned threads) {
    ws::LoopSettings s;
    s.backend.recv_buffer_count = config.recv_buffers;
    s.backend.recv_buffer_size = config.recv_buffer_bytes;
    s.max_message_bytes = config.max_message_bytes;
    s.max_connections = config.max_connections;
    s.handshake_timeout_ticks = to_ticks(config.handshake_timeout_s);
    s.max_handshakes = resolved_max_handshakes(config);
    // Each loop keeps its own per-address table: the cap is shared out.
    s.max_handshakes_per_peer = std::max(1u, resolved_max_handshakes_per_ip(config) / threads);
    s.busy_handshake_timeout_ticks = to_ticks(config.busy_handshake_timeout_s);
    s.idle_timeout_ticks = to_ticks(config.idle_timeout_s);
    s.close_timeout_ticks = to_ticks(config.close_timeout_s);
    s.drain_timeout_ticks = config.drain_timeout_s > 0 ? to_ticks(config.drain_timeout_s) : 0;
    s.max_queued_bytes = config.max_queued_bytes;
    s.max_request_bytes = config.max_request_bytes;
    s.zero_copy_min_bytes = static_cast<size_t>(config.zero_copy_min_bytes);
    s.trace = config.trace;
    s.io_stats = config.io_stats;
    s.deflate = config.deflate;
    s.deflate_max_streams = config.deflate_max_streams;
    if (s.deflate_max_streams == 0) {
        s.deflate_max_streams =
            streams_per_loop(physical_memory_bytes(), uint64_t{threads} * config.workers,
                             deflate_stream_bytes(config.deflate));
    }
    s.backend.direct_descriptors = config.direct_descriptors;
    s.backend.fixed_files = config.max_connections + ws::kRefusalSlots;
    if (config.mode == Mode::proxy) {
        // Each proxied connection takes a slot for its client and one of
        // the outbound half for its upstream.
        s.backend.outbound_direct = true;
        s.backend.fixed_files *= 2;
    }
    s.memory_release_delay_ticks = to_ticks(config.memory_release_delay_s);
    edge_limits(config, &s.edge);  // checked with the rest (check_config)
    for (const std::string& text : config.listen) {
        bool tls = false;
        listen_address(text, &tls);
        s.tls_listeners.push_back(tls);
    }
    return s;
}

std::shared_ptr<SettingsSnapshot> build_snapshot(const Config& config,
                                                 const SnapshotContext& context,
                                                 uint64_t generation) {
    auto snapshot = std::make_shared<SettingsSnapshot>();
    snapshot->generation = generation;
    snapshot->config = config;
    snapshot->loop = loop_settings(config, context.threads);
    snapshot->loop.generation = generation;
    snapshot->loop.release_memory = context.release_memory;
    snapshot->loop.tls = context.tls;
    snapshot->hub = config.hub;
    snapshot->hub.version = context.version;
    snapshot->proxy.connect_timeout_ms = ceil_ms(config.upstream_connect_timeout_s);
    snapshot->proxy.upstream_ping_interval_ms = ceil_ms(config.upstream_ping_interval_s);
    return snapshot;
}

ws::SettingsUpdate loop_update(const std::shared_ptr<const SettingsSnapshot>& snapshot) {
    ws::SettingsUpdate update;
    update.loop = std::shared_ptr<const ws::LoopSettings>(snapshot, &snapshot->loop);
    if (snapshot->config.mode == Mode::pubsub)
        update.app = std::shared_ptr<const void>(snapshot, &snapshot->hub);
    if (snapshot->config.mode == Mode::proxy)
        update.app = std::shared_ptr<const void>(snapshot, &snapshot->proxy);
    return update;
}

}  // namespace wsgate::gateway
