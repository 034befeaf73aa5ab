#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <random>
#include <string>

#include "http_test_input.hpp"
#include "proto/accept_key.hpp"
#include "proto/http_response.hpp"
#include "proto/upgrade_request.hpp"

namespace wsgate::proto {
namespace {

constexpr std::string_view kRfcKey = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 §1.3
constexpr std::string_view kRfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

std::string accept_of(std::string_view key) {
    char out[kAcceptKeyLength];
    compute_accept_key(key, out);
    return {out, kAcceptKeyLength};
}

TEST(AcceptKey, Rfc6455Example) {
    EXPECT_EQ(accept_of(kRfcKey), kRfcAccept);
}

TEST(AcceptKey, GuidIsTheRfcString) {
    EXPECT_EQ(kWebSocketGuid, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
}

TEST(AcceptKey, AnyKeyLengthMatchesOneShotSha1) {
    for (size_t len : {0u, 1u, 24u, 63u, 64u, 200u}) {
        std::string key(len, 'k');
        std::string input = key + std::string(kWebSocketGuid);
        uint8_t digest[kSha1DigestLength];
        SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
        char expected[kAcceptKeyLength];
        base64_digest_evp(digest, expected);
        EXPECT_EQ(accept_of(key), std::string(expected, kAcceptKeyLength)) << len;
    }
}

TEST(AcceptKey, HandWrittenBase64MatchesOpenSsl) {
    std::mt19937 rng(7);
    for (int iter = 0; iter < 10000; ++iter) {
        uint8_t digest[kSha1DigestLength];
        for (uint8_t& b : digest)
            b = static_cast<uint8_t>(rng());
        if (iter == 0) std::fill(std::begin(digest), std::end(digest), 0);
        if (iter == 1) std::fill(std::begin(digest), std::end(digest), 0xFF);
        char a[kAcceptKeyLength], b[kAcceptKeyLength];
        base64_digest(digest, a);
        base64_digest_evp(digest, b);
        ASSERT_EQ(std::string(a, kAcceptKeyLength), std::string(b, kAcceptKeyLength)) << iter;
    }
}

const std::string kRfcResponse =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "\r\n";

std::string upgrade_response(std::string_view key, std::string_view protocol = {},
                             std::string_view extensions = {}) {
    char out[512];
    size_t n = write_upgrade_response(out, sizeof(out), key, protocol, extensions);
    return {out, n};
}

TEST(UpgradeResponse, ByteExact) {
    EXPECT_EQ(upgrade_response(kRfcKey), kRfcResponse);
}

TEST(UpgradeResponse, WithProtocolAndExtensions) {
    EXPECT_EQ(upgrade_response(kRfcKey, "chat"),
              "HTTP/1.1 101 Switching Protocols\r\n"
              "Upgrade: websocket\r\n"
              "Connection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "Sec-WebSocket-Protocol: chat\r\n"
              "\r\n");
    EXPECT_EQ(upgrade_response(kRfcKey, "chat", "permessage-deflate; client_max_window_bits=15"),
              "HTTP/1.1 101 Switching Protocols\r\n"
              "Upgrade: websocket\r\n"
              "Connection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "Sec-WebSocket-Protocol: chat\r\n"
              "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n"
              "\r\n");
    EXPECT_EQ(upgrade_response(kRfcKey, {}, "permessage-deflate"),
              "HTTP/1.1 101 Switching Protocols\r\n"
              "Upgrade: websocket\r\n"
              "Connection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "Sec-WebSocket-Extensions: permessage-deflate\r\n"
              "\r\n");
}

TEST(UpgradeResponse, ForTheChromiumRequest) {
    auto p = test::parse_guarded(test::chromium_request());
    ASSERT_EQ(p.result.status, ParseStatus::complete);
    UpgradeRequest up;
    ASSERT_EQ(validate_upgrade(p.request, up).status, 0);
    std::string response = upgrade_response(up.key);
    EXPECT_EQ(response.substr(response.size() - 4), "\r\n\r\n");
    EXPECT_NE(response.find("Sec-WebSocket-Accept: " + accept_of("EibSFDGYNGf4NOFS0ZrIaw==") +
                            "\r\n\r\n"),
              std::string::npos);
}

TEST(UpgradeResponse, TooSmallBufferWritesNothingUsable) {
    char out[512];
    for (size_t cap = 0; cap < kRfcResponse.size(); ++cap) {
        EXPECT_EQ(write_upgrade_response(out, cap, kRfcKey), 0u) << cap;
    }
    EXPECT_EQ(write_upgrade_response(out, kRfcResponse.size(), kRfcKey), kRfcResponse.size());
    EXPECT_EQ(std::string(out, kRfcResponse.size()), kRfcResponse);
}

TEST(UpgradeResponse, RefusesLineBreaksInValues) {
    char out[512];
    EXPECT_EQ(write_upgrade_response(out, sizeof(out), kRfcKey, "chat\r\nX: y"), 0u);
    EXPECT_EQ(write_upgrade_response(out, sizeof(out), kRfcKey, {}, "a\nb"), 0u);
}

std::string http_error(int status, std::string_view reason) {
    char out[512];
    size_t n = write_http_error(out, sizeof(out), status, reason);
    return {out, n};
}

TEST(HttpError, BadRequestByteExact) {
    EXPECT_EQ(http_error(400, "bare LF in request head"),
              "HTTP/1.1 400 Bad Request\r\n"
              "Content-Type: text/plain\r\n"
              "Content-Length: 24\r\n"
              "Connection: close\r\n"
              "\r\n"
              "bare LF in request head\n");
}

TEST(HttpError, UpgradeRequiredByteExact) {
    EXPECT_EQ(http_error(426, "unsupported Sec-WebSocket-Version"),
              "HTTP/1.1 426 Upgrade Required\r\n"
              "Content-Type: text/plain\r\n"
              "Content-Length: 34\r\n"
              "Connection: close\r\n"
              "Upgrade: websocket\r\n"
              "Sec-WebSocket-Version: 13\r\n"
              "\r\n"
              "unsupported Sec-WebSocket-Version\n");
}

TEST(HttpError, MethodNotAllowedNamesGet) {
    EXPECT_EQ(http_error(405, "x"),
              "HTTP/1.1 405 Method Not Allowed\r\n"
              "Content-Type: text/plain\r\n"
              "Content-Length: 2\r\n"
              "Connection: close\r\n"
              "Allow: GET\r\n"
              "\r\n"
              "x\n");
}

TEST(HttpError, AnswerToHeadHasNoBody) {
    char out[512];
    size_t n = write_http_error(out, sizeof(out), 405, "HEAD cannot upgrade", true);
    EXPECT_EQ(std::string(out, n),
              "HTTP/1.1 405 Method Not Allowed\r\n"
              "Content-Type: text/plain\r\n"
              "Content-Length: 20\r\n"
              "Connection: close\r\n"
              "Allow: GET\r\n"
              "\r\n");
}

TEST(HttpError, OtherStatusesAndLimits) {
    EXPECT_TRUE(http_error(431, "too many header fields")
                    .starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    EXPECT_TRUE(http_error(505, "").starts_with("HTTP/1.1 505 HTTP Version Not Supported\r\n"));
    EXPECT_EQ(http_error(599, "odd"),
              "HTTP/1.1 599 \r\nContent-Type: text/plain\r\nContent-Length: 4\r\n"
              "Connection: close\r\n\r\nodd\n");
    EXPECT_EQ(http_error(42, "x"), "");
    EXPECT_EQ(http_error(400, "a\r\nb"), "");
    std::string full = http_error(400, "reason");
    char out[512];
    for (size_t cap = 0; cap < full.size(); ++cap) {
        EXPECT_EQ(write_http_error(out, cap, 400, "reason"), 0u) << cap;
    }
}

TEST(HttpResponseHead, ByteExact) {
    char out[256];
    size_t n =
        write_http_response_head(out, sizeof(out), 200, "text/html; charset=utf-8", 1234, true);
    EXPECT_EQ(std::string(out, n),
              "HTTP/1.1 200 OK\r\n"
              "Content-Type: text/html; charset=utf-8\r\n"
              "Content-Length: 1234\r\n"
              "Connection: keep-alive\r\n"
              "\r\n");
    n = write_http_response_head(out, sizeof(out), 404, "text/plain", 0, false);
    EXPECT_EQ(std::string(out, n),
              "HTTP/1.1 404 Not Found\r\n"
              "Content-Type: text/plain\r\n"
              "Content-Length: 0\r\n"
              "Connection: close\r\n"
              "\r\n");
    n = write_http_response_head(out, sizeof(out), 200, "a", 18446744073709551615ull, true);
    EXPECT_NE(std::string(out, n).find("Content-Length: 18446744073709551615\r\n"),
              std::string::npos);
    EXPECT_EQ(write_http_response_head(out, 20, 200, "text/plain", 0, true), 0u);
}

TEST(HttpStatusText, KnownAndUnknown) {
    EXPECT_EQ(http_status_text(101), "Switching Protocols");
    EXPECT_EQ(http_status_text(400), "Bad Request");
    EXPECT_EQ(http_status_text(405), "Method Not Allowed");
    EXPECT_EQ(http_status_text(426), "Upgrade Required");
    EXPECT_EQ(http_status_text(431), "Request Header Fields Too Large");
    EXPECT_EQ(http_status_text(505), "HTTP Version Not Supported");
    EXPECT_EQ(http_status_text(299), "");
}

}  // namespace
}  // namespace wsgate::proto
