// WSGATE_SIMD forces a kernel: each supported level is taken as named, an
// unknown or unsupported one falls back to the detected level with one log
// line. Runs simd_level_probe in a child process per setting.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "proto/simd_level.hpp"

using wsgate::proto::detect_simd_level;
using wsgate::proto::simd_level_name;
using wsgate::proto::SimdLevel;
using wsgate::proto::supported_simd_levels;

namespace {

struct ProbeOutput {
    std::string level;  // stdout, without the newline
    std::string log;    // what it logged
};

ProbeOutput probe(const std::string& forced) {
    std::string cmd = "WSGATE_SIMD='" + forced + "' " WSGATE_SIMD_PROBE " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    EXPECT_NE(p, nullptr);
    ProbeOutput out;
    std::array<char, 256> line{};
    std::string all;
    while (p != nullptr && std::fgets(line.data(), line.size(), p) != nullptr)
        all += line.data();
    if (p != nullptr) {
        EXPECT_EQ(pclose(p), 0);
    }
    // The level is the last line; anything before it is the log.
    if (!all.empty() && all.back() == '\n') all.pop_back();
    size_t nl = all.rfind('\n');
    out.level = nl == std::string::npos ? all : all.substr(nl + 1);
    out.log = nl == std::string::npos ? "" : all.substr(0, nl);
    return out;
}

}  // namespace

TEST(SimdOverride, EverySupportedLevelIsTakenAsNamed) {
    for (SimdLevel level : supported_simd_levels()) {
        std::string name(simd_level_name(level));
        ProbeOutput out = probe(name);
        EXPECT_EQ(out.level, name);
        EXPECT_EQ(out.log, "") << name;
    }
}

TEST(SimdOverride, UnsetOrEmptyUsesTheDetectedLevel) {
    EXPECT_EQ(probe("").level, simd_level_name(detect_simd_level()));
}

TEST(SimdOverride, UnknownOrUnsupportedFallsBackWithOneLogLine) {
    std::string best(simd_level_name(detect_simd_level()));
    std::vector<std::string> refused = {"avx1024", "SSE2"};
    if (detect_simd_level() != SimdLevel::avx512) refused.push_back("avx512");
    for (const std::string& name : refused) {
        ProbeOutput out = probe(name);
        EXPECT_EQ(out.level, best) << name;
        EXPECT_EQ(out.log,
                  "wsgate: WSGATE_SIMD=" + name + " is unknown or unsupported here; using " + best)
            << name;
    }
}
