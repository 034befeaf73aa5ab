#pragma once
// Log-bucketed latency histogram in the manner of HdrHistogram: each power of two
// is split into kSubBuckets linear buckets, so any recorded value is known to
// within 1/kSubBuckets (under 1.6 %) while the whole range 1 ns .. ~18 minutes fits
// in a fixed array. One writer (a worker's event loop) and any number of readers
// (the parent's progress display): counters are relaxed atomics so a reader sees
// a torn-free, slightly stale view without any lock on the writer's path.

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace wsgate::bench {

class Histogram {
  public:
    static constexpr unsigned kSubBucketBits = 7;
    static constexpr std::uint64_t kSubBuckets = 1u << kSubBucketBits;  // 128
    static constexpr std::uint64_t kHalf = kSubBuckets / 2;
    static constexpr unsigned kMaxValueBits = 40;  // 2^40 ns ~ 18 minutes; larger values clamp
    static constexpr std::size_t kBuckets = kSubBuckets + (kMaxValueBits - kSubBucketBits) * kHalf;

    // Bucket holding `value` (values beyond 2^kMaxValueBits land in the last bucket).
    static constexpr std::size_t index_of(std::uint64_t value) {
        if (value < kSubBuckets) return static_cast<std::size_t>(value);
        const unsigned shift = static_cast<unsigned>(std::bit_width(value)) - kSubBucketBits;
        const std::size_t index =
            kSubBuckets + (shift - 1) * kHalf + static_cast<std::size_t>((value >> shift) - kHalf);
        return index < kBuckets ? index : kBuckets - 1;
    }
    // Largest value that maps to bucket `index` (what percentiles report: conservative).
    static constexpr std::uint64_t upper_bound_of(std::size_t index) {
        if (index < kSubBuckets) return index;
        const std::size_t rest = index - kSubBuckets;
        const unsigned shift = static_cast<unsigned>(rest / kHalf) + 1;
        const std::uint64_t mantissa = kHalf + rest % kHalf;
        return ((mantissa + 1) << shift) - 1;
    }

    // Single-writer record: a plain load and store, no locked instruction.
    void record(std::uint64_t value) {
        bump(counts_[index_of(value)], 1);
        bump(total_, 1);
        if (value > max_.load(std::memory_order_relaxed))
            max_.store(value, std::memory_order_relaxed);
    }
    std::uint64_t total() const { return total_.load(std::memory_order_relaxed); }
    std::uint64_t max() const { return max_.load(std::memory_order_relaxed); }
    std::uint64_t count_at(std::size_t index) const {
        return counts_[index].load(std::memory_order_relaxed);
    }
    void reset() {
        for (auto& c : counts_)
            c.store(0, std::memory_order_relaxed);
        total_.store(0, std::memory_order_relaxed);
        max_.store(0, std::memory_order_relaxed);
    }

  private:
    static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by) {
        c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    }
    std::array<std::atomic<std::uint64_t>, kBuckets> counts_{};
    std::atomic<std::uint64_t> total_{0};
    std::atomic<std::uint64_t> max_{0};
};

static_assert(Histogram::index_of(Histogram::kSubBuckets - 1) == Histogram::kSubBuckets - 1);
static_assert(Histogram::index_of(Histogram::kSubBuckets) == Histogram::kSubBuckets);
static_assert(Histogram::upper_bound_of(Histogram::index_of(1000)) >= 1000);
static_assert(Histogram::index_of(Histogram::upper_bound_of(300) + 1) == 301);
static_assert(Histogram::index_of(~std::uint64_t{0}) == Histogram::kBuckets - 1);

// A plain (non-shared) snapshot that can be summed over workers and differenced
// over time for the per-second progress line.
struct HistogramSnapshot {
    std::array<std::uint64_t, Histogram::kBuckets> counts{};
    std::uint64_t total = 0;
    std::uint64_t max = 0;

    void add(const Histogram& h) {
        for (std::size_t i = 0; i < Histogram::kBuckets; ++i)
            counts[i] += h.count_at(i);
        total += h.total();
        if (h.max() > max) max = h.max();
    }
    // Value at or below which `fraction` (0..1) of the samples lie; 0 when empty.
    std::uint64_t percentile(double fraction) const {
        if (total == 0) return 0;
        auto rank = static_cast<std::uint64_t>(fraction * static_cast<double>(total) + 0.5);
        if (rank < 1) rank = 1;
        if (rank > total) rank = total;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < Histogram::kBuckets; ++i) {
            seen += counts[i];
            if (seen >= rank) {
                const std::uint64_t bound = Histogram::upper_bound_of(i);
                return bound < max ? bound : max;
            }
        }
        return max;
    }
};

}  // namespace wsgate::bench
