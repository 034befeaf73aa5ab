// The Centrifugo layer allocates nothing per message once warmed up: the
// parser's buffers grow to the largest command seen and stay, the writers
// write into caller buffers, the JWT verifier reuses its parser. This binary
// replaces the global operator new to count allocations made inside a window.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "proto/centrifugo_api.hpp"
#include "proto/centrifugo_command_parser.hpp"
#include "proto/centrifugo_reply_writer.hpp"
#include "proto/jwt_hs256.hpp"

// The replacement operator delete frees with free() what the replacement
// operator new took from malloc(); GCC cannot see that pairing once both are
// inlined into a caller and warns about a mismatch that is not there.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {

std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void* counted_alloc(size_t size) {
    if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
    void* p = std::malloc(size == 0 ? 1 : size);
    return p;
}

}  // namespace

void* operator new(size_t size) {
    void* p = counted_alloc(size);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
void* operator new[](size_t size) {
    void* p = counted_alloc(size);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
void* operator new(size_t size, const std::nothrow_t&) noexcept {
    return counted_alloc(size);
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
    return counted_alloc(size);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
    std::free(p);
}

namespace wsgate::proto::centrifugo {
namespace {

class CountAllocations {
  public:
    CountAllocations() {
        g_allocations = 0;
        g_counting = true;
    }
    ~CountAllocations() { g_counting = false; }
    long count() const { return g_allocations.load(); }
};

constexpr std::string_view kFrame =
    "{\"publish\":{\"channel\":\"news:sport\",\"data\":{\"text\":\"hi\",\"n\":1500,\"list\":[1,"
    "\"two\",null]}},\"id\":3}\n{\"history\":{\"channel\":\"news:sport\",\"since\":{\"offset\":3,"
    "\"epoch\":\"e1\"},\"limit\":10,\"reverse\":true},\"id\":4}\n{}";

TEST(CentrifugoAllocations, ParserAllocatesNothingPerFrameOnceWarm) {
    CommandParser parser(1 << 20);
    std::string padded(kFrame);
    padded.append(kCommandPadding, ' ');
    auto parse_all = [&](bool copied) {
        if (copied) {
            parser.start_copied(kFrame);
        } else {
            parser.start_padded(std::string_view(padded.data(), kFrame.size()), padded.size());
        }
        Command c;
        int n = 0;
        while (parser.next(c) == ParseStatus::command)
            ++n;
        return n;
    };
    {
        // The counter sees simdjson's allocations (nothrow new[]): the first
        // frame of a new parser allocates its buffers.
        CountAllocations warm_up;
        ASSERT_EQ(parse_all(true), 3);
        EXPECT_GT(warm_up.count(), 0);
    }
    CountAllocations window;
    int commands = 0;
    for (int i = 0; i < 1000; ++i)
        commands += parse_all(i % 2 == 0);
    EXPECT_EQ(commands, 3000);
    EXPECT_EQ(window.count(), 0);
}

TEST(CentrifugoAllocations, WritersAllocateNothing) {
    std::vector<char> buffer(4096);
    ClientInfo info{"42", "c-9"};
    CountAllocations window;
    for (int i = 0; i < 1000; ++i) {
        JsonOut out(buffer);
        EncodedPublication e = write_publication_push(
            out, "news:sport", Publication{"{\"a\":1}", static_cast<uint64_t>(i + 1), &info});
        append_separator(out);
        begin_history_reply(out, 4);
        add_publication(out, out.view().substr(e.object_begin, e.object_end - e.object_begin));
        end_history_reply(out, "ep", 1);
        append_separator(out);
        write_error_reply(out, 5, ErrorCode::limit_exceeded);
        ASSERT_TRUE(out.ok());
    }
    EXPECT_EQ(window.count(), 0);
}

TEST(CentrifugoAllocations, ApiParserAndWritersAllocateNothingOnceWarm) {
    constexpr std::string_view kPublish =
        R"({"channel":"news:sp\u006frt","data":{"text":"hi","n":[1,2,3]},"skip_history":false})";
    constexpr std::string_view kBroadcast =
        R"({"channels":["a","b","c\u0021","d","e","f","g","h"],"data":{"x":1}})";
    ApiParser parser(1 << 20);
    ApiRequest r;
    {
        CountAllocations warm_up;
        ASSERT_EQ(parser.parse(ApiMethod::publish, kPublish, r), ApiParseError::none);
        ASSERT_EQ(parser.parse(ApiMethod::broadcast, kBroadcast, r), ApiParseError::none);
        EXPECT_GT(warm_up.count(), 0);
    }
    std::vector<char> buffer(4096);
    CountAllocations window;
    for (int i = 0; i < 1000; ++i) {
        ASSERT_EQ(parser.parse(ApiMethod::publish, kPublish, r), ApiParseError::none);
        ASSERT_EQ(parser.parse(ApiMethod::broadcast, kBroadcast, r), ApiParseError::none);
        ASSERT_EQ(r.channels.size(), 8u);
        JsonOut out(buffer);
        begin_api_broadcast_result(out);
        for (std::string_view channel : r.channels) {
            (void)channel;
            add_api_broadcast_published(out, static_cast<uint64_t>(i + 1), "epoch");
        }
        end_api_broadcast_result(out);
        write_api_publish_result(out, 7, "epoch");
        ASSERT_TRUE(out.ok());
    }
    EXPECT_EQ(window.count(), 0);
}

TEST(CentrifugoAllocations, JwtVerifierAllocatesNothingOnceWarm) {
    // {"sub":"42","exp":2000000000,...} signed with "wsgate-test-secret" (python3).
    constexpr std::string_view kToken =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiI0MiIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxNzAwMDAwMDAwLCJpbmZvIjp7Im5hbWUiOiJBbGlj"
        "ZSJ9fQ.v4pCZ3KFpVL5L-qS7jkcAAGSWePO4aYbA84T6O4CaBk";
    jwt::TokenVerifier verifier("wsgate-test-secret");
    jwt::Claims claims;
    ASSERT_EQ(verifier.verify(kToken, 1800000000, claims), jwt::JwtError::none);
    CountAllocations window;
    for (int i = 0; i < 100; ++i) {
        ASSERT_EQ(verifier.verify(kToken, 1800000000, claims), jwt::JwtError::none);
    }
    EXPECT_EQ(window.count(), 0);
}

}  // namespace
}  // namespace wsgate::proto::centrifugo
