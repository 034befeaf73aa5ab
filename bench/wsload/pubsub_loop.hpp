#pragma once
// One wsload worker in pubsub mode: a single-threaded io_uring loop owning a
// contiguous range of the run's connections. Global index g < publishers is
// publisher g (WebSocket client publish or server-API HTTP requests), any other
// is subscriber g - publishers. Subscribers connect, subscribe, and check every
// publication they get (SequenceTracker, OffsetTracker) and its latency;
// publishers publish closed- or open-loop while the parent's phase is warm-up or
// measure, then wait for their answers and report how far they got, so the
// subscribers can count what never arrived.

#include "client_loop.hpp"
#include "options.hpp"
#include "shared_stats.hpp"

namespace wsgate::bench {

int run_pubsub_worker(const Options& options, const WorkerPlan& plan, SharedControl& control,
                      WorkerStats& stats, const PubsubShared& shared);

// After the parent moves to kStop, how long a pubsub worker may take to end:
// publishers' last answers, the subscribers' drain, the closing handshakes.
double pubsub_stop_budget_s(const Options& options);

}  // namespace wsgate::bench
