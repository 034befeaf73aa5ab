// The server's permessage-deflate glue: the packed agreement in a
// connection's CompressionSlot, negotiation into the slot, outgoing
// messages compressed into frames (checked by inflating them with zlib
// directly), incoming compressed chunks inflated into bounded pieces with
// UTF-8 and size checks, and what a connection holds between messages.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "io/out_queue.hpp"
#include "proto/extension_offer.hpp"
#include "proto/zstream_pool.hpp"
#include "ws/compression_state.hpp"
#include "ws/loop_compression.hpp"

namespace {

using wsgate::io::ChunkPool;
using wsgate::io::OutQueue;
using wsgate::proto::CloseCode;
using wsgate::proto::DeflateAgreement;
using wsgate::proto::DeflateConfig;
using wsgate::proto::Opcode;
using wsgate::ws::CompressionSlot;
using wsgate::ws::CompressionState;
using wsgate::ws::kCompressionScratchBytes;
using wsgate::ws::LoopCompression;

constexpr uint64_t kMaxMessage = 1 << 20;

DeflateConfig config(bool server_nct, bool client_nct, size_t min_bytes = 64) {
    DeflateConfig c;
    c.enabled = true;
    c.server_no_context_takeover = server_nct;
    c.client_no_context_takeover = client_nct;
    c.min_message_bytes = min_bytes;
    return c;
}

wsgate::proto::ExtensionOffers offers(std::string_view value) {
    wsgate::proto::ExtensionOffers o;
    EXPECT_TRUE(wsgate::proto::parse_extension_list(value, o));
    return o;
}

std::string drain(OutQueue& q, ChunkPool& pool) {
    std::string s;
    while (!q.empty()) {
        iovec iov[64];
        size_t n = q.gather(iov, 64);
        size_t bytes = 0;
        for (size_t i = 0; i < n; ++i) {
            s.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
            bytes += iov[i].iov_len;
        }
        q.consume(pool, bytes);
    }
    return s;
}

struct WireFrame {
    bool fin;
    bool rsv1;
    uint8_t opcode;
    std::string payload;
};

// Parses unmasked server frames (RFC 6455 §5.2).
std::vector<WireFrame> parse_frames(const std::string& wire) {
    std::vector<WireFrame> frames;
    size_t pos = 0;
    while (pos < wire.size()) {
        auto b = [&](size_t i) { return static_cast<uint8_t>(wire[pos + i]); };
        WireFrame f{(b(0) & 0x80) != 0, (b(0) & 0x40) != 0, static_cast<uint8_t>(b(0) & 0x0F), {}};
        EXPECT_EQ(b(0) & 0x30, 0);
        EXPECT_EQ(b(1) & 0x80, 0);
        uint64_t len = b(1) & 0x7F;
        size_t head = 2;
        if (len == 126) {
            len = static_cast<uint64_t>(b(2)) << 8 | b(3);
            head = 4;
        } else if (len == 127) {
            len = 0;
            for (size_t i = 0; i < 8; ++i)
                len = len << 8 | b(2 + i);
            head = 10;
        }
        f.payload = wire.substr(pos + head, len);
        pos += head + len;
        frames.push_back(std::move(f));
    }
    return frames;
}

// Inflates one message's payload as a client would (RFC 7692 §7.2.2).
std::string inflate_raw(std::string payload, z_stream* z = nullptr) {
    z_stream local{};
    if (z == nullptr) {
        EXPECT_EQ(inflateInit2(&local, -15), Z_OK);
        z = &local;
    }
    payload += std::string("\x00\x00\xff\xff", 4);
    std::string out;
    z->next_in = reinterpret_cast<Bytef*>(payload.data());
    z->avail_in = static_cast<uInt>(payload.size());
    char buf[65536];
    do {
        z->next_out = reinterpret_cast<Bytef*>(buf);
        z->avail_out = sizeof(buf);
        int rc = inflate(z, Z_SYNC_FLUSH);
        EXPECT_TRUE(rc == Z_OK || rc == Z_BUF_ERROR) << rc;
        out.append(buf, sizeof(buf) - z->avail_out);
        if (rc == Z_BUF_ERROR) break;
    } while (z->avail_in > 0 || z->avail_out == 0);
    if (z == &local) inflateEnd(&local);
    return out;
}

// Raw deflate of a whole message, trailer stripped (RFC 7692 §7.2.1).
std::string deflate_raw(const std::string& data, int bits = 15) {
    z_stream z{};
    EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&z, data.size()) + 16, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    EXPECT_EQ(out.substr(out.size() - 4), std::string("\x00\x00\xff\xff", 4));
    out.resize(out.size() - 4);
    return out;
}

