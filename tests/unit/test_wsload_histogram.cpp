// wsload's log-bucketed latency histogram: bucket arithmetic, the error bound the
// README promises, and percentiles against a sorted reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "histogram.hpp"

using wsgate::bench::Histogram;
using wsgate::bench::HistogramSnapshot;

namespace {

// The reference: the value of rank round(fraction * n) (1-based, clamped), the
// definition HistogramSnapshot::percentile documents.
std::uint64_t reference_percentile(const std::vector<std::uint64_t>& sorted, double fraction) {
    auto rank = static_cast<std::uint64_t>(fraction * static_cast<double>(sorted.size()) + 0.5);
    rank = std::clamp<std::uint64_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

// Log-uniform values from 1 ns to ~17 s, like round-trip latencies spread widely.
std::vector<std::uint64_t> random_latencies(std::size_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> exponent(0.0, 34.0);
    std::vector<std::uint64_t> v(n);
    for (auto& x : v)
        x = static_cast<std::uint64_t>(std::exp2(exponent(rng)));
    return v;
}

}  // namespace

TEST(WsloadHistogram, BucketBoundsAreContiguous) {
    for (std::size_t i = 0; i + 1 < Histogram::kBuckets; ++i) {
        const std::uint64_t ub = Histogram::upper_bound_of(i);
        ASSERT_EQ(Histogram::index_of(ub), i) << "bucket " << i;
        ASSERT_EQ(Histogram::index_of(ub + 1), i + 1) << "bucket " << i;
    }
}

TEST(WsloadHistogram, SmallValuesAreExact) {
    for (std::uint64_t v = 0; v < Histogram::kSubBuckets; ++v)
        EXPECT_EQ(Histogram::upper_bound_of(Histogram::index_of(v)), v);
}

TEST(WsloadHistogram, BucketErrorUnderOneSixtyFourth) {
    std::mt19937_64 rng(7);
    const std::uint64_t limit = std::uint64_t{1} << Histogram::kMaxValueBits;
    for (int k = 0; k < 200000; ++k) {
        const std::uint64_t v = 1 + rng() % (limit - 1);
        const std::uint64_t ub = Histogram::upper_bound_of(Histogram::index_of(v));
        ASSERT_GE(ub, v);
        // kHalf linear sub-buckets per power of two: width / value <= 1 / kHalf (1.6 %).
        ASSERT_LE(static_cast<double>(ub - v), static_cast<double>(v) / Histogram::kHalf) << v;
    }
}

TEST(WsloadHistogram, HugeValuesClampToLastBucket) {
    Histogram h;
    const std::uint64_t huge = std::uint64_t{1} << 50;
    h.record(huge);
    EXPECT_EQ(h.count_at(Histogram::kBuckets - 1), 1u);
    EXPECT_EQ(h.max(), huge);
    HistogramSnapshot s;
    s.add(h);
    // Percentiles saturate at the last bucket's bound (~18 minutes); max stays exact.
    EXPECT_EQ(s.percentile(0.5), Histogram::upper_bound_of(Histogram::kBuckets - 1));
    EXPECT_EQ(s.max, huge);
}

TEST(WsloadHistogram, PercentilesMatchSortedReference) {
    for (unsigned seed : {1u, 2u, 3u}) {
        auto values = random_latencies(50000 + seed * 1111, seed);
        Histogram h;
        for (auto v : values)
            h.record(v);
        HistogramSnapshot s;
        s.add(h);
        std::sort(values.begin(), values.end());
        ASSERT_EQ(s.total, values.size());
        EXPECT_EQ(s.max, values.back());
        for (double f : {0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0}) {
            const std::uint64_t ref = reference_percentile(values, f);
            const std::uint64_t got = s.percentile(f);
            // Reported: the bucket's upper bound (never below the true value),
            // within one bucket width above it, and never above the maximum.
            EXPECT_GE(got, ref) << "f=" << f << " seed=" << seed;
            EXPECT_LE(static_cast<double>(got - ref), static_cast<double>(ref) / Histogram::kHalf)
                << "f=" << f << " seed=" << seed;
            EXPECT_LE(got, s.max);
        }
    }
}

TEST(WsloadHistogram, SnapshotsSumWorkers) {
    const auto a = random_latencies(3000, 11), b = random_latencies(5000, 12);
    Histogram ha, hb, hall;
    for (auto v : a) {
        ha.record(v);
        hall.record(v);
    }
    for (auto v : b) {
        hb.record(v);
        hall.record(v);
    }
    HistogramSnapshot sum, all;
    sum.add(ha);
    sum.add(hb);
    all.add(hall);
    EXPECT_EQ(sum.counts, all.counts);
    EXPECT_EQ(sum.total, all.total);
    EXPECT_EQ(sum.max, all.max);
    for (double f : {0.5, 0.99})
        EXPECT_EQ(sum.percentile(f), all.percentile(f));
}

TEST(WsloadHistogram, EmptyAndReset) {
    Histogram h;
    HistogramSnapshot empty;
    empty.add(h);
    EXPECT_EQ(empty.percentile(0.99), 0u);
    h.record(12345);
    h.reset();
    EXPECT_EQ(h.total(), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.count_at(Histogram::index_of(12345)), 0u);
}
