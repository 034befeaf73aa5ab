// GoogleTest entry point for every unit-test binary. It ends with the line
// `N passed, N failed, N skipped` that scripts/test.sh adds up across suites:
// a case that skips itself (GTEST_SKIP, e.g. io_uring unavailable here) is
// counted, never dropped silently.
#include <gtest/gtest.h>

#include <cstdio>

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    int rc = RUN_ALL_TESTS();
    const testing::UnitTest& unit = *testing::UnitTest::GetInstance();
    std::printf("%d passed, %d failed, %d skipped\n", unit.successful_test_count(),
                unit.failed_test_count(), unit.skipped_test_count());
    return rc;
}
