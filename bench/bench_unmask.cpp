// Unmask kernels (RFC 6455 §5.3) beside memcpy of the same size, in one run.
// Names: Unmask_memcpy/<bytes>, Unmask_<level>/<bytes> for each level this
// CPU supports; buffers are 64-byte aligned, unmasked in place.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "proto/unmask.hpp"

namespace wsgate::proto {
namespace {

constexpr size_t kBufferAlignment = 64;
constexpr MaskKey kKey = 0x3d21fa37;
// Small control-frame-sized payloads up to a large message.
constexpr int64_t kSizes[] = {16, 125, 1024, 16 * 1024, 1024 * 1024};

struct FreeDeleter {
    void operator()(uint8_t* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<uint8_t, FreeDeleter>;

Buffer make_buffer(size_t len) {
    size_t rounded = (len + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
    Buffer buffer(static_cast<uint8_t*>(std::aligned_alloc(kBufferAlignment, rounded)));
    if (!buffer) std::abort();
    for (size_t i = 0; i < rounded; ++i)
        buffer.get()[i] = static_cast<uint8_t>(i * 131);
    return buffer;
}

void memcpy_baseline(benchmark::State& state) {
    size_t len = static_cast<size_t>(state.range(0));
    Buffer src = make_buffer(len);
    Buffer dst = make_buffer(len);
    for (auto _ : state) {
        std::memcpy(dst.get(), src.get(), len);
        benchmark::DoNotOptimize(dst.get());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}

void unmask_level(benchmark::State& state, SimdLevel level) {
    size_t len = static_cast<size_t>(state.range(0));
    UnmaskKernel kernel = unmask_kernel(level);
    Buffer data = make_buffer(len);
    for (auto _ : state) {
        kernel(data.get(), len, kKey);
        benchmark::DoNotOptimize(data.get());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}

bool register_unmask_benchmarks() {
    auto* baseline = benchmark::RegisterBenchmark("Unmask_memcpy", memcpy_baseline);
    for (int64_t size : kSizes)
        baseline->Arg(size);
    for (SimdLevel level : supported_simd_levels()) {
        std::string name = "Unmask_" + std::string(simd_level_name(level));
        auto* bench = benchmark::RegisterBenchmark(name.c_str(), unmask_level, level);
        for (int64_t size : kSizes)
            bench->Arg(size);
    }
    return true;
}

// Registered at start-up, like the BENCHMARK macro does, but only for the
// kernels this CPU can run.
const bool registered = register_unmask_benchmarks();

}  // namespace
}  // namespace wsgate::proto
