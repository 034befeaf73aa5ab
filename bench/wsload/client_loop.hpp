#pragma once
// One wsload worker: a single-threaded io_uring event loop that owns a contiguous
// range of the run's connections, follows the parent's phases and publishes its
// counters in shared memory.

#include <cstdint>

#include "options.hpp"
#include "shared_stats.hpp"

namespace wsgate::bench {

struct WorkerPlan {
    std::uint32_t worker = 0;       // this worker's number, 0..workers-1
    std::uint32_t first_index = 0;  // global index of this worker's first connection
    std::uint32_t count = 0;        // connections (connect mode: concurrent slots)
    std::uint32_t sources = 1;      // source addresses 127.0.0.1 .. 127.0.0.sources
    std::uint32_t concurrency = 1;  // this worker's share of handshakes in progress
};

// Runs until the parent's phase is kStop and every connection has closed (or a
// close timeout passed). Returns a process exit code; failures of single
// connections are counted in `stats`, not returned.
int run_worker(const Options& options, const WorkerPlan& plan, const SharedControl& control,
               WorkerStats& stats);

}  // namespace wsgate::bench
