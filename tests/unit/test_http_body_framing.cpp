#include <gtest/gtest.h>

#include <string>

#include "proto/http_body_framing.hpp"
#include "proto/http_request.hpp"

using wsgate::proto::BodyFraming;
using wsgate::proto::BodyFramingKind;
using wsgate::proto::decide_body_framing;
using wsgate::proto::HttpRequest;
using wsgate::proto::parse_http_request;
using wsgate::proto::ParseStatus;

namespace {
constexpr uint64_t kMax = 1024 * 1024;

// Frames a POST whose head carries `fields` (each "Name: value\r\n").
BodyFraming framing_of(const std::string& fields, uint64_t max = kMax,
                       const std::string& version = "HTTP/1.1") {
    static std::string head;  // the request's views point into it
    head = "POST /api/publish " + version + "\r\nHost: x\r\n" + fields + "\r\n";
    static HttpRequest request;
    request = HttpRequest{};
    auto r = parse_http_request(head.data(), head.size(), 0, request);
    EXPECT_EQ(r.status, ParseStatus::complete) << head;
    return decide_body_framing(request, max);
}

void expect_refused(const std::string& fields, int status, uint64_t max = kMax,
                    const std::string& version = "HTTP/1.1") {
    BodyFraming f = framing_of(fields, max, version);
    EXPECT_EQ(f.kind, BodyFramingKind::refused) << fields;
    EXPECT_EQ(f.http_status, status) << fields;
    EXPECT_FALSE(f.reason.empty()) << fields;
}
}  // namespace

TEST(HttpBodyFraming, NoFramingHeadersMeansNoBody) {
    EXPECT_EQ(framing_of("").kind, BodyFramingKind::none);
    EXPECT_EQ(framing_of("Content-Type: application/json\r\n").kind, BodyFramingKind::none);
}

TEST(HttpBodyFraming, ContentLengthGivesTheBodySize) {
    BodyFraming f = framing_of("Content-Length: 42\r\n");
    EXPECT_EQ(f.kind, BodyFramingKind::content_length);
    EXPECT_EQ(f.length, 42u);
    f = framing_of("content-length:7\r\n");  // names are case-insensitive, OWS optional
    EXPECT_EQ(f.kind, BodyFramingKind::content_length);
    EXPECT_EQ(f.length, 7u);
    f = framing_of("Content-Length: 0007\r\n");  // leading zeros are digits
    EXPECT_EQ(f.length, 7u);
    EXPECT_EQ(framing_of("Content-Length: 0\r\n").kind, BodyFramingKind::none);
    EXPECT_EQ(framing_of("Content-Length: 1\r\n", kMax, "HTTP/1.0").length, 1u);
}

TEST(HttpBodyFraming, LimitIsInclusiveAndBeyondIs413) {
    EXPECT_EQ(framing_of("Content-Length: 1048576\r\n").length, kMax);
    expect_refused("Content-Length: 1048577\r\n", 413);
    expect_refused("Content-Length: 99999999999999999999999999\r\n", 413);  // > 2^64
    expect_refused("Content-Length: 18446744073709551616\r\n", 413, UINT64_MAX);
    EXPECT_EQ(framing_of("Content-Length: 18446744073709551615\r\n", UINT64_MAX).length,
              UINT64_MAX);
}

TEST(HttpBodyFraming, InvalidContentLengthIs400) {
    for (const char* v : {"-1", "+1", "1 2", "0x10", "1.0", "abc", "5, 5", "5,", ",5", "1e3"}) {
        expect_refused(std::string("Content-Length: ") + v + "\r\n", 400);
    }
    expect_refused("Content-Length:\r\n", 400);  // empty value
}

TEST(HttpBodyFraming, DuplicateContentLengthIs400EvenWhenEqual) {
    expect_refused("Content-Length: 5\r\nContent-Length: 6\r\n", 400);
    expect_refused("Content-Length: 5\r\nContent-Length: 5\r\n", 400);
}

TEST(HttpBodyFraming, TransferEncodingWithContentLengthIs400) {
    expect_refused("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400);
    expect_refused("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400);
}

TEST(HttpBodyFraming, ChunkedIs411AndOtherFinalCodingsAre400) {
    expect_refused("Transfer-Encoding: chunked\r\n", 411);
    expect_refused("Transfer-Encoding: gzip, chunked\r\n", 411);
    expect_refused("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 411);
    expect_refused("Transfer-Encoding: CHUNKED\r\n", 411);
    expect_refused("Transfer-Encoding: chunked, gzip\r\n", 400);  // §6.3 rule 4
    expect_refused("Transfer-Encoding: gzip\r\n", 400);
    expect_refused("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", 400);
    expect_refused("Transfer-Encoding:\r\n", 400);
    expect_refused("Transfer-Encoding: chunked\r\n", 400, kMax, "HTTP/1.0");  // §6.1
}
