// Which SIMD instruction set the protocol kernels use, chosen once at start-up.
#pragma once

#include <span>
#include <string_view>

namespace wsgate::proto {

// Ordered from least to most capable; a CPU that supports a level supports
// every level before it.
enum class SimdLevel { scalar, sse2, avx2, avx512 };

std::string_view simd_level_name(SimdLevel level);

// The best level this CPU supports (CPUID via the compiler's builtins).
// AVX-512 means F + BW + VL: the kernels work on bytes.
SimdLevel detect_simd_level();

// The level the dispatched kernels use: detect_simd_level(), unless the
// environment variable WSGATE_SIMD names a level (scalar, sse2, avx2, avx512)
// that this CPU supports; tests and benchmarks use that to force a kernel.
// Computed on first call and cached; thread-safe.
SimdLevel active_simd_level();

// Every level this CPU supports, scalar first; tests run each kernel listed.
std::span<const SimdLevel> supported_simd_levels();

}  // namespace wsgate::proto
