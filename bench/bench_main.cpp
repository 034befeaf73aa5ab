// Google Benchmark entry point; prints which SIMD kernels the run uses.
#include <benchmark/benchmark.h>

#include <cstdio>

#include "proto/simd_level.hpp"

int main(int argc, char** argv) {
    using namespace wsgate::proto;
    std::printf("simd: detected %s, active %s\n", simd_level_name(detect_simd_level()).data(),
                simd_level_name(active_simd_level()).data());
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
