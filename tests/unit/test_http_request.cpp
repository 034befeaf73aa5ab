#include <gtest/gtest.h>

#include <bit>
#include <random>
#include <string>
#include <vector>

#include "http_test_input.hpp"
#include "proto/case_folded_literal.hpp"
#include "proto/http_request.hpp"
#include "proto/http_scan.hpp"
#include "proto/http_token.hpp"

namespace wsgate::proto {
namespace {

using test::chromium_request;
using test::GuardedBuffer;
using test::parse_guarded;

// The status of parsing `input` whole; asserts an error has a reason.
int error_status(std::string_view input, const HttpLimits& limits = {}) {
    auto p = parse_guarded(input, limits);
    if (p.result.status != ParseStatus::error) return 0;
    EXPECT_FALSE(p.result.reason.empty());
    return p.result.http_status;
}

std::string simple_request(std::string_view headers) {
    return "GET /chat HTTP/1.1\r\nHost: example.com\r\n" + std::string(headers) + "\r\n";
}

TEST(HttpRequest, ParsesChromiumRequest) {
    std::string input = chromium_request();
    ASSERT_EQ(input.size(), 497u);
    auto p = parse_guarded(input);
    ASSERT_EQ(p.result.status, ParseStatus::complete) << p.result.reason;
    EXPECT_EQ(p.result.consumed, input.size());
    EXPECT_EQ(p.request.method, "GET");
    EXPECT_EQ(p.request.target, "/");
    EXPECT_EQ(p.request.minor_version, 1);
    ASSERT_EQ(p.request.header_count, 12u);
    EXPECT_EQ(p.request.headers[0].name, "Host");
    EXPECT_EQ(p.request.headers[0].value, "127.0.0.1:41427");
    EXPECT_EQ(p.request.headers[11].name, "Sec-WebSocket-Extensions");
    EXPECT_EQ(p.request.headers[11].value, "permessage-deflate; client_max_window_bits");
    EXPECT_EQ(p.request.header("sec-websocket-key"), "EibSFDGYNGf4NOFS0ZrIaw==");
    EXPECT_EQ(p.request.header("USER-AGENT").substr(0, 11), "Mozilla/5.0");
    EXPECT_EQ(p.request.header("X-Missing"), "");
}

TEST(HttpRequest, ViewsPointIntoCallerBuffer) {
    std::string input = chromium_request();
    auto p = parse_guarded(input);
    ASSERT_EQ(p.result.status, ParseStatus::complete);
    const char* begin = p.buffer->chars();
    const char* end = begin + p.buffer->size();
    for (size_t i = 0; i < p.request.header_count; ++i) {
        for (std::string_view v : {p.request.headers[i].name, p.request.headers[i].value}) {
            EXPECT_GE(v.data(), begin);
            EXPECT_LE(v.data() + v.size(), end);
        }
    }
    EXPECT_EQ(p.request.method.data(), begin);
}

// Feeds every prefix (each at a guard page) with scanned = the previous length,
// as a server reading a trickle would.
TEST(HttpRequest, ChromiumRequestSplitAtEveryByte) {
    std::string input = chromium_request();
    auto whole = parse_guarded(input);
    ASSERT_EQ(whole.result.status, ParseStatus::complete);
    size_t scanned = 0;
    for (size_t len = 1; len <= input.size(); ++len) {
        GuardedBuffer buf(input.data(), len);
        HttpRequest req;
        HttpParseResult r = parse_http_request(buf.chars(), len, scanned, req);
        scanned = len;
        if (len < input.size()) {
            ASSERT_EQ(r.status, ParseStatus::need_more) << "len " << len << " " << r.reason;
            continue;
        }
        ASSERT_EQ(r.status, ParseStatus::complete);
        EXPECT_EQ(r.consumed, whole.result.consumed);
        EXPECT_EQ(req.method, whole.request.method);
        EXPECT_EQ(req.target, whole.request.target);
        EXPECT_EQ(req.minor_version, whole.request.minor_version);
        ASSERT_EQ(req.header_count, whole.request.header_count);
        for (size_t i = 0; i < req.header_count; ++i) {
            EXPECT_EQ(req.headers[i].name, whole.request.headers[i].name);
            EXPECT_EQ(req.headers[i].value, whole.request.headers[i].value);
            EXPECT_EQ(req.headers[i].value.data() - buf.chars(),
                      whole.request.headers[i].value.data() - whole.buffer->chars());
        }
    }
}

// Two-piece splits with every scanned value, including ones that cut CR LF CR LF.
TEST(HttpRequest, EveryScannedOffsetGivesTheSameResult) {
    std::string input = chromium_request();
    GuardedBuffer buf(input);
    for (size_t scanned = 0; scanned <= input.size(); ++scanned) {
        HttpRequest req;
        HttpParseResult r = parse_http_request(buf.chars(), buf.size(), scanned, req);
        ASSERT_EQ(r.status, ParseStatus::complete) << scanned;
        EXPECT_EQ(r.consumed, input.size());
        EXPECT_EQ(req.header_count, 12u);
    }
}

TEST(HttpRequest, ResumesNearScannedInsteadOfRescanning) {
    // A bare LF early on is an error when seen, but a call told that the
    // first bytes were already scanned does not look at them again.
    std::string input = "GET / HTTP/1.1\r\nX-A: a\nb\r\nX-B: " + std::string(100, 'x');
    EXPECT_EQ(parse_guarded(input).result.status, ParseStatus::error);
    EXPECT_EQ(parse_guarded(input, {}, input.size()).result.status, ParseStatus::need_more);
}

// The parser's known-header sets must agree with a plain case-insensitive
// comparison of every name, whatever the case and whatever looks alike.
TEST(HttpRequest, KnownHeadersMatchCaseInsensitiveNames) {
    const std::pair<KnownHeader, std::string_view> names[] = {
        {KnownHeader::host, "host"},
        {KnownHeader::upgrade, "upgrade"},
        {KnownHeader::connection, "connection"},
        {KnownHeader::origin, "origin"},
        {KnownHeader::sec_websocket_key, "sec-websocket-key"},
        {KnownHeader::sec_websocket_version, "sec-websocket-version"},
        {KnownHeader::sec_websocket_protocol, "sec-websocket-protocol"},
        {KnownHeader::sec_websocket_extensions, "sec-websocket-extensions"},
    };
    std::string input = chromium_request();
    input.resize(input.size() - 2);  // reopen the head for more lines
    input +=
        "HOST: second\r\nuPgRaDe:x\r\nConnection-X: no\r\nHosts: no\r\nOrigin2: no\r\n"
        "Sec-WebSocket-Keys: no\r\nSec-WebSocket-Ke: no\r\nsec-websocket-protocol: chat\r\n"
        "Sec-WebSocket-Versio: no\r\nSEC-WEBSOCKET-EXTENSIONS: x\r\nSec_WebSocket-Key: no\r\n"
        "Sec-WebSocket-Version:13\r\nO: no\r\nH: no\r\nS: no\r\n\r\n";
    auto p = parse_guarded(input);
    ASSERT_EQ(p.result.status, ParseStatus::complete) << p.result.reason;
    for (const auto& [id, name] : names) {
        HeaderLineSet expected = 0;
        for (size_t i = 0; i < p.request.header_count; ++i) {
            if (ascii_iequals(p.request.headers[i].name, name)) expected |= HeaderLineSet{1} << i;
        }
        EXPECT_EQ(p.request.lines(id), expected) << name;
        EXPECT_EQ(p.request.count(id), std::popcount(expected)) << name;
        EXPECT_EQ(p.request.has_one(id), std::popcount(expected) == 1) << name;
        EXPECT_EQ(p.request.first_value(id), p.request.header(name)) << name;
    }
    EXPECT_EQ(p.request.count(KnownHeader::host), 2);
    EXPECT_EQ(p.request.count(KnownHeader::sec_websocket_version), 2);
    EXPECT_EQ(p.request.count(KnownHeader::sec_websocket_protocol), 1);
}

// Only letters are folded: bytes that differ from the literal by 0x20 in a
// non-letter position ('-' vs CR, ':' vs 0x1A, digits) must not match.
TEST(CaseFoldedLiteral, FoldsLettersOnly) {
    constexpr CaseFoldedLiteral kLong("sec-websocket-key:");
    EXPECT_TRUE(kLong.equals("Sec-WebSocket-Key:"));
    EXPECT_TRUE(kLong.equals("SEC-WEBSOCKET-KEY:"));
    EXPECT_FALSE(kLong.equals("Sec\rWebSocket-Key:"));
    EXPECT_FALSE(kLong.equals("Sec-WebSocket-Key\x1a"));
    EXPECT_FALSE(kLong.equals("Sec-WebSocket-Kez:"));
    EXPECT_FALSE(kLong.equals("Sec-WebSocket-Key"));
    constexpr CaseFoldedLiteral kShort("h1-:");  // 4 bytes: one narrow chunk
    EXPECT_TRUE(kShort.equals("H1-:"));
    EXPECT_FALSE(kShort.equals("H\x11-:"));
    EXPECT_FALSE(kShort.equals("h1\r:"));
    constexpr CaseFoldedLiteral kNine("websocket");  // chunks overlap
    EXPECT_TRUE(kNine.equals("WebSocket"));
    EXPECT_FALSE(kNine.equals("WebSocke"));
    EXPECT_FALSE(kNine.equals("WebSocket "));
    // Every single-byte change of every position is refused unless it only
    // changes the case of a letter.
    const std::string base = "sec-websocket-extensions:";
    constexpr CaseFoldedLiteral kExtensions("sec-websocket-extensions:");
    for (size_t i = 0; i < base.size(); ++i) {
        for (int c = 0; c < 256; ++c) {
            std::string changed = base;
            changed[i] = static_cast<char>(c);
            const bool same = ascii_lower(changed[i]) == base[i];
            EXPECT_EQ(kExtensions.equals(changed), same) << i << " " << c;
        }
    }
}

TEST(HttpRequest, KnownNameFollowedByWhitespaceIsStillAnError) {
    EXPECT_EQ(error_status(simple_request("Upgrade : websocket\r\n")), 400);
    EXPECT_EQ(error_status(simple_request("Sec-WebSocket-Key\r\n")), 400);
}

// Lines that end (at the guard page) inside a known name or right after it:
// the name comparison reads 8 bytes at a time and must stay inside the input.
TEST(HttpRequest, KnownNamePrefixesAtTheEndOfTheBuffer) {
    for (std::string_view name : {"Host:", "Sec-WebSocket-Extensions:", "Sec-WebSocket-Key:",
                                  "Origin:", "Connection:", "Upgrade:"}) {
        for (size_t n = 1; n <= name.size(); ++n) {
            std::string line(name.substr(0, n));
            auto p = parse_guarded("GET / HTTP/1.1\r\n" + line + "\r\n\r\n");
            if (n == name.size()) {
                ASSERT_EQ(p.result.status, ParseStatus::complete) << line;
                EXPECT_EQ(p.request.header_count, 1u);
                EXPECT_EQ(p.request.headers[0].value, "");
            } else {
                EXPECT_EQ(p.result.status, ParseStatus::error) << line;
            }
        }
    }
}

TEST(HttpRequest, ConsumedStopsAtEndOfHead) {
    std::string head = simple_request("Upgrade: websocket\r\n");
    std::string input = head + "\x81\x85garbage\n\0";
    auto p = parse_guarded(input);
    ASSERT_EQ(p.result.status, ParseStatus::complete);
    EXPECT_EQ(p.result.consumed, head.size());
    EXPECT_EQ(p.request.header_count, 2u);
}

TEST(HttpRequest, MinimalRequestWithoutHeaders) {
    auto p = parse_guarded("GET / HTTP/1.1\r\n\r\n");
    ASSERT_EQ(p.result.status, ParseStatus::complete);
    EXPECT_EQ(p.request.header_count, 0u);
    EXPECT_EQ(p.result.consumed, 18u);
}

TEST(HttpRequest, IgnoresOneLeadingEmptyLine) {
    auto p = parse_guarded("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(p.result.status, ParseStatus::complete) << p.result.reason;
    EXPECT_EQ(p.request.method, "GET");
    EXPECT_EQ(p.result.consumed, 29u);
}

TEST(HttpRequest, TrimsOwsAroundValues) {
    auto p = parse_guarded(simple_request("A:  \t value with  inner  \t \r\nB:\r\nC: \t\r\n"));
    ASSERT_EQ(p.result.status, ParseStatus::complete);
    ASSERT_EQ(p.request.header_count, 4u);
    EXPECT_EQ(p.request.headers[1].value, "value with  inner");
    EXPECT_EQ(p.request.headers[2].value, "");
    EXPECT_EQ(p.request.headers[3].value, "");
}

TEST(HttpRequest, AcceptsObsTextInValues) {
    auto p = parse_guarded(simple_request("X-Name: caf\xc3\xa9 \xff\r\n"));
    ASSERT_EQ(p.result.status, ParseStatus::complete);
    EXPECT_EQ(p.request.header("x-name"), "caf\xc3\xa9 \xff");
}

TEST(HttpRequest, ParsesHttp10AndOtherMinorVersions) {
    auto p = parse_guarded("GET / HTTP/1.0\r\n\r\n");
    ASSERT_EQ(p.result.status, ParseStatus::complete);
    EXPECT_EQ(p.request.minor_version, 0);
    auto q = parse_guarded("GET / HTTP/1.9\r\n\r\n");
    ASSERT_EQ(q.result.status, ParseStatus::complete);
    EXPECT_EQ(q.request.minor_version, 9);
}

TEST(HttpRequest, NeedsMoreUntilTheEmptyLine) {
    for (std::string_view partial :
         {"", "G", "GET / HTTP/1.1", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: a\r\n",
          "GET / HTTP/1.1\r\nHost: a\r\n\r"}) {
        EXPECT_EQ(parse_guarded(partial).result.status, ParseStatus::need_more) << partial;
    }
}

TEST(HttpRequest, RejectsBareLf) {
    EXPECT_EQ(error_status("GET / HTTP/1.1\n\n"), 400);
    EXPECT_EQ(error_status("GET / HTTP/1.1\nHost: a\r\n\r\n"), 400);
    EXPECT_EQ(error_status(simple_request("X: a\nb\r\n")), 400);
    EXPECT_EQ(error_status(simple_request("X: a\n")), 400);
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\nHost: a\r\n\n"), 400);
    // Detected before the head is complete: no waiting for more.
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\nHost: a\n"), 400);
}

TEST(HttpRequest, RejectsBareCr) {
    EXPECT_EQ(error_status(simple_request("X: a\rb\r\n")), 400);
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n\r\n"), 400);
    EXPECT_EQ(error_status("GET /\r HTTP/1.1\r\n\r\n"), 400);
}

TEST(HttpRequest, RejectsObsFold) {
    EXPECT_EQ(error_status(simple_request("X: a\r\n b\r\n")), 400);
    EXPECT_EQ(error_status(simple_request("X: a\r\n\tb\r\n")), 400);
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400);
}

TEST(HttpRequest, RejectsControlBytes) {
    EXPECT_EQ(error_status(simple_request(std::string("X: a\0b\r\n", 8))), 400);
    EXPECT_EQ(error_status(simple_request("X: a\x01"
                                          "b\r\n")),
              400);
    EXPECT_EQ(error_status(simple_request("X: a\x1f\r\n")), 400);
    EXPECT_EQ(error_status(simple_request("X: a\x7f\r\n")), 400);
    EXPECT_EQ(error_status(simple_request("X\x0b: a\r\n")), 400);
    EXPECT_EQ(error_status("GET /\x01 HTTP/1.1\r\n\r\n"), 400);
    // NUL is rejected as soon as it arrives, before the head is complete.
    EXPECT_EQ(error_status(std::string("GET / HTTP/1.1\r\nX: \0", 20)), 400);
    // HTAB is the one control byte a value may hold.
    EXPECT_EQ(error_status(simple_request("X: a\tb\r\n")), 0);
}

TEST(HttpRequest, RejectsMalformedHeaderNames) {
    EXPECT_EQ(error_status(simple_request("NoColon\r\n")), 400);
    EXPECT_EQ(error_status(simple_request("Host : a\r\n")), 400);
    EXPECT_EQ(error_status(simple_request("Host\t: a\r\n")), 400);
    EXPECT_EQ(error_status(simple_request(": a\r\n")), 400);
    EXPECT_EQ(error_status(simple_request("Ho@st: a\r\n")), 400);
    EXPECT_EQ(error_status(simple_request("X(y): a\r\n")), 400);
    EXPECT_EQ(error_status(simple_request("caf\xc3\xa9: a\r\n")), 400);
    auto p = parse_guarded(simple_request("Host : a\r\n"));
    EXPECT_EQ(p.result.reason, "whitespace before colon");
    auto q = parse_guarded(simple_request("NoColon\r\n"));
    EXPECT_EQ(q.result.reason, "missing colon in header field");
}

TEST(HttpRequest, RejectsMalformedRequestLines) {
    for (std::string_view line :
         {" / HTTP/1.1", "GET  / HTTP/1.1", "GET /  HTTP/1.1", "GET / HTTP/1.1 ", "GET /", "GET / ",
          "GET", "G(T / HTTP/1.1", "GET / http/1.1", "GET / HTTP/1.", "GET / HTTP/1.x",
          "GET / HTTP/1.10", "GET / HTTP/1", "GET / HTTP/11.1", "GET /\xc3\xa9 HTTP/1.1",
          "GET / HTTPS/1.1"}) {
        EXPECT_EQ(error_status(std::string(line) + "\r\nHost: a\r\n\r\n"), 400) << line;
    }
}

TEST(HttpRequest, RejectsOtherMajorVersionsWith505) {
    EXPECT_EQ(error_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    EXPECT_EQ(error_status("GET / HTTP/3.0\r\n\r\n"), 505);
    EXPECT_EQ(error_status("GET / HTTP/0.9\r\n\r\n"), 505);
    EXPECT_EQ(error_status("GET / HTTP/2\r\n\r\n"), 505);
}

std::string filler_headers(size_t count) {
    std::string s;
    for (size_t i = 0; i < count; ++i)
        s += "X-" + std::to_string(i) + ": v\r\n";
    return s;
}

TEST(HttpRequest, HeaderCountLimit) {
    std::string at_limit = "GET / HTTP/1.1\r\n" + filler_headers(64) + "\r\n";
    auto p = parse_guarded(at_limit);
    ASSERT_EQ(p.result.status, ParseStatus::complete);
    EXPECT_EQ(p.request.header_count, 64u);
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\n" + filler_headers(65) + "\r\n"), 431);
    HttpLimits small{kDefaultMaxHeaderBytes, 3};
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\n" + filler_headers(3) + "\r\n", small), 0);
    EXPECT_EQ(error_status("GET / HTTP/1.1\r\n" + filler_headers(4) + "\r\n", small), 431);
}

std::string request_of_size(size_t size) {
    std::string head = "GET / HTTP/1.1\r\nX-Pad: ";
    std::string tail = "\r\n\r\n";
    return head + std::string(size - head.size() - tail.size(), 'p') + tail;
}

TEST(HttpRequest, HeadSizeLimit) {
    std::string exact = request_of_size(kDefaultMaxHeaderBytes);
    EXPECT_EQ(error_status(exact), 0);
    EXPECT_EQ(error_status(request_of_size(kDefaultMaxHeaderBytes + 1)), 431);
    // Without an end, 431 as soon as the head is longer than the limit.
    std::string endless = exact.substr(0, exact.size() - 4) + "ppppp";
    EXPECT_EQ(parse_guarded(endless.substr(0, kDefaultMaxHeaderBytes)).result.status,
              ParseStatus::need_more);
    EXPECT_EQ(error_status(endless.substr(0, kDefaultMaxHeaderBytes + 1)), 431);
    HttpLimits small{100, kMaxHttpHeaders};
    EXPECT_EQ(error_status(request_of_size(100), small), 0);
    EXPECT_EQ(error_status(request_of_size(101), small), 431);
}

TEST(HttpRequest, HeadSizeLimitWhenArrivingInPieces) {
    std::string big = request_of_size(3 * kDefaultMaxHeaderBytes);
    for (size_t piece : {1u, 7u, 1000u, 4096u}) {
        size_t scanned = 0;
        bool rejected = false;
        for (size_t len = piece; len <= big.size() && !rejected; len += piece) {
            GuardedBuffer buf(big.data(), len);
            HttpRequest req;
            HttpParseResult r = parse_http_request(buf.chars(), len, scanned, req);
            scanned = len;
            if (len <= kDefaultMaxHeaderBytes) {
                ASSERT_EQ(r.status, ParseStatus::need_more) << len;
            } else {
                ASSERT_EQ(r.status, ParseStatus::error) << len;
                EXPECT_EQ(r.http_status, 431);
                rejected = true;
            }
        }
        EXPECT_TRUE(rejected) << piece;
    }
}

TEST(HttpRequest, HeaderLookupIsCaseInsensitiveAndFirstWins) {
    auto p = parse_guarded(simple_request("X-Dup: one\r\nx-dup: two\r\n"));
    ASSERT_EQ(p.result.status, ParseStatus::complete);
    EXPECT_EQ(p.request.header("X-DUP"), "one");
    EXPECT_EQ(p.request.header("X-Du"), "");
}

// The SSE2 scanners must agree with their scalar specification.
TEST(HttpScan, Sse2MatchesScalar) {
    std::mt19937 rng(12345);
    const char alphabet[] = {'\r', '\n', 'a', ' ', '\t', ':', '\0', '\x7f', '\x80', '\x1f'};
    for (int iter = 0; iter < 20000; ++iter) {
        size_t len = rng() % 80;
        std::string s(len, 'x');
        for (char& c : s) {
            unsigned pick = rng() % 40;
            if (pick < sizeof(alphabet)) c = alphabet[pick];
            if (pick >= 36) c = (pick & 1) ? '\r' : '\n';
        }
        GuardedBuffer buf(s);
        size_t from = len == 0 ? 0 : rng() % (len + 1);
        HeadScan a = scan_request_head(buf.chars(), from, len);
        HeadScan b = scan_request_head_scalar(buf.chars(), from, len);
        ASSERT_EQ(a.kind, b.kind) << iter;
        ASSERT_EQ(a.pos, b.pos) << iter;
        const char* end = buf.chars() + len;
        ASSERT_EQ(find_cr(buf.chars() + from, end), find_cr_scalar(buf.chars() + from, end));
    }
}

TEST(HttpScan, FindsEndAcrossTheResumePoint) {
    std::string s = "GET / HTTP/1.1\r\n\r\n";
    GuardedBuffer buf(s);
    HeadScan r = scan_request_head(buf.chars(), s.size() - 1, s.size());
    EXPECT_EQ(r.kind, HeadScan::Kind::end);
    EXPECT_EQ(r.pos, s.size());
}

}  // namespace
}  // namespace wsgate::proto
