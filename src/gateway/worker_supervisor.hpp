// --workers N: the parent process that forks the workers, restarts one that
// dies, passes SIGHUP on and stops them all on SIGINT/SIGTERM.
#pragma once

#include <signal.h>

#include <functional>

#include "gateway/restart_budget.hpp"

namespace wsgate::gateway {

// Runs a worker in a freshly forked child: serves until SIGTERM and returns
// the child's exit status. It writes one byte to ready_fd (and closes it)
// once it serves, so the parent knows the start-up went well.
using RunWorker = std::function<int(unsigned worker, int ready_fd)>;

// Forks `workers` children running run_worker and, once every one of them
// is ready, calls on_ready (the parent prints the listening lines). Then:
// - a worker that dies is logged and forked again while `budget` allows
//   (the crash-loop limit); beyond it every worker is stopped and the
//   result is 1, with one line saying so;
// - SIGINT/SIGTERM (in stop_signals, which the caller has blocked) are
//   passed to every worker as SIGTERM; the result is 0 if every worker then
//   exits 0. SIGHUP (if in stop_signals) is passed on to every worker, which
//   reloads its configuration itself; on_sighup runs in the parent first
//   (what a worker forked later must start with: the parent's copy of the
//   TLS certificates).
// A worker failing its first start-up stops everything with result 1.
// Workers get PR_SET_PDEATHSIG(SIGTERM): they shut down if the parent is
// killed without a chance to stop them.
int supervise_workers(unsigned workers, RestartBudget budget, const sigset_t& stop_signals,
                      const RunWorker& run_worker, const std::function<void()>& on_ready,
                      const std::function<void()>& on_sighup = {});

}  // namespace wsgate::gateway
