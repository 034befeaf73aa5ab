#pragma once
// wsload's results: summed over workers, printed for people and written as JSON.

#include <array>
#include <cstdint>
#include <string>

#include "histogram.hpp"
#include "options.hpp"
#include "server_probe.hpp"
#include "shared_stats.hpp"

namespace wsgate::bench {

struct Summary {
    std::uint32_t workers = 0;
    std::uint32_t sources = 0;
    double bringup_s = 0;         // time until every connection was up or failed
    double window_s = 0;          // measured (or idle hold) time
    std::uint64_t up_at_end = 0;  // connections open when the window closed
    std::uint64_t peak_up = 0;
    std::uint64_t messages = 0;
    std::uint64_t payload_bytes = 0;
    std::uint64_t sent_wire_bytes = 0, recv_wire_bytes = 0;  // data frames' payload on the wire
    std::uint64_t sent_compressed = 0, recv_compressed = 0;  // messages with RSV1 each way
    std::uint64_t deflate_up = 0;  // connections that negotiated permessage-deflate
    std::uint64_t handshakes = 0;
    std::uint64_t tls_full = 0, tls_resumed = 0, tls_handshake_ns = 0;
    std::uint64_t pings_sent = 0, pongs_received = 0, server_pings = 0;
    // pubsub (deliveries are `messages`)
    std::uint64_t publications = 0, publications_all = 0, publish_errors = 0, publish_missed = 0;
    std::uint64_t subscriptions_up = 0;
    std::uint64_t lost = 0, duplicates = 0, reordered = 0, offset_errors = 0, offsets_checked = 0;
    std::array<std::uint64_t, static_cast<std::size_t>(ErrorKind::kCount)> errors{};
    HistogramSnapshot latency;
    double cpu_measure_s = 0;              // workers' CPU time within the window
    double cpu_user_s = 0, cpu_sys_s = 0;  // whole run, parent and workers
    // --server-pid: before bring-up, after it, and at the window's start and end.
    ServerSample server_before, server_up, server_window_start, server_window_end;
};

// Adds one worker's published counters to `s`.
void add_worker(Summary& s, const WorkerStats& w);

void print_summary(const Options& o, const Summary& s);

// Writes the JSON document; false (with a message on stderr) if the file cannot be written.
bool write_json(const Options& o, const Summary& s, const std::string& path);

}  // namespace wsgate::bench
