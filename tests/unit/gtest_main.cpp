// GoogleTest entry point for every unit-test binary. It ends with the line
// `N passed, N failed` that scripts/test.sh adds up across suites.
#include <gtest/gtest.h>

#include <cstdio>

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    int rc = RUN_ALL_TESTS();
    const testing::UnitTest& unit = *testing::UnitTest::GetInstance();
    std::printf("%d passed, %d failed\n", unit.successful_test_count(), unit.failed_test_count());
    return rc;
}
