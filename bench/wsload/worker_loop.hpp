#pragma once
// The loop every wsload worker runs: follow the parent's phases, let the mode
// do what is due now, run its timers every tick, then wait for completions
// and hand them to it, until the mode says it is finished.

#include <atomic>
#include <concepts>
#include <cstdint>

#include "completion_driver.hpp"
#include "loop_clock.hpp"
#include "shared_stats.hpp"

namespace wsgate::bench {

// enter_phase(p): the parent moved on to p (called for each phase in turn);
// step(): what is due now (open connections, publish); tick(): timers;
// finished(): the run is over for this worker; wait_ns(until_tick): how
// long the next wait for completions may take; after_turn(): after each
// batch of completions.
template <class M>
concept WorkerMode = CompletionHandler<M> && requires(M& m, Phase p, std::uint64_t ns) {
    m.enter_phase(p);
    m.step();
    m.tick();
    { m.finished() } -> std::same_as<bool>;
    { m.wait_ns(ns) } -> std::same_as<std::uint64_t>;
    m.after_turn();
};

// Runs `mode` until it is finished (true) or the ring fails (false, said on
// stderr). `now` is the mode's clock, kept current here.
template <WorkerMode M>
bool run_worker_loop(M& mode, CompletionDriver& io, const SharedControl& control, Phase& phase,
                     std::uint64_t& now, std::uint64_t tick_ns) {
    now = monotonic_ns();
    std::uint64_t next_tick = now + tick_ns;
    while (true) {
        now = monotonic_ns();
        const auto wanted = static_cast<Phase>(control.phase.load(std::memory_order_acquire));
        while (phase < wanted)
            mode.enter_phase(static_cast<Phase>(static_cast<int>(phase) + 1));
        mode.step();
        if (now >= next_tick) {
            mode.tick();
            next_tick = now + tick_ns;
        }
        if (mode.finished()) return true;
        if (!io.turn(mode, mode.wait_ns(next_tick > now ? next_tick - now : 0), now)) return false;
        mode.after_turn();
        io.rearm(mode);
    }
}

}  // namespace wsgate::bench
