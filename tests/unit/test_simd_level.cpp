#include "proto/simd_level.hpp"

#include <gtest/gtest.h>

namespace wsgate::proto {

TEST(SimdLevel, SupportedLevelsStartWithScalarAndEndWithDetected) {
    auto levels = supported_simd_levels();
    ASSERT_FALSE(levels.empty());
    EXPECT_EQ(levels.front(), SimdLevel::scalar);
    EXPECT_EQ(levels.back(), detect_simd_level());
}

TEST(SimdLevel, ActiveLevelIsSupported) {
    SimdLevel active = active_simd_level();
    bool found = false;
    for (SimdLevel level : supported_simd_levels())
        found |= level == active;
    EXPECT_TRUE(found) << simd_level_name(active);
}

TEST(SimdLevel, NamesAreDistinct) {
    EXPECT_EQ(simd_level_name(SimdLevel::scalar), "scalar");
    EXPECT_EQ(simd_level_name(SimdLevel::sse2), "sse2");
    EXPECT_EQ(simd_level_name(SimdLevel::avx2), "avx2");
    EXPECT_EQ(simd_level_name(SimdLevel::avx512), "avx512");
}

}  // namespace wsgate::proto
