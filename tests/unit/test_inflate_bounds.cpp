// Work bounds of MessageInflater (RFC 7692 §8.2 leaves decompression abuse
// to the implementation): empty-block padding, ratio bombs, stream restarts
// and the compressed-size limit. Each hostile stream is refused after a
// small, fixed amount of input, whatever the chunking.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <span>
#include <string_view>
#include <vector>

#include "proto/message_inflater.hpp"

namespace wsgate::proto {
namespace {

using Bytes = std::vector<uint8_t>;

// Raw DEFLATE of `plain` ended with a sync flush, byte-aligned, with the
// 00 00 ff ff that ends it kept: more blocks may follow.
Bytes sync_flushed(const Bytes& plain, int flush = Z_SYNC_FLUSH) {
    z_stream z{};
    EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    Bytes out(plain.size() + plain.size() / 8 + 64);
    z.next_in = const_cast<Bytef*>(plain.data());
    z.avail_in = static_cast<uInt>(plain.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&z, flush);
    EXPECT_TRUE(rc == Z_OK || rc == Z_STREAM_END);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    return out;
}

// A whole message payload as RFC 7692 §7.2.1 senders produce it: the sync
// flush's trailing 00 00 ff ff removed.
Bytes message_of(const Bytes& plain) {
    Bytes out = sync_flushed(plain);
    out.resize(out.size() - 4);
    return out;
}

Bytes repeated(const Bytes& unit, size_t times) {
    Bytes out;
    out.reserve(unit.size() * times);
    for (size_t i = 0; i < times; ++i)
        out.insert(out.end(), unit.begin(), unit.end());
    return out;
}

Bytes concat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// An empty fixed-Huffman block with BFINAL set: BFINAL=1, BTYPE=01, then the
// 7-bit end-of-block code; 10 bits, and the restart after it drops the rest
// of the second byte. Two bytes per stream restart.
const Bytes kEmptyFinalBlock = {0x03, 0x00};
// An empty stored block without BFINAL (what a sync flush emits).
const Bytes kEmptyStoredBlock = {0x00, 0x00, 0x00, 0xff, 0xff};

struct Outcome {
    InflateStatus status = InflateStatus::ok;
    uint64_t consumed = 0;
    uint64_t produced = 0;
    uint64_t work = 0;
};

// Feeds `msg` in chunks of `chunk` bytes with 16 KiB of output space per
// call (the server's scratch), then finishes. Stops at the first error.
Outcome run_message(MessageInflater& inf, const Bytes& msg, size_t chunk = SIZE_MAX) {
    Outcome o;
    std::vector<uint8_t> space(16 * 1024);
    size_t pos = 0;
    while (pos < msg.size()) {
        std::span<const uint8_t> in(msg.data() + pos, std::min(chunk, msg.size() - pos));
        pos += in.size();
        while (!in.empty()) {
            InflateResult r = inf.inflate(in, space);
            EXPECT_LE(r.consumed, in.size());
            EXPECT_GE(r.work, r.produced);
            o.consumed += r.consumed;
            o.produced += r.produced;
            o.work += r.work;
            if (r.status != InflateStatus::ok) {
                o.status = r.status;
                return o;
            }
            in = in.subspan(r.consumed);
        }
    }
    for (int guard = 0; guard < 1 << 20; ++guard) {
        InflateResult r = inf.finish(space);
        o.produced += r.produced;
        o.work += r.work;
        if (r.status != InflateStatus::ok) {
            o.status = r.status;
            return o;
        }
    }
    ADD_FAILURE() << "finish() never completed";
    return o;
}

Bytes zeros(size_t n) {
    return Bytes(n, 0);
}

Bytes random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes b(n);
    for (auto& x : b)
        x = static_cast<uint8_t>(rng());
    return b;
}

// ---- padding: input that produces no output ----

TEST(InflateBounds, EmptyFinalBlocksWithAFullWindowStopEarly) {
    // 32 KiB of data fill the window, then 1 MB of empty BFINAL blocks: each
    // 2 bytes restart the stream and copy the window out and back in (main
    // spent ~1.4 s of CPU per MB on this while inflating only 32 KiB).
    const Bytes msg = concat(sync_flushed(zeros(32 * 1024)), repeated(kEmptyFinalBlock, 500000));
    for (size_t chunk : {size_t{1}, size_t{7}, size_t{16 * 1024}, SIZE_MAX}) {
        MessageInflater inf;
        Outcome o = run_message(inf, msg, chunk);
        EXPECT_EQ(o.status, InflateStatus::over_ratio) << "chunk " << chunk;
        // The restarts count as work: the ratio bound fires within a few
        // dozen blocks of the grace, not after the megabyte.
        EXPECT_LT(o.consumed, 1024u) << "chunk " << chunk;
        EXPECT_EQ(o.produced, 32u * 1024) << "chunk " << chunk;
        EXPECT_GT(o.work, kDefaultInflateRatioGraceBytes) << "chunk " << chunk;
        EXPECT_LT(o.work, kDefaultInflateRatioGraceBytes + 4 * 64 * 1024) << "chunk " << chunk;
    }
}

TEST(InflateBounds, EmptyBlocksWithoutOutputAreRefused) {
    // With no window to copy each block is cheap, but a message of nothing
    // but empty blocks is padding: refused once the run passes the bound.
    for (const Bytes& unit : {kEmptyFinalBlock, kEmptyStoredBlock}) {
        const Bytes msg = concat(sync_flushed(random_bytes(100, 1)), repeated(unit, 100000));
        for (size_t chunk : {size_t{1}, size_t{3}, size_t{16 * 1024}, SIZE_MAX}) {
            MessageInflater inf;
            Outcome o = run_message(inf, msg, chunk);
            EXPECT_EQ(o.status, InflateStatus::no_output) << "chunk " << chunk;
            EXPECT_EQ(o.produced, 100u);
            // A run counts from the last zlib call with output, so at most
            // twice the bound passes, whatever the chunking.
            EXPECT_LE(o.consumed, 200 + 2 * (kDefaultMaxInputWithoutOutput + 1))
                << "chunk " << chunk;
        }
    }
}

TEST(InflateBounds, SyncFlushedFragmentsAreNotPadding) {
    // A sender that sync-flushes every small piece puts an empty stored
    // block after each: a few bytes without output, then output again.
    Bytes msg;
    z_stream z{};
    ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    const Bytes plain = random_bytes(64 * 1024, 2);
    Bytes out(256);
    for (size_t pos = 0; pos < plain.size(); pos += 16) {
        z.next_in = const_cast<Bytef*>(plain.data() + pos);
        z.avail_in = 16;
        z.next_out = out.data();
        z.avail_out = static_cast<uInt>(out.size());
        ASSERT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
        msg.insert(msg.end(), out.begin(), out.end() - z.avail_out);
    }
    deflateEnd(&z);
    msg.resize(msg.size() - 4);  // the message's own trailer (RFC 7692 §7.2.1)
    MessageInflater inf;
    Outcome o = run_message(inf, msg);
    EXPECT_EQ(o.status, InflateStatus::done);
    EXPECT_EQ(o.produced, plain.size());
}

// ---- ratio: a bomb is refused after the grace, not at the size limit ----

TEST(InflateBounds, RatioBombStopsAfterGrace) {
    const Bytes bomb = message_of(zeros(64 * 1024 * 1024));
    ASSERT_LT(bomb.size(), 100u * 1024);  // ~1030:1
    for (size_t chunk : {size_t{100}, size_t{16 * 1024}, SIZE_MAX}) {
        MessageInflater inf;  // defaults: 16 MiB limit, ratio 256 after 1 MiB
        Outcome o = run_message(inf, bomb, chunk);
        EXPECT_EQ(o.status, InflateStatus::over_ratio) << "chunk " << chunk;
        // At most one output space past the grace: 1/16 of what the size
        // limit alone would have let through.
        EXPECT_GT(o.produced, kDefaultInflateRatioGraceBytes);
        EXPECT_LE(o.produced, kDefaultInflateRatioGraceBytes + 16 * 1024) << "chunk " << chunk;
    }
    // With the ratio bound off, only the size limit stops it (1009).
    InflaterSettings is;
    is.max_ratio = 0;
    MessageInflater inf(is);
    Outcome o = run_message(inf, bomb);
    EXPECT_EQ(o.status, InflateStatus::too_big);
    EXPECT_EQ(o.produced, is.max_message_bytes);
}

TEST(InflateBounds, HighlyCompressibleMessageWithinGraceIsAccepted) {
    const Bytes msg = message_of(zeros(kDefaultInflateRatioGraceBytes));
    MessageInflater inf;
    Outcome o = run_message(inf, msg);
    EXPECT_EQ(o.status, InflateStatus::done);
    EXPECT_EQ(o.produced, kDefaultInflateRatioGraceBytes);
}

TEST(InflateBounds, ModestRatioBeyondGraceIsAccepted) {
    // 4 MiB of text-like data at ~8:1: far past the grace, far under 256:1.
    std::mt19937 rng(3);
    Bytes plain;
    static const char* words[] = {"price", "symbol", "BTC-USD", "qty", "side", "buy", "sell"};
    while (plain.size() < 4 * 1024 * 1024) {
        std::string_view w = words[rng() % 7];
        plain.insert(plain.end(), w.begin(), w.end());
        const std::string n = std::to_string(rng() % 100000);
        plain.insert(plain.end(), n.begin(), n.end());
    }
    MessageInflater inf;
    Outcome o = run_message(inf, message_of(plain), 16 * 1024);
    EXPECT_EQ(o.status, InflateStatus::done);
    EXPECT_EQ(o.produced, plain.size());
}

TEST(InflateBounds, RatioIsConfigurable) {
    const Bytes msg = message_of(zeros(256 * 1024));  // ~1000:1
    InflaterSettings is;
    is.ratio_grace_bytes = 64 * 1024;
    is.max_ratio = 100;
    MessageInflater strict(is);
    Outcome o = run_message(strict, msg);
    EXPECT_EQ(o.status, InflateStatus::over_ratio);
    EXPECT_LE(o.produced, 64u * 1024 + 16 * 1024);
    is.max_ratio = 2000;  // above DEFLATE's maximum: never fires
    MessageInflater lenient(is);
    EXPECT_EQ(run_message(lenient, msg).status, InflateStatus::done);
}

TEST(InflateBounds, RestartsWithOutputCountAsWork) {
    // One literal per BFINAL block: output never stops, so the padding bound
    // cannot see it, but each 3-byte block copies the whole window twice.
    // (The window is filled with zeros so that the message's ratio is
    // the restarts' alone.)
    const Bytes one_literal = sync_flushed({'a'}, Z_FINISH);
    ASSERT_LE(one_literal.size(), 3u);
    const Bytes msg = concat(sync_flushed(zeros(32 * 1024)), repeated(one_literal, 100000));
    MessageInflater inf;
    Outcome o = run_message(inf, msg);
    EXPECT_EQ(o.status, InflateStatus::over_ratio);
    EXPECT_LT(o.consumed, 1024u);
    EXPECT_LT(o.produced, 32u * 1024 + 32);
}

// ---- compressed input is counted against its own limit ----

TEST(InflateBounds, CompressedBytesOverLimitAreTooBig) {
    // Random data does not compress: stored blocks, output == input, so
    // only the compressed-size limit can fire first.
    const Bytes msg = message_of(random_bytes(3000, 5));
    InflaterSettings is;
    is.max_compressed_bytes = msg.size();
    {
        MessageInflater inf(is);
        EXPECT_EQ(run_message(inf, msg, 100).status, InflateStatus::done);  // inclusive
    }
    is.max_compressed_bytes = msg.size() - 1;
    for (size_t chunk : {size_t{1}, size_t{100}, SIZE_MAX}) {
        MessageInflater inf(is);
        Outcome o = run_message(inf, msg, chunk);
        EXPECT_EQ(o.status, InflateStatus::too_big) << "chunk " << chunk;
        EXPECT_LE(o.consumed, is.max_compressed_bytes);
        // Unusable until released, like every other failure.
        std::vector<uint8_t> space(64);
        EXPECT_EQ(inf.inflate(msg, space).status, InflateStatus::error);
    }
}

TEST(InflateBounds, CountsResetPerMessage) {
    // Each message starts its own tally: many messages near the bounds
    // never add up to a refusal.
    const Bytes msg = message_of(zeros(kDefaultInflateRatioGraceBytes - 1024));
    InflaterSettings is;
    is.max_compressed_bytes = msg.size();
    MessageInflater inf(is);
    for (int i = 0; i < 5; ++i) {
        Outcome o = run_message(inf, msg);
        ASSERT_EQ(o.status, InflateStatus::done) << "message " << i;
    }
}

TEST(InflateBounds, ReserveStreamTakesTheStreamEarly) {
    InflaterSettings is;
    is.no_context_takeover = true;
    MessageInflater inf(is);
    EXPECT_FALSE(inf.holds_stream());
    ASSERT_TRUE(inf.reserve_stream());
    EXPECT_TRUE(inf.holds_stream());
    EXPECT_GT(inf.memory_bytes(), 0u);
    EXPECT_EQ(run_message(inf, message_of(zeros(100))).status, InflateStatus::done);
    EXPECT_FALSE(inf.holds_stream());  // no_context_takeover: given back at the end
    ASSERT_TRUE(inf.reserve_stream());
    inf.release();
    EXPECT_FALSE(inf.holds_stream());
}

}  // namespace
}  // namespace wsgate::proto
