#include "proto/simd_level.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>

namespace wsgate::proto {

std::string_view simd_level_name(SimdLevel level) {
    switch (level) {
        case SimdLevel::scalar:
            return "scalar";
        case SimdLevel::sse2:
            return "sse2";
        case SimdLevel::avx2:
            return "avx2";
        case SimdLevel::avx512:
            return "avx512";
    }
    return "unknown";
}

SimdLevel detect_simd_level() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
        return SimdLevel::avx512;
    }
    if (__builtin_cpu_supports("avx2")) return SimdLevel::avx2;
    if (__builtin_cpu_supports("sse2")) return SimdLevel::sse2;
    return SimdLevel::scalar;
}

static SimdLevel choose_simd_level() {
    SimdLevel best = detect_simd_level();
    const char* forced = std::getenv("WSGATE_SIMD");
    if (forced == nullptr || *forced == '\0') return best;
    for (SimdLevel level : supported_simd_levels()) {
        if (simd_level_name(level) == forced) return level;
    }
    std::fprintf(stderr, "wsgate: WSGATE_SIMD=%s is unknown or unsupported here; using %s\n",
                 forced, simd_level_name(best).data());
    return best;
}

SimdLevel active_simd_level() {
    static const SimdLevel level = choose_simd_level();
    return level;
}

std::span<const SimdLevel> supported_simd_levels() {
    static constexpr std::array<SimdLevel, 4> all = {SimdLevel::scalar, SimdLevel::sse2,
                                                     SimdLevel::avx2, SimdLevel::avx512};
    static const size_t count = static_cast<size_t>(detect_simd_level()) + 1;
    return {all.data(), count};
}

}  // namespace wsgate::proto