std::string json_like(size_t n) {
    std::string s;
    for (int i = 0; s.size() < n; ++i)
        s += "{\"id\":" + std::to_string(i * 7919) +
             ",\"sym\":\"BTC-USD\",\"px\":" + std::to_string(i % 1000) + ".25},";
    s.resize(n);
    return s;
}

std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (char& c : s)
        c = static_cast<char>(rng());
    return s;
}

std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(CompressionSlot, PacksEveryAgreement) {
    for (int snct = 0; snct < 2; ++snct) {
        for (int cnct = 0; cnct < 2; ++cnct) {
            for (uint8_t sb = 8; sb <= 15; ++sb) {
                for (uint8_t cb = 8; cb <= 15; ++cb) {
                    DeflateAgreement a{snct == 1, cnct == 1, sb, cb};
                    CompressionSlot slot;
                    EXPECT_FALSE(slot.negotiated());
                    slot.set_agreement(a);
                    ASSERT_TRUE(slot.negotiated());
                    EXPECT_EQ(slot.state(), nullptr);
                    DeflateAgreement b = slot.agreement();
                    EXPECT_EQ(b.server_no_context_takeover, a.server_no_context_takeover);
                    EXPECT_EQ(b.client_no_context_takeover, a.client_no_context_takeover);
                    EXPECT_EQ(b.server_max_window_bits, sb);
                    EXPECT_EQ(b.client_max_window_bits, cb);
                }
            }
        }
    }
}

