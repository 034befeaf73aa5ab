#include <gtest/gtest.h>

#include "ws/trace_escape.hpp"

using wsgate::ws::trace_escape;

TEST(TraceEscape, ShowsCrLfAsSymbols) {
    EXPECT_EQ(trace_escape("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
              "GET / HTTP/1.1\u240D\u240AHost: a\u240D\u240A\u240D\u240A");
}

TEST(TraceEscape, HexForOtherControlAndHighBytes) {
    EXPECT_EQ(trace_escape(std::string_view("a\0b\t\x7f\xff", 6)), "a\\x00b\\x09\\x7F\\xFF");
    EXPECT_EQ(trace_escape(""), "");
}
