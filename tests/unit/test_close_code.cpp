#include "proto/close_code.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace wsgate::proto {

TEST(CloseCode, BoundariesOfTheValidRanges) {
    struct Case {
        uint16_t code;
        bool valid;
    };
    const Case cases[] = {
        {0, false},    {999, false},   {1000, true},  {1001, true},  {1002, true},  {1003, true},
        {1004, false}, {1005, false},  {1006, false}, {1007, true},  {1008, true},  {1009, true},
        {1010, true},  {1011, true},   {1012, false}, {1013, false}, {1014, false}, {1015, false},
        {1016, false}, {2999, false},  {3000, true},  {3999, true},  {4000, true},  {4999, true},
        {5000, false}, {65535, false},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(is_valid_wire_close_code(c.code), c.valid) << c.code;
    }
}

TEST(CloseCode, EveryCodeMatchesTheContractRanges) {
    int valid = 0;
    for (uint32_t code = 0; code <= UINT16_MAX; ++code) {
        bool expected = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
                        (code >= 3000 && code <= 4999);
        ASSERT_EQ(is_valid_wire_close_code(static_cast<uint16_t>(code)), expected) << code;
        valid += expected ? 1 : 0;
    }
    EXPECT_EQ(valid, 4 + 5 + 2000);
}

TEST(CloseCode, EnumValuesAreTheRfcNumbers) {
    EXPECT_EQ(static_cast<uint16_t>(CloseCode::normal), 1000);
    EXPECT_EQ(static_cast<uint16_t>(CloseCode::protocol_error), 1002);
    EXPECT_EQ(static_cast<uint16_t>(CloseCode::no_status), 1005);
    EXPECT_EQ(static_cast<uint16_t>(CloseCode::invalid_payload), 1007);
    EXPECT_EQ(static_cast<uint16_t>(CloseCode::message_too_big), 1009);
    EXPECT_EQ(static_cast<uint16_t>(CloseCode::internal_error), 1011);
}

}  // namespace wsgate::proto
