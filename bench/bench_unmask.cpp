// Unmask kernels (RFC 6455 §5.3) beside memcpy of the same size, in one run.
// Names: Unmask_memcpy/<bytes>, Unmask_<level>/<bytes> for each level this
// CPU supports; buffers are 64-byte aligned, unmasked in place, the same
// buffer every iteration. Unmask_copy32/<bytes> is a plain AVX2 32-byte
// load/store copy loop: the ceiling for any kernel that stores 32 bytes at a
// time, so Unmask_avx2 is compared with it as well as with memcpy (which may
// store 64 bytes at a time). Unmask_add32/<bytes> adds 1 to every byte in
// place, 32 bytes at a time: the ceiling for an in-place 32-byte
// read-modify-write, which the AVX2 kernel is.
// UnmaskPool_<kernel>/<bytes> walks a pool of buffers instead, a new one each
// iteration, each payload 6 bytes past a 64-byte boundary (after a masked
// frame header): no store from the previous iteration is still in flight
// for the bytes being loaded, as in a server. UnmaskPool_memcpy copies the
// same pool to a second one.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "proto/unmask.hpp"

#include <immintrin.h>

#include <vector>

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

void unmask_same_buffer(benchmark::State& state, UnmaskKernel kernel) {
    size_t len = static_cast<size_t>(state.range(0));
    Buffer data = make_buffer(len);
    for (auto _ : state) {
        kernel(data.get(), len, kKey);
        benchmark::DoNotOptimize(data.get());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}

// The AVX2 copy loop: 4 x 32-byte loads and stores per turn, like the unmask
// kernel without the XOR. Compiled for AVX2 here only; registered only when
// the CPU has it.
__attribute__((target("avx2"))) void copy32(uint8_t* dst, const uint8_t* src, size_t len) {
    constexpr size_t kVector = 32;
    constexpr size_t kUnroll = 4;
    size_t i = 0;
    for (; i + kUnroll * kVector <= len; i += kUnroll * kVector) {
        for (size_t j = 0; j < kUnroll; ++j) {
            __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + j * kVector));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + j * kVector), v);
        }
    }
    for (; i + kVector <= len; i += kVector) {
        __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), v);
    }
    std::memcpy(dst + i, src + i, len - i);
}

// The same loop in place with a different change to every byte (add 1): any
// 32-byte read-modify-write of a buffer in place, not the unmask code.
// (Storing the unchanged value back ran about 1.4x faster on the test
// machine, so it is no baseline for a kernel that changes the bytes.)
__attribute__((target("avx2"))) void add32(uint8_t* data, size_t len) {
    constexpr size_t kVector = 32;
    constexpr size_t kUnroll = 4;
    const __m256i one = _mm256_set1_epi8(1);
    size_t i = 0;
    for (; i + kUnroll * kVector <= len; i += kUnroll * kVector) {
        for (size_t j = 0; j < kUnroll; ++j) {
            auto* p = reinterpret_cast<__m256i*>(data + i + j * kVector);
            _mm256_storeu_si256(p, _mm256_add_epi8(_mm256_loadu_si256(p), one));
        }
    }
    for (; i + kVector <= len; i += kVector) {
        auto* p = reinterpret_cast<__m256i*>(data + i);
        _mm256_storeu_si256(p, _mm256_add_epi8(_mm256_loadu_si256(p), one));
    }
    for (; i < len; ++i)
        ++data[i];
}

void add32_baseline(benchmark::State& state) {
    size_t len = static_cast<size_t>(state.range(0));
    Buffer data = make_buffer(len);
    for (auto _ : state) {
        add32(data.get(), len);
        benchmark::DoNotOptimize(data.get());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}

void copy32_baseline(benchmark::State& state) {
    size_t len = static_cast<size_t>(state.range(0));
    Buffer src = make_buffer(len);
    Buffer dst = make_buffer(len);
    for (auto _ : state) {
        copy32(dst.get(), src.get(), len);
        benchmark::DoNotOptimize(dst.get());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}

constexpr size_t kPoolBytes = 512 * 1024;  // fits in L2
constexpr size_t kMinPoolBuffers = 2;
constexpr size_t kPayloadOffset = 6;  // a masked frame's header for <= 125 bytes

// Buffers of `len` bytes at kPayloadOffset past 64-byte boundaries.
struct Pool {
    explicit Pool(size_t len)
        : stride((len + kPayloadOffset + kBufferAlignment - 1) / kBufferAlignment *
                 kBufferAlignment),
          count(std::max(kMinPoolBuffers, kPoolBytes / stride)),
          memory(make_buffer(stride * count)) {}
    uint8_t* payload(size_t i) { return memory.get() + i * stride + kPayloadOffset; }
    size_t stride, count;
    Buffer memory;
};

void pool_memcpy(benchmark::State& state) {
    size_t len = static_cast<size_t>(state.range(0));
    Pool src(len), dst(len);
    size_t i = 0;
    for (auto _ : state) {
        std::memcpy(dst.payload(i), src.payload(i), len);
        benchmark::DoNotOptimize(dst.payload(i));
        benchmark::ClobberMemory();
        i = i + 1 == src.count ? 0 : i + 1;
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}

void pool_unmask(benchmark::State& state, UnmaskKernel kernel) {
    size_t len = static_cast<size_t>(state.range(0));
    Pool pool(len);
    size_t i = 0;
    for (auto _ : state) {
        kernel(pool.payload(i), len, kKey);
        benchmark::DoNotOptimize(pool.payload(i));
        benchmark::ClobberMemory();
        i = i + 1 == pool.count ? 0 : i + 1;
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}

bool register_unmask_benchmarks() {
    auto* baseline = benchmark::RegisterBenchmark("Unmask_memcpy", memcpy_baseline);
    for (int64_t size : kSizes)
        baseline->Arg(size);
    if (detect_simd_level() >= SimdLevel::avx2) {
        auto* copy = benchmark::RegisterBenchmark("Unmask_copy32", copy32_baseline);
        auto* add = benchmark::RegisterBenchmark("Unmask_add32", add32_baseline);
        for (int64_t size : kSizes) {
            copy->Arg(size);
            add->Arg(size);
        }
    }
    for (SimdLevel level : supported_simd_levels()) {
        std::string name = "Unmask_" + std::string(simd_level_name(level));
        auto* bench =
            benchmark::RegisterBenchmark(name.c_str(), unmask_same_buffer, unmask_kernel(level));
        for (int64_t size : kSizes)
            bench->Arg(size);
    }
    auto* pool_baseline = benchmark::RegisterBenchmark("UnmaskPool_memcpy", pool_memcpy);
    for (int64_t size : kSizes)
        pool_baseline->Arg(size);
    for (SimdLevel level : supported_simd_levels()) {
        std::string name = "UnmaskPool_" + std::string(simd_level_name(level));
        auto* bench = benchmark::RegisterBenchmark(name.c_str(), pool_unmask, unmask_kernel(level));
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
