// permessage-deflate data path (RFC 7692 §7.2): MessageDeflater,
// MessageInflater, the per-thread zlib stream pool and memory accounting.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "proto/message_deflater.hpp"
#include "proto/message_inflater.hpp"
#include "proto/zstream.hpp"
#include "proto/zstream_pool.hpp"

namespace wsgate::proto {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes bytes(std::string_view s) {
    return Bytes(s.begin(), s.end());
}

Bytes hex(std::initializer_list<int> v) {
    Bytes b;
    for (int x : v)
        b.push_back(static_cast<uint8_t>(x));
    return b;
}

// Compresses `msg` through the public API with the given input piece size and
// output space size (the connection's send buffer).
Bytes deflate_message(MessageDeflater& d, const Bytes& msg, size_t in_chunk, size_t out_size) {
    Bytes out;
    std::vector<uint8_t> space(out_size);
    size_t pos = 0;
    while (pos < msg.size()) {
        std::span<const uint8_t> in(msg.data() + pos, std::min(in_chunk, msg.size() - pos));
        while (!in.empty()) {
            DeflateResult r = d.compress(in, space);
            EXPECT_EQ(r.status, DeflateStatus::ok);
            if (r.status != DeflateStatus::ok) return out;
            out.insert(out.end(), space.begin(),
                       space.begin() + static_cast<ptrdiff_t>(r.produced));
            in = in.subspan(r.consumed);
            pos += r.consumed;
        }
    }
    for (int guard = 0; guard < 1 << 24; ++guard) {
        DeflateResult r = d.finish(space);
        out.insert(out.end(), space.begin(), space.begin() + static_cast<ptrdiff_t>(r.produced));
        if (r.status == DeflateStatus::done) return out;
        EXPECT_EQ(r.status, DeflateStatus::ok);
        if (r.status != DeflateStatus::ok) return out;
    }
    ADD_FAILURE() << "finish() never completed";
    return out;
}

struct Inflated {
    InflateStatus status = InflateStatus::ok;
    Bytes data;
    size_t consumed = 0;
};

// Inflates one message given as frames (each frame fed in pieces of
// `in_chunk` bytes) with `out_size` bytes of output space per call.
Inflated inflate_frames(MessageInflater& inf, const std::vector<Bytes>& frames, size_t in_chunk,
                        size_t out_size) {
    Inflated res;
    std::vector<uint8_t> space(out_size);
    for (const Bytes& frame : frames) {
        size_t pos = 0;
        while (pos < frame.size()) {
            std::span<const uint8_t> in(frame.data() + pos, std::min(in_chunk, frame.size() - pos));
            while (!in.empty()) {
                InflateResult r = inf.inflate(in, space);
                res.data.insert(res.data.end(), space.begin(),
                                space.begin() + static_cast<ptrdiff_t>(r.produced));
                res.consumed += r.consumed;
                if (r.status != InflateStatus::ok) {
                    res.status = r.status;
                    return res;
                }
                in = in.subspan(r.consumed);
                pos += r.consumed;
            }
        }
    }
    for (int guard = 0; guard < 1 << 24; ++guard) {
        InflateResult r = inf.finish(space);
        res.data.insert(res.data.end(), space.begin(),
                        space.begin() + static_cast<ptrdiff_t>(r.produced));
        if (r.status != InflateStatus::ok) {
            res.status = r.status;
            return res;
        }
    }
    ADD_FAILURE() << "finish() never completed";
    return res;
}

Inflated inflate_message(MessageInflater& inf, const Bytes& msg, size_t in_chunk = SIZE_MAX,
                         size_t out_size = 1 << 16) {
    return inflate_frames(inf, {msg}, in_chunk, out_size);
}

// Independent reference: plain zlib, one call each way, trailer handled by
// hand as RFC 7692 §7.2.1/§7.2.2 describe.
Bytes zlib_reference_deflate(z_stream& z, const Bytes& msg) {
    Bytes out(msg.size() + msg.size() / 8 + 64);
    z.next_in = const_cast<Bytef*>(msg.data());
    z.avail_in = static_cast<uInt>(msg.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    EXPECT_GT(z.avail_out, 0u);
    out.resize(out.size() - z.avail_out);
    EXPECT_GE(out.size(), 4u);
    EXPECT_EQ(Bytes(out.end() - 4, out.end()), hex({0x00, 0x00, 0xff, 0xff}));
    out.resize(out.size() - 4);
    return out;
}

Bytes zlib_reference_inflate(z_stream& z, Bytes msg, size_t expected_size) {
    for (int b : {0x00, 0x00, 0xff, 0xff})
        msg.push_back(static_cast<uint8_t>(b));
    Bytes out(expected_size + 1);
    z.next_in = msg.data();
    z.avail_in = static_cast<uInt>(msg.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&z, Z_SYNC_FLUSH);
    EXPECT_TRUE(rc == Z_OK || rc == Z_BUF_ERROR) << rc;
    EXPECT_EQ(z.avail_in, 0u);
    out.resize(out.size() - z.avail_out);
    return out;
}

// JSON-like text: compressible the way real WebSocket traffic is.
Bytes json_like(size_t size, uint32_t seed) {
    std::mt19937 rng(seed);
    static const char* keys[] = {"id", "type", "price", "qty", "symbol", "ts", "side", "venue"};
    static const char* syms[] = {"BTC-USD", "ETH-USD", "SOL-USD", "EUR-USD"};
    std::string s;
    while (s.size() < size) {
        s += "{\"";
        s += keys[rng() % 8];
        s += "\":" + std::to_string(rng() % 100000) + ",\"symbol\":\"" + syms[rng() % 4] +
             "\",\"price\":" + std::to_string(rng() % 70000) + "." + std::to_string(rng() % 100) +
             ",\"side\":\"" + (rng() % 2 ? "buy" : "sell") + "\"},";
    }
    s.resize(size);
    return bytes(s);
}

Bytes random_bytes(size_t size, uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes b(size);
    for (auto& x : b)
        x = static_cast<uint8_t>(rng());
    return b;
}

const Bytes kHello = bytes("Hello");
// RFC 7692 §7.2.3.1.
const Bytes kHelloCompressed = hex({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});

// ---- RFC 7692 §7.2.3 examples, byte for byte ----

TEST(MessageDeflate, Rfc7692_7_2_3_1_DeflateHelloExact) {
    for (size_t out_size : {kMinDeflateOutput, size_t{17}, size_t{20}, size_t{64}}) {
        for (size_t in_chunk : {size_t{1}, size_t{2}, size_t{5}}) {
            MessageDeflater d;
            EXPECT_EQ(deflate_message(d, kHello, in_chunk, out_size), kHelloCompressed)
                << "out " << out_size << " in " << in_chunk;
        }
    }
}

TEST(MessageDeflate, Rfc7692_7_2_3_1_InflateHello) {
    MessageInflater inf;
    Inflated r = inflate_message(inf, kHelloCompressed);
    EXPECT_EQ(r.status, InflateStatus::done);
    EXPECT_EQ(r.data, kHello);
}

TEST(MessageDeflate, Rfc7692_7_2_3_1_InflateFragmentedAndEverySplit) {
    // The RFC's two frames: f2 48 cd | c9 c9 07 00.
    {
        MessageInflater inf;
        Inflated r = inflate_frames(inf, {hex({0xf2, 0x48, 0xcd}), hex({0xc9, 0xc9, 0x07, 0x00})},
                                    SIZE_MAX, 64);
        EXPECT_EQ(r.status, InflateStatus::done);
        EXPECT_EQ(r.data, kHello);
    }
    for (size_t split = 0; split <= kHelloCompressed.size(); ++split) {
        for (size_t out_size : {size_t{1}, size_t{2}, size_t{64}}) {
            MessageInflater inf;
            Bytes a(kHelloCompressed.begin(),
                    kHelloCompressed.begin() + static_cast<ptrdiff_t>(split));
            Bytes b(kHelloCompressed.begin() + static_cast<ptrdiff_t>(split),
                    kHelloCompressed.end());
            Inflated r = inflate_frames(inf, {a, b}, 1, out_size);
            EXPECT_EQ(r.status, InflateStatus::done) << split;
            EXPECT_EQ(r.data, kHello) << split;
        }
    }
}

TEST(MessageDeflate, Rfc7692_7_2_3_2_ContextTakeover) {
    const Bytes second = hex({0xf2, 0x00, 0x11, 0x00, 0x00});
    MessageDeflater d;
    EXPECT_EQ(deflate_message(d, kHello, 5, 64), kHelloCompressed);
    EXPECT_EQ(deflate_message(d, kHello, 5, 64), second);
    MessageInflater inf;
    EXPECT_EQ(inflate_message(inf, kHelloCompressed).data, kHello);
    Inflated r = inflate_message(inf, second);
    EXPECT_EQ(r.status, InflateStatus::done);
    EXPECT_EQ(r.data, kHello);
}

TEST(MessageDeflate, Rfc7692_7_2_3_2_NoContextTakeover) {
    DeflaterSettings ds;
    ds.no_context_takeover = true;
    MessageDeflater d(ds);
    EXPECT_EQ(deflate_message(d, kHello, 5, 64), kHelloCompressed);
    EXPECT_EQ(deflate_message(d, kHello, 5, 64), kHelloCompressed);
    // An inflater without context cannot resolve the back-reference.
    InflaterSettings is;
    is.no_context_takeover = true;
    MessageInflater inf(is);
    EXPECT_EQ(inflate_message(inf, kHelloCompressed).data, kHello);
    EXPECT_EQ(inflate_message(inf, hex({0xf2, 0x00, 0x11, 0x00, 0x00})).status,
              InflateStatus::invalid_data);
}

TEST(MessageDeflate, Rfc7692_7_2_3_3_StoredBlock) {
    MessageInflater inf;
    Inflated r = inflate_message(
        inf, hex({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}), 1, 1);
    EXPECT_EQ(r.status, InflateStatus::done);
    EXPECT_EQ(r.data, kHello);
}

TEST(MessageDeflate, Rfc7692_7_2_3_4_BfinalBlock) {
    for (size_t chunk : {size_t{1}, SIZE_MAX}) {
        MessageInflater inf;
        Inflated r =
            inflate_message(inf, hex({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), chunk);
        EXPECT_EQ(r.status, InflateStatus::done);
        EXPECT_EQ(r.data, kHello);
        // The window survives the end of zlib's stream: the next message may
        // refer to "Hello" (context takeover).
        r = inflate_message(inf, hex({0xf2, 0x00, 0x11, 0x00, 0x00}), chunk);
        EXPECT_EQ(r.status, InflateStatus::done);
        EXPECT_EQ(r.data, kHello);
    }
    // Without the trailing 00 (a sender that flushed with Z_FINISH).
    MessageInflater inf;
    Inflated r = inflate_message(inf, hex({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
    EXPECT_EQ(r.status, InflateStatus::done);
    EXPECT_EQ(r.data, kHello);
}

TEST(MessageDeflate, Rfc7692_7_2_3_5_TwoBlocks) {
    MessageInflater inf;
    Inflated r = inflate_message(
        inf, hex({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}));
    EXPECT_EQ(r.status, InflateStatus::done);
    EXPECT_EQ(r.data, kHello);
}

TEST(MessageDeflate, Rfc7692_7_2_3_6_EmptyFragment) {
    // "Hello" sync-flushed in one frame, then a frame holding only 00.
    MessageInflater inf;
    Inflated r = inflate_frames(
        inf, {hex({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff}), hex({0x00})},
        SIZE_MAX, 64);
    EXPECT_EQ(r.status, InflateStatus::done);
    EXPECT_EQ(r.data, kHello);
}

TEST(MessageDeflate, EmptyMessage) {
    MessageDeflater d;
    EXPECT_EQ(deflate_message(d, {}, 1, 16), hex({0x00}));
    MessageInflater inf;
    Inflated r = inflate_message(inf, hex({0x00}));
    EXPECT_EQ(r.status, InflateStatus::done);
    EXPECT_TRUE(r.data.empty());
    // An empty payload with RSV1 (no block at all) is an empty message too.
    r = inflate_message(inf, {});
    EXPECT_EQ(r.status, InflateStatus::done);
    EXPECT_TRUE(r.data.empty());
    // Context is intact afterwards.
    EXPECT_EQ(inflate_message(inf, kHelloCompressed).data, kHello);
}

// ---- round trips and interop with plain zlib ----

TEST(MessageDeflate, RoundTripMatrix) {
    const size_t sizes[] = {0, 1, 100, 16 * 1024, 1024 * 1024};
    for (uint8_t bits : {uint8_t{9}, uint8_t{12}, uint8_t{15}}) {
        for (bool nct : {false, true}) {
            for (size_t size : sizes) {
                // Coarse pieces for the big message keep the run short.
                const size_t in_chunk = size > 100000 ? 65521 : 7;
                const size_t out_size = size > 100000 ? 4093 : kMinDeflateOutput;
                for (bool compressible : {true, false}) {
                    SCOPED_TRACE(::testing::Message()
                                 << "bits " << int(bits) << " nct " << nct << " size " << size
                                 << " json " << compressible);
                    DeflaterSettings ds;
                    ds.window_bits = bits;
                    ds.no_context_takeover = nct;
                    InflaterSettings is;
                    is.window_bits = bits;
                    is.no_context_takeover = nct;
                    is.max_message_bytes = size;
                    MessageDeflater d(ds);
                    MessageInflater inf(is);
                    // Three messages through the same pair: context carries over.
                    for (uint32_t m = 0; m < 3; ++m) {
                        Bytes msg = compressible ? json_like(size, m % 2) : random_bytes(size, m);
                        Bytes packed = deflate_message(d, msg, in_chunk, out_size);
                        EXPECT_LE(packed.size(), deflate_output_bound(size));
                        Inflated r = inflate_message(inf, packed, in_chunk, out_size);
                        ASSERT_EQ(r.status, InflateStatus::done);
                        ASSERT_EQ(r.data, msg);
                        EXPECT_EQ(d.memory_bytes() == 0, nct);
                        EXPECT_EQ(inf.memory_bytes() == 0, nct);
                    }
                }
            }
        }
    }
}

TEST(MessageDeflate, OutputIndependentOfBufferSizes) {
    const Bytes msg = json_like(50000, 7);
    MessageDeflater ref;
    const Bytes expected = deflate_message(ref, msg, msg.size(), 1 << 20);
    for (size_t out_size :
         {size_t{16}, size_t{17}, size_t{19}, size_t{23}, size_t{100}, size_t{4096}}) {
        for (size_t in_chunk : {size_t{1}, size_t{3}, size_t{1000}}) {
            MessageDeflater d;
            EXPECT_EQ(deflate_message(d, msg, in_chunk, out_size), expected)
                << out_size << " " << in_chunk;
        }
    }
}

TEST(MessageDeflate, MatchesPlainZlibBothWays) {
    for (uint8_t bits : {uint8_t{9}, uint8_t{15}}) {
        for (int level : {1, 6, 9}) {
            z_stream zd{};
            ASSERT_EQ(deflateInit2(&zd, level, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
            z_stream zi{};
            ASSERT_EQ(inflateInit2(&zi, -bits), Z_OK);
            DeflaterSettings ds;
            ds.window_bits = bits;
            ds.level = static_cast<int8_t>(level);
            MessageDeflater d(ds);
            InflaterSettings is;
            is.window_bits = bits;
            MessageInflater inf(is);
            for (uint32_t m = 0; m < 4; ++m) {
                Bytes msg = json_like(3000 + m * 1000, m);
                // Ours == zlib's bytes, and each side reads the other's.
                Bytes ours = deflate_message(d, msg, 333, 64);
                Bytes theirs = zlib_reference_deflate(zd, msg);
                EXPECT_EQ(ours, theirs);
                EXPECT_EQ(zlib_reference_inflate(zi, ours, msg.size()), msg);
                Inflated r = inflate_message(inf, theirs, 100, 256);
                EXPECT_EQ(r.status, InflateStatus::done);
                EXPECT_EQ(r.data, msg);
            }
            deflateEnd(&zd);
            inflateEnd(&zi);
        }
    }
}

TEST(MessageDeflate, LevelsAndMemLevels) {
    const Bytes msg = json_like(20000, 3);
    for (int level : {0, 1, 9}) {
        for (uint8_t mem : {uint8_t{1}, uint8_t{8}, uint8_t{9}}) {
            DeflaterSettings ds;
            ds.level = static_cast<int8_t>(level);
            ds.mem_level = mem;
            MessageDeflater d(ds);
            MessageInflater inf;
            for (int m = 0; m < 2; ++m) {
                Bytes packed = deflate_message(d, msg, 5000, 512);
                Inflated r = inflate_message(inf, packed);
                ASSERT_EQ(r.status, InflateStatus::done);
                ASSERT_EQ(r.data, msg);
                if (level == 0) {
                    EXPECT_GT(packed.size(), msg.size());  // stored blocks only
                } else {
                    EXPECT_LT(packed.size(), msg.size() / 2);
                }
            }
        }
    }
}

// ---- limits and bad input ----

Bytes zeros_compressed(size_t n) {
    // Built with plain zlib so the test does not depend on the deflater.
    z_stream z{};
    EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    Bytes zeros(n, 0);
    Bytes out = zlib_reference_deflate(z, zeros);
    deflateEnd(&z);
    return out;
}

TEST(MessageDeflate, BombStopsAtLimit) {
    const size_t kBomb = 64 * 1024 * 1024;
    const Bytes bomb = zeros_compressed(kBomb);
    ASSERT_LT(bomb.size(), kBomb / 500);
    InflaterSettings is;
    is.max_message_bytes = 1024 * 1024;
    MessageInflater inf(is);
    const ZlibMemoryStats before = zlib_memory_stats();
    std::vector<uint8_t> space(16 * 1024);
    uint64_t delivered = 0;
    size_t consumed = 0;
    InflateStatus status = InflateStatus::ok;
    std::span<const uint8_t> in(bomb);
    while (status == InflateStatus::ok && !in.empty()) {
        InflateResult r = inf.inflate(in, space);
        delivered += r.produced;
        consumed += r.consumed;
        in = in.subspan(r.consumed);
        status = r.status;
    }
    EXPECT_EQ(status, InflateStatus::too_big);
    EXPECT_EQ(delivered, is.max_message_bytes);  // never more than the limit delivered
    EXPECT_LT(consumed, bomb.size() / 8);        // stopped early, not after inflating it all
    // zlib memory stayed at one inflate stream (window + state), nothing
    // proportional to the message.
    EXPECT_LT(zlib_memory_stats().live_bytes - before.live_bytes, size_t{64 * 1024});
    // Unusable until released; then fine again.
    EXPECT_EQ(inf.inflate(kHelloCompressed, space).status, InflateStatus::error);
    inf.release();
    EXPECT_EQ(inflate_message(inf, kHelloCompressed).data, kHello);
}

TEST(MessageDeflate, LimitIsInclusive) {
    for (size_t out_size : {size_t{1}, size_t{7}, size_t{1 << 16}}) {
        const Bytes msg = json_like(10000, 9);
        MessageDeflater d;
        const Bytes packed = deflate_message(d, msg, msg.size(), 4096);
        InflaterSettings is;
        is.max_message_bytes = msg.size();
        MessageInflater exact(is);
        Inflated r = inflate_message(exact, packed, 100, out_size);
        EXPECT_EQ(r.status, InflateStatus::done);
        EXPECT_EQ(r.data, msg);
        is.max_message_bytes = msg.size() - 1;
        MessageInflater under(is);
        r = inflate_message(under, packed, 100, out_size);
        EXPECT_EQ(r.status, InflateStatus::too_big);
        EXPECT_EQ(r.data.size(), msg.size() - 1);
    }
    // Also when the excess appears while draining at the message's end.
    InflaterSettings is;
    is.max_message_bytes = 4;
    MessageInflater inf(is);
    EXPECT_EQ(inflate_message(inf, kHelloCompressed, 1, 1).status, InflateStatus::too_big);
}

// Found by fuzz_inflate: the call that produced the 301st byte also hit
// corrupt data, and the limit check was skipped; the limit is checked first.
TEST(MessageDeflate, RegressionLimitCrossedThenCorruptData) {
    auto from_hex = [](std::string_view h) {
        Bytes b;
        for (size_t i = 0; i + 1 < h.size(); i += 2)
            b.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
        return b;
    };
    const std::vector<Bytes> frames = {
        from_hex("aa56ca4c51b2323255b2121212121212121212121212121212121212121212121212121212121226"
                 "12121212121212121a"),
        from_hex("121212121212121212121212121212121212"),
        from_hex("121212120100333333333333333333333333"),
        from_hex("333333333333333333333333333333333300"),
    };
    InflaterSettings is;
    is.window_bits = 9;
    is.no_context_takeover = true;
    is.max_message_bytes = 300;
    MessageInflater inf(is);
    Inflated r = inflate_frames(inf, frames, SIZE_MAX, 32);
    EXPECT_EQ(r.status, InflateStatus::too_big);
    EXPECT_EQ(r.data.size(), 300u);
}

TEST(MessageDeflate, CorruptInputIsInvalidData) {
    const Bytes cases[] = {
        hex({0xff, 0xff, 0xff, 0xff}),              // BTYPE=11 (reserved)
        hex({0x00, 0x05, 0x00, 0x00, 0x00, 'H'}),   // stored block LEN/NLEN mismatch
        hex({0xf2, 0x00, 0x11, 0x00, 0x00}),        // distance beyond an empty window
        hex({0xf2, 0x48}),                          // truncated mid-block
        hex({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07}),  // block never ended
        hex({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff}),  // trailer kept
    };
    for (const Bytes& c : cases) {
        for (size_t chunk : {size_t{1}, SIZE_MAX}) {
            MessageInflater inf;
            Inflated r = inflate_message(inf, c, chunk, 3);
            EXPECT_EQ(r.status, InflateStatus::invalid_data)
                << ::testing::PrintToString(c) << " chunk " << chunk;
        }
    }
}

TEST(MessageDeflate, RandomGarbageNeverCrashesOrOverruns) {
    std::mt19937 rng(1234);
    for (int i = 0; i < 2000; ++i) {
        Bytes junk = random_bytes(1 + rng() % 200, rng());
        InflaterSettings is;
        is.max_message_bytes = 300;
        MessageInflater inf(is);
        Inflated r = inflate_message(inf, junk, 1 + rng() % 17, 1 + rng() % 64);
        EXPECT_NE(r.status, InflateStatus::ok);
        EXPECT_LE(r.data.size(), is.max_message_bytes);
    }
}

// ---- memory ----

TEST(MessageDeflate, LazyAllocationAndPooling) {
    clear_zstream_pool();
    const size_t live_before = zlib_memory_stats().live_bytes;
    {
        MessageDeflater d;
        MessageInflater inf;
        EXPECT_EQ(d.memory_bytes(), 0u);
        EXPECT_EQ(inf.memory_bytes(), 0u);
        EXPECT_EQ(zlib_memory_stats().live_bytes, live_before);
        const Bytes packed = deflate_message(d, kHello, 5, 64);
        EXPECT_GT(d.memory_bytes(), 200u * 1024);  // context takeover: kept
        inflate_message(inf, packed);
        EXPECT_GT(inf.memory_bytes(), 32u * 1024);
    }
    EXPECT_EQ(zlib_memory_stats().live_bytes, live_before);

    DeflaterSettings ds;
    ds.no_context_takeover = true;
    InflaterSettings is;
    is.no_context_takeover = true;
    const ZStreamPoolStats pool_before = zstream_pool_stats();
    std::vector<MessageDeflater> deflaters;
    std::vector<MessageInflater> inflaters;
    for (int i = 0; i < 100; ++i) {
        deflaters.emplace_back(ds);
        inflaters.emplace_back(is);
    }
    for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < deflaters.size(); ++i) {
            Bytes packed = deflate_message(deflaters[i], kHello, 5, 64);
            EXPECT_EQ(packed, kHelloCompressed);
            EXPECT_EQ(inflate_message(inflaters[i], packed).data, kHello);
            EXPECT_EQ(deflaters[i].memory_bytes(), 0u);
            EXPECT_EQ(inflaters[i].memory_bytes(), 0u);
        }
    }
    const ZStreamPoolStats pool_after = zstream_pool_stats();
    // 600 messages served by two streams (one deflate, one inflate).
    EXPECT_EQ(pool_after.misses - pool_before.misses, 2u);
    EXPECT_EQ(pool_after.hits - pool_before.hits, 598u);
    EXPECT_EQ(pool_after.idle_streams, 2u);
    EXPECT_EQ(zlib_memory_stats().live_bytes - live_before, pool_after.idle_bytes);
    clear_zstream_pool();
    EXPECT_EQ(zlib_memory_stats().live_bytes, live_before);
}

TEST(MessageDeflate, AbandonedMessageReleases) {
    const size_t live_before = zlib_memory_stats().live_bytes;
    for (bool nct : {false, true}) {
        DeflaterSettings ds;
        ds.no_context_takeover = nct;
        MessageDeflater d(ds);
        std::vector<uint8_t> space(64);
        Bytes msg = json_like(1000, 1);
        DeflateResult r = d.compress(msg, space);
        EXPECT_EQ(r.status, DeflateStatus::ok);
        EXPECT_TRUE(d.in_message());
        d.release();
        EXPECT_FALSE(d.in_message());
        EXPECT_EQ(d.memory_bytes(), 0u);
        // A fresh message after the abandoned one starts clean.
        EXPECT_EQ(deflate_message(d, kHello, 5, 64), kHelloCompressed);
    }
    clear_zstream_pool();
    EXPECT_EQ(zlib_memory_stats().live_bytes, live_before);
}

TEST(MessageDeflate, MovedDeflaterKeepsContext) {
    MessageDeflater a;
    EXPECT_EQ(deflate_message(a, kHello, 5, 64), kHelloCompressed);
    MessageDeflater b(std::move(a));
    EXPECT_EQ(a.memory_bytes(), 0u);
    EXPECT_EQ(deflate_message(b, kHello, 5, 64), hex({0xf2, 0x00, 0x11, 0x00, 0x00}));
}

TEST(MessageDeflate, MemoryPerSetting) {
    auto measure = [](ZStreamKind kind, uint8_t bits, uint8_t mem) {
        ZStreamParams p;
        p.kind = kind;
        p.window_bits = bits;
        p.mem_level = mem;
        const size_t bytes = measure_zstream_bytes(p);
        std::printf("[memory] %s window_bits=%d%s%s: %zu bytes (%.1f KiB)\n",
                    kind == ZStreamKind::deflate ? "deflate" : "inflate", bits,
                    kind == ZStreamKind::deflate ? " mem_level=" : "",
                    kind == ZStreamKind::deflate ? std::to_string(mem).c_str() : "", bytes,
                    static_cast<double>(bytes) / 1024.0);
        // A window is at least 2^bits bytes.
        EXPECT_GE(bytes, size_t{1} << bits);
        return bytes;
    };
    const auto D = ZStreamKind::deflate;
    const size_t d15_8 = measure(D, 15, 8);
    const size_t d15_4 = measure(D, 15, 4);
    const size_t d12_8 = measure(D, 12, 8);
    const size_t d12_4 = measure(D, 12, 4);
    const size_t d10_2 = measure(D, 10, 2);
    const size_t d9_1 = measure(D, 9, 1);
    // zlib's formula: (1 << (wbits + 2)) + (1 << (memLevel + 9)) plus ~6 KiB state.
    EXPECT_GT(d15_8, 200u * 1024);
    EXPECT_LT(d15_8, 300u * 1024);
    EXPECT_LT(d15_4, d15_8);
    EXPECT_LT(d12_8, d15_8);
    EXPECT_LT(d12_4, d12_8);
    EXPECT_LT(d12_4, d15_4);
    EXPECT_LT(d10_2, d12_4);
    EXPECT_LT(d9_1, d10_2);
    const auto I = ZStreamKind::inflate;
    const size_t i15 = measure(I, 15, 0);
    const size_t i12 = measure(I, 12, 0);
    const size_t i9 = measure(I, 9, 0);
    EXPECT_LT(i15, 48u * 1024);
    EXPECT_LT(i12, i15);
    EXPECT_LT(i9, i12);
}

TEST(MessageDeflate, CompressionRatioJson) {
    // Reported, and a sanity bound: JSON-like text must shrink a lot.
    const Bytes msg = json_like(64 * 1024, 42);
    for (bool nct : {false, true}) {
        DeflaterSettings ds;
        ds.no_context_takeover = nct;
        MessageDeflater d(ds);
        size_t in = 0, out = 0;
        for (uint32_t m = 0; m < 8; ++m) {
            const Bytes part(msg.begin() + m * 8192, msg.begin() + (m + 1) * 8192);
            in += part.size();
            out += deflate_message(d, part, part.size(), 1 << 16).size();
        }
        std::printf(
            "[ratio] 8 x 8 KiB JSON-like messages, context takeover %s: %zu -> %zu (%.1f%%)\n",
            nct ? "off" : "on", in, out, 100.0 * out / in);
        EXPECT_LT(out, in / 2);
    }
}

}  // namespace
}  // namespace wsgate::proto