TEST(LoopCompression, NegotiatesIntoTheSlot) {
    LoopCompression lc(config(true, true), kMaxMessage);
    CompressionSlot slot;
    EXPECT_EQ(lc.negotiate(offers("permessage-deflate; client_max_window_bits"), slot),
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    EXPECT_TRUE(slot.negotiated());
    EXPECT_EQ(slot.state(), nullptr);  // nothing allocated at the handshake
    EXPECT_TRUE(slot.agreement().server_no_context_takeover);

    EXPECT_EQ(lc.negotiate(offers("permessage-deflate; foo, x-other"), slot), "");
    EXPECT_FALSE(slot.negotiated());

    DeflateConfig off = config(true, true);
    off.enabled = false;
    LoopCompression disabled(off, kMaxMessage);
    EXPECT_EQ(disabled.negotiate(offers("permessage-deflate"), slot), "");
    EXPECT_FALSE(slot.negotiated());
}

class Sender : public ::testing::Test {
  protected:
    void negotiate(LoopCompression& lc, std::string_view offer) {
        ASSERT_FALSE(lc.negotiate(offers(offer), slot).empty());
    }
    // Sends `message` in pieces of `piece` bytes; returns the wire bytes.
    std::string send(LoopCompression& lc, Opcode op, const std::string& message, size_t piece) {
        size_t pos = 0;
        do {
            size_t n = std::min(piece, message.size() - pos);
            bool last = pos + n == message.size();
            if (!lc.send_piece(slot, queue, pool, in_message, op, bytes(message).subspan(pos, n),
                               last)) {
                plain_pieces++;
            }
            pos += n;
        } while (pos < message.size());
        EXPECT_FALSE(in_message);
        return drain(queue, pool);
    }

    CompressionSlot slot;
    ChunkPool pool;
    OutQueue queue;
    bool in_message = false;
    int plain_pieces = 0;
};

TEST_F(Sender, SmallWholeMessagesGoPlain) {
    LoopCompression lc(config(true, true, 64), kMaxMessage);
    negotiate(lc, "permessage-deflate");
    EXPECT_FALSE(lc.send_piece(slot, queue, pool, in_message, Opcode::text, bytes("hi"), true));
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(slot.state(), nullptr);
    std::string sixty_four(64, 'a');
    EXPECT_TRUE(
        lc.send_piece(slot, queue, pool, in_message, Opcode::text, bytes(sixty_four), true));
    auto frames = parse_frames(drain(queue, pool));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_TRUE(frames[0].rsv1 && frames[0].fin);
    EXPECT_EQ(inflate_raw(frames[0].payload), sixty_four);
}

TEST_F(Sender, FramesInflateToTheMessageWithRsv1OnTheFirstOnly) {
    LoopCompression lc(config(true, true), kMaxMessage);
    negotiate(lc, "permessage-deflate");
    for (size_t size : {100u, 5000u, 70000u, 300000u}) {
        for (size_t piece : {size_t{1000}, size_t{16384}, size}) {
            for (const std::string& msg : {json_like(size), random_bytes(size, 7)}) {
                auto frames = parse_frames(send(lc, Opcode::binary, msg, piece));
                ASSERT_FALSE(frames.empty());
                std::string payload;
                for (size_t i = 0; i < frames.size(); ++i) {
                    EXPECT_EQ(frames[i].rsv1, i == 0);
                    EXPECT_EQ(frames[i].opcode, i == 0 ? 2 : 0);
                    EXPECT_EQ(frames[i].fin, i + 1 == frames.size());
                    EXPECT_LE(frames[i].payload.size(), kCompressionScratchBytes);
                    payload += frames[i].payload;
                }
                EXPECT_EQ(inflate_raw(payload), msg) << size << " " << piece;
                // no_context_takeover: nothing kept between messages.
                EXPECT_EQ(slot.state(), nullptr);
            }
        }
    }
    EXPECT_EQ(plain_pieces, 0);
    EXPECT_EQ(lc.spare_states(), 1u);  // one object reused for every message
}

TEST_F(Sender, ContextTakeoverKeepsTheWindowAndShrinksRepeats) {
    LoopCompression lc(config(false, false), kMaxMessage);
    negotiate(lc, "permessage-deflate");
    std::string msg = json_like(2000);
    z_stream client{};
    ASSERT_EQ(inflateInit2(&client, -15), Z_OK);
    size_t first = 0;
    for (int i = 0; i < 3; ++i) {
        auto frames = parse_frames(send(lc, Opcode::text, msg, msg.size()));
        ASSERT_EQ(frames.size(), 1u);
        EXPECT_EQ(inflate_raw(frames[0].payload, &client), msg);
        if (i == 0) first = frames[0].payload.size();
        if (i > 0) {
            EXPECT_LT(frames[0].payload.size() * 10, first);  // back-references only
        }
    }
    inflateEnd(&client);
    ASSERT_NE(slot.state(), nullptr);
    CompressionState* s = slot.state();
    std::printf("context takeover: sender state %zu B object + %zu B deflate stream\n",
                sizeof(CompressionState), s->deflater.memory_bytes());
    EXPECT_GT(s->deflater.memory_bytes(), 0u);
    lc.release(slot);
    EXPECT_FALSE(slot.negotiated());
}

TEST_F(Sender, MessageStartedPlainStaysPlain) {
    LoopCompression lc(config(true, true), kMaxMessage);
    negotiate(lc, "permessage-deflate");
    in_message = true;  // a plain message is in progress
    std::string big(1000, 'x');
    EXPECT_FALSE(lc.send_piece(slot, queue, pool, in_message, Opcode::text, bytes(big), true));
    EXPECT_TRUE(queue.empty());
}

class Receiver : public ::testing::Test {
  protected:
    // Feeds `wire` (a compressed payload) in chunks of `chunk`; collects pieces.
    wsgate::ws::InflateFailure receive(LoopCompression& lc, Opcode op, const std::string& wire,
                                       size_t chunk) {
        got.clear();
        pieces = 0;
        lasts = 0;
        auto f = lc.begin_incoming(slot, op);
        if (f.code != CloseCode::none) return f;
        size_t pos = 0;
        while (pos < wire.size()) {
            size_t n = std::min(chunk, wire.size() - pos);
            bool ends = pos + n == wire.size();
            f = lc.inflate_chunk(slot, bytes(wire).subspan(pos, n), ends, [&](auto piece) {
                EXPECT_LE(piece.size(), kCompressionScratchBytes);
                got.append(reinterpret_cast<const char*>(piece.data()), piece.size());
                pieces++;
            });
            if (f.code != CloseCode::none) return f;
            pos += n;
        }
        return lc.finish_incoming(slot, [&](auto piece, bool last) {
            got.append(reinterpret_cast<const char*>(piece.data()), piece.size());
            pieces++;
            lasts += last ? 1 : 0;
        });
    }

    CompressionSlot slot;
    std::string got;
    int pieces = 0;
    int lasts = 0;
};

TEST_F(Receiver, InflatesInBoundedPieces) {
    LoopCompression lc(config(true, true), kMaxMessage);
    ASSERT_FALSE(lc.negotiate(offers("permessage-deflate"), slot).empty());
    for (size_t size : {0u, 10u, 16384u, 16385u, 200000u}) {
        for (size_t chunk : {size_t{1}, size_t{1000}, size_t{1} << 20}) {
            if (chunk == 1 && size > 20000) continue;
            std::string msg = json_like(size);
            auto f = receive(lc, Opcode::text, deflate_raw(msg), chunk);
            EXPECT_EQ(f.code, CloseCode::none);
            EXPECT_EQ(got, msg);
            EXPECT_EQ(lasts, 1);
            EXPECT_EQ(slot.state(), nullptr);  // parked again
        }
    }
    // A message that fits the scratch space in one chunk arrives as one piece.
    auto f = receive(lc, Opcode::text, deflate_raw(json_like(5000)), 1 << 20);
    EXPECT_EQ(f.code, CloseCode::none);
    EXPECT_EQ(pieces, 1);
}

TEST_F(Receiver, FailsInvalidDataUtf8AndSize) {
    LoopCompression lc(config(true, true), 100000);
    ASSERT_FALSE(lc.negotiate(offers("permessage-deflate"), slot).empty());
    EXPECT_EQ(receive(lc, Opcode::binary, std::string("\x07\x00\x00", 3), 100).code,
              CloseCode::invalid_payload);
    EXPECT_EQ(
        receive(lc, Opcode::text, deflate_raw(std::string(30000, 'a') + "\xc3\x28"), 100).code,
        CloseCode::invalid_payload);
    // Invalid UTF-8 is caught before the bytes around it are delivered.
    EXPECT_LT(got.size(), 30000u);
    EXPECT_EQ(receive(lc, Opcode::text, deflate_raw("abc\xe2\x98"), 100).code,
              CloseCode::invalid_payload);
    // The same bytes as binary are fine.
    EXPECT_EQ(receive(lc, Opcode::binary, deflate_raw("abc\xe2\x98"), 100).code, CloseCode::none);
    // A bomb stops at the limit, never inflating further.
    auto f = receive(lc, Opcode::binary, deflate_raw(std::string(10'000'000, '\0')), 4096);
    EXPECT_EQ(f.code, CloseCode::message_too_big);
    EXPECT_LE(got.size(), 100000u);
    EXPECT_EQ(lasts, 0);
    // A failed message leaves its state with the connection until the server
    // drops the connection, as it does after any failure.
    EXPECT_NE(slot.state(), nullptr);
    lc.release(slot);
    EXPECT_EQ(slot.state(), nullptr);
}

TEST_F(Receiver, CostlyMessagesFailWithPolicyViolation) {
    // Default ratio bound (256 after 1 MiB): 8 MiB of zeros is ~1030:1.
    LoopCompression lc(config(true, true), 16u << 20);
    ASSERT_FALSE(lc.negotiate(offers("permessage-deflate"), slot).empty());
    auto f = receive(lc, Opcode::binary, deflate_raw(std::string(8u << 20, '\0')), 16384);
    EXPECT_EQ(f.code, CloseCode::policy_violation);
    EXPECT_LE(got.size(), (1u << 20) + kCompressionScratchBytes);
    EXPECT_EQ(lc.stats().refused_ratio, 1u);
    lc.release(slot);
    // Padding: data, then nothing but empty stored blocks.
    ASSERT_FALSE(lc.negotiate(offers("permessage-deflate"), slot).empty());
    std::string padded = deflate_raw("hello") + std::string("\x00\x00\xff\xff", 4);
    for (int i = 0; i < 5000; ++i)
        padded += std::string("\x00\x00\x00\xff\xff", 5);
    f = receive(lc, Opcode::binary, padded, 16384);
    EXPECT_EQ(f.code, CloseCode::policy_violation);
    EXPECT_EQ(lc.stats().refused_padding, 1u);
    lc.release(slot);
    EXPECT_EQ(lc.stats().streams_in_use, 0u);
}

TEST(LoopCompressionBudget, StreamsOverBudgetAreRefusedThenFreed) {
    constexpr uint64_t kBudget = 3;
    LoopCompression lc(config(true, true), kMaxMessage, kBudget);
    CompressionSlot slots[kBudget + 1];
    for (CompressionSlot& s : slots)
        ASSERT_FALSE(lc.negotiate(offers("permessage-deflate"), s).empty());
    const std::string wire = deflate_raw(json_like(20000));
    // Three connections each hold a message in flight: the budget is spent.
    for (uint64_t i = 0; i < kBudget; ++i) {
        ASSERT_EQ(lc.begin_incoming(slots[i], Opcode::text).code, CloseCode::none);
        ASSERT_EQ(lc.inflate_chunk(slots[i], bytes(wire).first(100), false, [](auto) {}).code,
                  CloseCode::none);
    }
    EXPECT_EQ(lc.stats().streams_in_use, kBudget);
    // A fourth compressed message is refused, with nothing allocated for it.
    auto f = lc.begin_incoming(slots[kBudget], Opcode::text);
    EXPECT_EQ(f.code, CloseCode::try_again_later);
    EXPECT_EQ(slots[kBudget].state(), nullptr);
    EXPECT_EQ(lc.stats().refused_no_stream, 1u);
    // A reply that would need a deflate stream goes plain instead.
    ChunkPool pool;
    OutQueue q;
    bool in_message = false;
    const std::string reply = json_like(5000);
    EXPECT_FALSE(
        lc.send_piece(slots[kBudget], q, pool, in_message, Opcode::text, bytes(reply), true));
    EXPECT_EQ(lc.stats().plain_no_stream, 1u);
    EXPECT_EQ(lc.stats().streams_in_use, kBudget);
    // One message ends: its stream goes back (no_context_takeover) and the
    // next compressed message is admitted.
    ASSERT_EQ(lc.inflate_chunk(slots[0], bytes(wire).subspan(100), true, [](auto) {}).code,
              CloseCode::none);
    ASSERT_EQ(lc.finish_incoming(slots[0], [](auto, bool) {}).code, CloseCode::none);
    EXPECT_EQ(lc.stats().streams_in_use, kBudget - 1);
    EXPECT_EQ(lc.begin_incoming(slots[kBudget], Opcode::text).code, CloseCode::none);
    EXPECT_EQ(lc.stats().streams_in_use, kBudget);
    EXPECT_EQ(lc.stats().peak_streams, kBudget);
    // Connections that go away give theirs back too.
    for (CompressionSlot& s : slots)
        lc.release(s);
    EXPECT_EQ(lc.stats().streams_in_use, 0u);
}

TEST(LoopCompressionBudget, ContextTakeoverWindowsCountWhileKept) {
    LoopCompression lc(config(false, false), kMaxMessage, 2);
    CompressionSlot a;
    CompressionSlot b;
    ASSERT_FALSE(lc.negotiate(offers("permessage-deflate"), a).empty());
    ASSERT_FALSE(lc.negotiate(offers("permessage-deflate"), b).empty());
    ChunkPool pool;
    OutQueue q;
    bool in_message = false;
    const std::string msg = json_like(5000);
    // a's reply keeps its deflate window, a's message its inflate window.
    ASSERT_TRUE(lc.send_piece(a, q, pool, in_message, Opcode::text, bytes(msg), true));
    ASSERT_EQ(lc.begin_incoming(a, Opcode::text).code, CloseCode::none);
    ASSERT_EQ(lc.inflate_chunk(a, bytes(deflate_raw(msg)), true, [](auto) {}).code,
              CloseCode::none);
    ASSERT_EQ(lc.finish_incoming(a, [](auto, bool) {}).code, CloseCode::none);
    EXPECT_EQ(lc.stats().streams_in_use, 2u);  // kept between messages
    // a's next message needs no new stream; b's does.
    EXPECT_EQ(lc.begin_incoming(a, Opcode::text).code, CloseCode::none);
    EXPECT_EQ(lc.begin_incoming(b, Opcode::text).code, CloseCode::try_again_later);
    lc.release(a);
    EXPECT_EQ(lc.stats().streams_in_use, 0u);
    EXPECT_EQ(lc.begin_incoming(b, Opcode::text).code, CloseCode::none);
    lc.release(b);
    q.clear(pool);
}

TEST(LoopCompressionMemory, PerConnectionBytesInBothModes) {
    // no_context_takeover on both sides: nothing held between messages.
    {
        LoopCompression lc(config(true, true), kMaxMessage);
        CompressionSlot slot;
        ASSERT_FALSE(lc.negotiate(offers("permessage-deflate"), slot).empty());
        ChunkPool pool;
        OutQueue q;
        bool in_message = false;
        std::string msg = json_like(10000);
        ASSERT_TRUE(lc.send_piece(slot, q, pool, in_message, Opcode::text, bytes(msg), true));
        q.clear(pool);
        EXPECT_EQ(slot.state(), nullptr);
        std::printf("no_context_takeover: 0 B per idle connection (slot only), pool %zu B\n",
                    wsgate::proto::zstream_pool_stats().idle_bytes);
    }
    // Context takeover: the windows stay with the connection.
    {
        LoopCompression lc(config(false, false), kMaxMessage);
        CompressionSlot slot;
        ASSERT_FALSE(lc.negotiate(offers("permessage-deflate"), slot).empty());
        ChunkPool pool;
        OutQueue q;
        bool in_message = false;
        std::string msg = json_like(10000);
        ASSERT_TRUE(lc.send_piece(slot, q, pool, in_message, Opcode::text, bytes(msg), true));
        q.clear(pool);
        lc.begin_incoming(slot, Opcode::text);
        std::string wire = deflate_raw(msg);
        auto f = lc.inflate_chunk(slot, bytes(wire), true, [](auto) {});
        ASSERT_EQ(f.code, CloseCode::none);
        f = lc.finish_incoming(slot, [](auto, bool) {});
        ASSERT_EQ(f.code, CloseCode::none);
        CompressionState* s = slot.state();
        ASSERT_NE(s, nullptr);
        size_t total =
            sizeof(CompressionState) + s->deflater.memory_bytes() + s->inflater.memory_bytes();
        std::printf(
            "context takeover: %zu B per connection (object %zu + deflate %zu + inflate "
            "%zu)\n",
            total, sizeof(CompressionState), s->deflater.memory_bytes(),
            s->inflater.memory_bytes());
        EXPECT_GT(s->inflater.memory_bytes(), 32768u);  // the client's 32 KiB window
        lc.release(slot);
    }
}

}  // namespace
