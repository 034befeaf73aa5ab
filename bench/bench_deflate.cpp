// permessage-deflate data path beside memcpy of the same bytes, in one run.
// Deflate_<mode>/<bytes> compresses one JSON-like message per iteration into
// a 16 KiB send buffer (context takeover on, or off with the per-thread stream
// pool, or off with the pool disabled so every message creates its stream);
// Inflate_<mode>/<bytes> inflates it back. Bytes processed = message bytes.
// The compressed/plain ratio is reported as a counter.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "proto/message_deflater.hpp"
#include "proto/message_inflater.hpp"
#include "proto/zstream_pool.hpp"

namespace wsgate::proto {
namespace {

constexpr int64_t kSizes[] = {128, 1024, 16 * 1024, 256 * 1024};
constexpr size_t kSendBuffer = 16 * 1024;

std::vector<uint8_t> json_like(size_t size) {
    std::mt19937 rng(7);
    static const char* syms[] = {"BTC-USD", "ETH-USD", "SOL-USD", "EUR-USD"};
    std::string s;
    while (s.size() < size) {
        s += "{\"id\":" + std::to_string(rng() % 1000000) + ",\"symbol\":\"" + syms[rng() % 4] +
             "\",\"price\":" + std::to_string(rng() % 70000) + "." + std::to_string(rng() % 100) +
             ",\"side\":\"" + (rng() % 2 ? "buy" : "sell") + "\"},";
    }
    s.resize(size);
    return std::vector<uint8_t>(s.begin(), s.end());
}

enum class Mode { takeover, pooled, unpooled };

// Compresses msg; the output goes to `sink` (the "socket").
size_t deflate_into(MessageDeflater& d, const std::vector<uint8_t>& msg,
                    std::vector<uint8_t>& sink) {
    uint8_t buf[kSendBuffer];
    sink.clear();
    std::span<const uint8_t> in(msg);
    while (!in.empty()) {
        DeflateResult r = d.compress(in, buf);
        sink.insert(sink.end(), buf, buf + r.produced);
        in = in.subspan(r.consumed);
    }
    DeflateResult r;
    do {
        r = d.finish(buf);
        sink.insert(sink.end(), buf, buf + r.produced);
    } while (r.status == DeflateStatus::ok);
    return sink.size();
}

void set_pool(Mode mode) {
    clear_zstream_pool();
    set_zstream_pool_capacity(mode == Mode::unpooled ? 0 : kDefaultZStreamPoolCapacity);
}

void Deflate(benchmark::State& state, Mode mode) {
    const auto msg = json_like(static_cast<size_t>(state.range(0)));
    set_pool(mode);
    DeflaterSettings s;
    s.no_context_takeover = mode != Mode::takeover;
    MessageDeflater d(s);
    std::vector<uint8_t> sink;
    sink.reserve(msg.size() * 2 + 64);
    size_t out = 0;
    for (auto _ : state) {
        out = deflate_into(d, msg, sink);
        benchmark::DoNotOptimize(sink.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
    state.counters["ratio"] = static_cast<double>(out) / static_cast<double>(msg.size());
    set_zstream_pool_capacity(kDefaultZStreamPoolCapacity);
}

void Inflate(benchmark::State& state, Mode mode) {
    const auto msg = json_like(static_cast<size_t>(state.range(0)));
    set_pool(mode);
    // Compressed without context takeover, so the same bytes are a valid
    // message again and again for both inflater modes.
    DeflaterSettings ds;
    ds.no_context_takeover = true;
    MessageDeflater d(ds);
    std::vector<uint8_t> packed;
    deflate_into(d, msg, packed);
    InflaterSettings is;
    is.no_context_takeover = mode != Mode::takeover;
    MessageInflater inf(is);
    std::vector<uint8_t> out(kSendBuffer);
    for (auto _ : state) {
        std::span<const uint8_t> in(packed);
        while (!in.empty()) {
            InflateResult r = inf.inflate(in, out);
            benchmark::DoNotOptimize(out.data());
            in = in.subspan(r.consumed);
        }
        InflateResult r;
        do {
            r = inf.finish(out);
        } while (r.status == InflateStatus::ok);
        if (r.status != InflateStatus::done) state.SkipWithError("inflate failed");
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
    set_zstream_pool_capacity(kDefaultZStreamPoolCapacity);
}

void Deflate_memcpy(benchmark::State& state) {
    const auto msg = json_like(static_cast<size_t>(state.range(0)));
    std::vector<uint8_t> dst(msg.size());
    for (auto _ : state) {
        std::memcpy(dst.data(), msg.data(), msg.size());
        benchmark::DoNotOptimize(dst.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void register_all() {
    for (int64_t n : kSizes) {
        benchmark::RegisterBenchmark("Deflate_memcpy", Deflate_memcpy)->Arg(n);
        benchmark::RegisterBenchmark("Deflate_takeover", Deflate, Mode::takeover)->Arg(n);
        benchmark::RegisterBenchmark("Deflate_no_takeover_pooled", Deflate, Mode::pooled)->Arg(n);
        benchmark::RegisterBenchmark("Deflate_no_takeover_unpooled", Deflate, Mode::unpooled)
            ->Arg(n);
        benchmark::RegisterBenchmark("Inflate_takeover", Inflate, Mode::takeover)->Arg(n);
        benchmark::RegisterBenchmark("Inflate_no_takeover_pooled", Inflate, Mode::pooled)->Arg(n);
        benchmark::RegisterBenchmark("Inflate_no_takeover_unpooled", Inflate, Mode::unpooled)
            ->Arg(n);
    }
}

const bool registered = (register_all(), true);

}  // namespace
}  // namespace wsgate::proto
