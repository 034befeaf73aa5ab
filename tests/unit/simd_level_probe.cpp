// Prints the SIMD level the kernels use (active_simd_level()) on stdout; run by
// test_simd_override with WSGATE_SIMD set, since the level is chosen once per process.
#include <cstdio>

#include "proto/simd_level.hpp"

int main() {
    std::printf("%s\n", wsgate::proto::simd_level_name(wsgate::proto::active_simd_level()).data());
    return 0;
}
