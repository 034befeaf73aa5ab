// RespReader: RESP2 replies through hiredis's redisReader into the arena,
// split at every byte; the caps on buffered bytes, strings and element
// counts; protocol errors.
#include <gtest/gtest.h>

#include <string>

#include "broker/resp_reader.hpp"
#include "broker/resp_writer.hpp"

namespace {

using wsgate::broker::RespReader;
using wsgate::broker::RespType;
using wsgate::broker::RespValue;
using wsgate::broker::RespWriter;

// Everything a RESP2 server sends, pipelined: status, error, integer, bulk
// (with CR LF inside), nil, nested arrays, an empty array, a nil array.
const std::string kReplies =
    "+OK\r\n"
    "-NOSCRIPT No matching script\r\n"
    ":-42\r\n"
    "$6\r\nab\r\ncd\r\n"
    "$-1\r\n"
    "*3\r\n$7\r\nmessage\r\n*2\r\n:1\r\n$1\r\nx\r\n$0\r\n\r\n"
    "*0\r\n"
    "*-1\r\n";

void check_replies(RespReader& r, std::string_view bytes_in_pieces, size_t split) {
    std::vector<std::string> seen;
    auto drain = [&] {
        for (;;) {
            RespReader::Result res = r.next();
            ASSERT_NE(res, RespReader::Result::failed) << r.what();
            if (res == RespReader::Result::need_more) return;
            const RespValue& v = r.root();
            std::string d;
            switch (v.type) {
                case RespType::status:
                    d = "status " + std::string(v.text);
                    break;
                case RespType::error:
                    d = "error " + std::string(v.text);
                    break;
                case RespType::integer:
                    d = "int " + std::to_string(v.integer);
                    break;
                case RespType::string:
                    d = "string " + std::string(v.text);
                    break;
                case RespType::nil:
                    d = "nil";
                    break;
                case RespType::array:
                    d = "array " + std::to_string(v.count);
                    if (v.count == 3) {
                        d += " " + std::string(v[0].text) + " [" + std::to_string(v[1][0].integer) +
                             "," + std::string(v[1][1].text) + "] '" + std::string(v[2].text) + "'";
                    }
                    break;
            }
            seen.push_back(d);
        }
    };
    ASSERT_TRUE(r.feed(bytes_in_pieces.substr(0, split)));
    drain();
    ASSERT_TRUE(r.feed(bytes_in_pieces.substr(split)));
    drain();
    std::vector<std::string> want = {
        "status OK", "error NOSCRIPT No matching script", "int -42", "string ab\r\ncd",
        "nil",       "array 3 message [1,x] ''",          "array 0", "nil"};
    EXPECT_EQ(seen, want) << "split at " << split;
    EXPECT_EQ(r.buffered(), 0u);
}

TEST(RespReader, EveryReplyKindSplitAtEveryByte) {
    for (size_t split = 0; split <= kReplies.size(); ++split) {
        RespReader r(1 << 20);
        check_replies(r, kReplies, split);
    }
}

TEST(RespReader, ReusedAcrossManyRepliesWithoutGrowing) {
    RespReader r(1 << 20);
    for (int i = 0; i < 3; ++i)
        check_replies(r, kReplies, 5);
}

TEST(RespReader, AnnouncedHugeBulkFailsOnceBufferedBytesPassTheCap) {
    RespReader r(1024);
    ASSERT_TRUE(r.feed("$536870912\r\n"));
    EXPECT_EQ(r.next(), RespReader::Result::need_more);
    std::string chunk(700, 'x');
    ASSERT_TRUE(r.feed(chunk));
    EXPECT_EQ(r.next(), RespReader::Result::need_more);
    ASSERT_TRUE(r.feed(chunk));
    EXPECT_EQ(r.next(), RespReader::Result::failed);
    EXPECT_EQ(r.what(), "reply larger than the limit");
    EXPECT_FALSE(r.feed("+OK\r\n"));  // failed for good
}

TEST(RespReader, HugeArrayCountFailsBeforeReservingAnything) {
    RespReader r(1 << 20);
    ASSERT_TRUE(r.feed("*1000000000\r\n:1\r\n"));
    EXPECT_EQ(r.next(), RespReader::Result::failed);
}

TEST(RespReader, ManySmallStringsCountAgainstTheCap) {
    RespReader r(4096);
    std::string reply = "*200\r\n";
    for (int i = 0; i < 200; ++i)
        reply += "$10\r\n0123456789\r\n";
    ASSERT_TRUE(r.feed(reply));
    EXPECT_EQ(r.next(), RespReader::Result::failed);
}

TEST(RespReader, ProtocolErrorFails) {
    RespReader r(1 << 20);
    ASSERT_TRUE(r.feed("?what\r\n"));
    EXPECT_EQ(r.next(), RespReader::Result::failed);
    EXPECT_NE(r.what().find("Protocol error"), std::string_view::npos) << r.what();
}

TEST(RespReader, NestingDeeperThanHiredisAllowsFails) {
    RespReader r(1 << 20);
    std::string deep;
    for (int i = 0; i < 12; ++i)
        deep += "*1\r\n";
    deep += ":1\r\n";
    ASSERT_TRUE(r.feed(deep));
    EXPECT_EQ(r.next(), RespReader::Result::failed);
}

TEST(RespReader, ResetAfterFailureReadsAgain) {
    RespReader r(1 << 20);
    ASSERT_TRUE(r.feed("?x\r\n"));
    EXPECT_EQ(r.next(), RespReader::Result::failed);
    r.reset();
    ASSERT_TRUE(r.feed(":7\r\n"));
    ASSERT_EQ(r.next(), RespReader::Result::reply);
    EXPECT_EQ(r.root().integer, 7);
}

TEST(RespWriter, EncodesArraysOfBulkStrings) {
    RespWriter w;
    w.command("SET", "k", std::string_view("a\r\nb"));
    w.command("INCRBY", "n", -12);
    w.begin(2);
    w.argument("GET");
    w.argument(uint64_t{18446744073709551615u});
    EXPECT_EQ(w.bytes(),
              "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n"
              "*3\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$3\r\n-12\r\n"
              "*2\r\n$3\r\nGET\r\n$20\r\n18446744073709551615\r\n");
    EXPECT_EQ(w.commands(), 3u);
    w.clear();
    EXPECT_TRUE(w.empty());
}

}  // namespace
