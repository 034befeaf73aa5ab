// One immutable settings snapshot: everything the loops and their
// applications run with, built whole from a Config before any loop sees it.
// Start-up builds generation 1; each reload builds the next one and hands it
// to every loop through its inbox (gateway/reloader.hpp), where the loop
// adopts it between events (ws/settings_update.hpp). Shared by reference
// count: a loop keeps the snapshot it runs alive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gateway/config.hpp"
#include "proxy/proxy_table.hpp"
#include "pubsub/hub_settings.hpp"
#include "ws/loop_settings.hpp"
#include "ws/settings_update.hpp"

namespace wsgate::gateway {

struct SettingsSnapshot {
    uint64_t generation = 1;
    Config config;            // the effective configuration it was built from
    ws::LoopSettings loop;    // every loop's settings (the same for all)
    pubsub::HubSettings hub;  // --mode pubsub: the hub's part
    // --mode proxy: the upstream timing, and the routing (the running table
    // again when a reload did not change it; filled by its owner, not by
    // build_snapshot).
    proxy::ProxyReload proxy;
};

// What a snapshot takes from the process rather than from the file.
struct SnapshotContext {
    unsigned threads = 1;  // loops in this process
    std::string version;   // what the hub reports to clients ("wsgate 0.x")
    // ws::LoopSettings::release_memory (the allocator's, gateway/allocator.hpp).
    void (*release_memory)(void (*free_caches)(void* context), void* context) = nullptr;
    // ws::LoopSettings::tls: the process's TLS server context (nullptr: none).
    const tls::TlsServerContext* tls = nullptr;
};

// The per-loop settings of `config` for a process of `threads` loops.
ws::LoopSettings loop_settings(const Config& config, unsigned threads);

// Builds the snapshot of `config` (already checked by check_config);
// mutable until it is published, for the parts built elsewhere.
std::shared_ptr<SettingsSnapshot> build_snapshot(const Config& config,
                                                 const SnapshotContext& context,
                                                 uint64_t generation);

// What one loop is handed: its settings and its application's part, each
// sharing ownership of the whole snapshot.
ws::SettingsUpdate loop_update(const std::shared_ptr<const SettingsSnapshot>& snapshot);

}  // namespace wsgate::gateway
