// wsload's echo reader/verifier: server frames split at every byte, plain and
// compressed echoes, and every way an echo can be wrong.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "client_codec.hpp"
#include "compressed_frames.hpp"
#include "echo_reader.hpp"
#include "payload_pool.hpp"
#include "proto/message_deflater.hpp"

using namespace wsgate::bench;
using Bytes = std::vector<std::uint8_t>;
using Status = EchoReader::Status;

namespace {

constexpr std::uint8_t kFin = 0x80, kRsv1 = 0x40;

// A server frame (unmasked, RFC 6455 §5.1) with the given first byte.
void frame(Bytes& out, std::uint8_t b0, const Bytes& payload) {
    out.push_back(b0);
    const std::size_t n = payload.size();
    if (n <= 125) {
        out.push_back(static_cast<std::uint8_t>(n));
    } else if (n <= 0xFFFF) {
        out.push_back(126);
        out.push_back(static_cast<std::uint8_t>(n >> 8));
        out.push_back(static_cast<std::uint8_t>(n));
    } else {
        out.push_back(127);
        for (int s = 56; s >= 0; s -= 8)
            out.push_back(static_cast<std::uint8_t>(n >> s));
    }
    out.insert(out.end(), payload.begin(), payload.end());
}

Bytes slice(const Bytes& b, std::size_t from, std::size_t n) {
    return Bytes(b.begin() + static_cast<std::ptrdiff_t>(from),
                 b.begin() + static_cast<std::ptrdiff_t>(from + n));
}

Bytes pattern(std::size_t n, PayloadKind kind = PayloadKind::kRandom) {
    std::vector<std::uint8_t> p;
    fill_pattern(p, n, kind, false);
    return p;
}

// What the reader reported, in order, with the details that matter.
struct Event {
    Status status = Status::kNeedMore;
    std::uint8_t opcode = 0;
    std::string control;
    std::uint64_t wire = 0;
    bool compressed = false;
    bool operator==(const Event&) const = default;
};

// Feeds `wire` in the given pieces; after each kMessage the next expected
// message becomes the oldest. Stops at the first error.
std::vector<Event> run(EchoReader& reader, const Bytes& wire, const std::vector<std::size_t>& cuts,
                       const std::vector<Bytes>& messages, std::uint8_t opcode = kOpBinary) {
    std::vector<Event> events;
    std::size_t next_message = 0, start = 0;
    std::vector<std::size_t> ends = cuts;
    ends.push_back(wire.size());
    for (const std::size_t end : ends) {
        std::span<const std::uint8_t> data(wire.data() + start, end - start);
        start = end;
        while (!data.empty()) {
            Expected e;
            e.opcode = opcode;
            static const std::uint8_t kNothing = 0;  // an empty message still has an address
            if (next_message < messages.size()) {
                e.bytes =
                    messages[next_message].empty() ? &kNothing : messages[next_message].data();
                e.length = static_cast<std::uint32_t>(messages[next_message].size());
            }
            std::size_t used = 0;
            const Status st = reader.next(data, used, e);
            data = data.subspan(used);
            if (st == Status::kNeedMore) {
                EXPECT_TRUE(data.empty());
                break;
            }
            Event ev;
            ev.status = st;
            if (st == Status::kControl) {
                ev.opcode = reader.control_opcode();
                ev.control = reader.control_payload();
            } else if (st == Status::kMessage) {
                ev.wire = reader.message_wire_bytes();
                ev.compressed = reader.message_compressed();
                ++next_message;
            }
            events.push_back(ev);
            if (st != Status::kMessage && st != Status::kControl) return events;
        }
    }
    return events;
}

// Every 2-piece split, and one byte at a time, must give `want`.
void expect_every_split(const Bytes& wire, const std::vector<Bytes>& messages,
                        const std::vector<Event>& want, EchoReader (*make)() = nullptr) {
    auto fresh = [&] { return make ? make() : EchoReader{}; };
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
        EchoReader r = fresh();
        ASSERT_EQ(run(r, wire, {cut}, messages), want) << "cut at " << cut;
    }
    std::vector<std::size_t> bytewise;
    for (std::size_t k = 1; k < wire.size(); ++k)
        bytewise.push_back(k);
    EchoReader r = fresh();
    ASSERT_EQ(run(r, wire, bytewise, messages), want) << "byte by byte";
}

Bytes compress(const Bytes& m) {
    Bytes out;
    EXPECT_TRUE(compress_message(m, 15, 6, out));
    return out;
}

std::vector<std::uint8_t> g_scratch(64);  // small on purpose: many inflate steps

EchoReader inflating_reader() {
    EchoReader r;
    wsgate::proto::InflaterSettings s;
    s.max_message_bytes = 4096;
    r.enable_inflate(s, g_scratch);
    return r;
}

}  // namespace

TEST(WsloadEchoReader, PlainEchoesWithFragmentsAndControlFrames) {
    const Bytes m1 = pattern(300), m2 = slice(pattern(400), 100, 200);
    Bytes wire;
    frame(wire, kFin | kOpBinary, m1);
    frame(wire, kOpBinary, slice(m2, 0, 50));                 // fragment 1
    frame(wire, kFin | kOpPing, {'h', 'i'});                  // interleaved (§5.4)
    frame(wire, kOpContinuation, {});                         // empty fragment
    frame(wire, kFin | kOpContinuation, slice(m2, 50, 150));  // last fragment
    frame(wire, kFin | kOpClose, {0x03, 0xE8});
    const std::vector<Event> want = {
        {Status::kMessage, 0, "", 300, false},
        {Status::kControl, kOpPing, "hi", 0, false},
        {Status::kMessage, 0, "", 200, false},
        {Status::kControl, kOpClose, "\x03\xE8", 0, false},
    };
    expect_every_split(wire, {m1, m2}, want);
}

TEST(WsloadEchoReader, EmptyMessageAndLongLength) {
    const Bytes big = pattern(70000);  // 64-bit length form
    Bytes wire;
    frame(wire, kFin | kOpBinary, {});
    frame(wire, kFin | kOpBinary, big);
    EchoReader r;
    const auto ev = run(r, wire, {1, 5, 9, 70000}, {Bytes{}, big});
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0].status, Status::kMessage);
    EXPECT_EQ(ev[1].status, Status::kMessage);
    EXPECT_EQ(ev[1].wire, 70000u);
}

TEST(WsloadEchoReader, MismatchesAtEverySplit) {
    const Bytes m = pattern(200);
    struct Case {
        const char* what;
        Bytes wire;
        std::vector<Bytes> expected;
        std::uint8_t opcode;
    };
    Bytes changed = m;
    changed[137] ^= 1;
    std::vector<Case> cases;
    {
        Bytes w;
        frame(w, kFin | kOpBinary, changed);
        cases.push_back({"one byte changed", w, {m}, kOpBinary});
    }
    {
        Bytes w;
        frame(w, kFin | kOpText, m);
        cases.push_back({"wrong type", w, {m}, kOpBinary});
    }
    {
        Bytes w;
        frame(w, kFin | kOpBinary, m);
        cases.push_back({"unsolicited", w, {}, kOpBinary});
    }
    {
        Bytes w, longer = m;
        longer.push_back(0);
        frame(w, kFin | kOpBinary, longer);
        cases.push_back({"too long", w, {m}, kOpBinary});
    }
    {
        Bytes w;
        frame(w, kFin | kOpBinary, slice(m, 0, 199));
        cases.push_back({"too short", w, {m}, kOpBinary});
    }
    for (const auto& c : cases) {
        for (std::size_t cut = 0; cut <= c.wire.size(); ++cut) {
            EchoReader r;
            const auto ev = run(r, c.wire, {cut}, c.expected, c.opcode);
            ASSERT_FALSE(ev.empty()) << c.what << " cut " << cut;
            ASSERT_EQ(ev.back().status, Status::kMismatch) << c.what << " cut " << cut;
            ASSERT_EQ(ev.size(), 1u) << c.what;
        }
    }
}

TEST(WsloadEchoReader, ProtocolErrors) {
    const Bytes m = pattern(10);
    const std::vector<std::pair<const char*, Bytes>> cases = {
        {"masked server frame", {kFin | kOpBinary, 0x80 | 1, 1, 2, 3, 4, 0}},
        {"RSV1 not negotiated", {kFin | kRsv1 | kOpBinary, 0}},
        {"RSV2", {kFin | 0x20 | kOpBinary, 0}},
        {"RSV3", {kFin | 0x10 | kOpBinary, 0}},
        {"continuation first", {kFin | kOpContinuation, 0}},
        {"reserved opcode", {kFin | 0x3, 0}},
        {"reserved control opcode", {kFin | 0xB, 0}},
        {"fragmented ping", {kOpPing, 0}},
        {"long ping", {kFin | kOpPing, 126, 0, 126}},
        {"new message inside one", {kOpBinary, 1, m[0], kFin | kOpBinary, 0}},
    };
    for (const auto& [what, wire] : cases) {
        EchoReader r;
        const auto ev = run(r, wire, {}, {m, m});
        ASSERT_FALSE(ev.empty()) << what;
        EXPECT_EQ(ev.back().status, Status::kProtocol) << what;
    }
}

TEST(WsloadEchoReader, CompressedEchoesAtEverySplit) {
    const Bytes m1 = pattern(1000, PayloadKind::kJson), m2 = pattern(300);
    const Bytes c1 = compress(m1), c2 = compress(m2);
    ASSERT_LT(c1.size(), m1.size() / 2);  // JSON-like records compress well
    Bytes wire;
    frame(wire, kFin | kRsv1 | kOpBinary, c1);
    // The second in two fragments: RSV1 on the first only (RFC 7692 §6.1), and
    // a plain message in between is allowed (§6: any subset may be compressed).
    frame(wire, kFin | kOpBinary, m2);
    frame(wire, kRsv1 | kOpBinary, slice(c2, 0, 10));
    frame(wire, kFin | kOpContinuation, slice(c2, 10, c2.size() - 10));
    const std::vector<Event> want = {
        {Status::kMessage, 0, "", c1.size(), true},
        {Status::kMessage, 0, "", m2.size(), false},
        {Status::kMessage, 0, "", c2.size(), true},
    };
    expect_every_split(wire, {m1, m2, m2}, want, inflating_reader);
}

TEST(WsloadEchoReader, CompressedWithContextTakeover) {
    // A server keeping its window: the second message refers back into the first.
    const Bytes m = pattern(500, PayloadKind::kJson);
    wsgate::proto::MessageDeflater d;
    std::vector<Bytes> compressed;
    for (int k = 0; k < 2; ++k) {
        Bytes out(2048);
        std::size_t n = 0;
        auto r = d.compress(m, {out.data(), out.size()});
        n += r.produced;
        do {
            r = d.finish({out.data() + n, out.size() - n});
            n += r.produced;
        } while (r.status == wsgate::proto::DeflateStatus::ok);
        out.resize(n);
        compressed.push_back(out);
    }
    ASSERT_LT(compressed[1].size(), compressed[0].size() / 4);  // back-references used
    Bytes wire;
    frame(wire, kFin | kRsv1 | kOpText, compressed[0]);
    frame(wire, kFin | kRsv1 | kOpText, compressed[1]);
    EchoReader r = inflating_reader();
    const auto ev = run(r, wire, {}, {m, m}, kOpText);
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[1].status, Status::kMessage);

    // With server_no_context_takeover agreed, the reader refuses such a message.
    EchoReader strict;
    wsgate::proto::InflaterSettings s;
    s.no_context_takeover = true;
    strict.enable_inflate(s, g_scratch);
    const auto ev2 = run(strict, wire, {}, {m, m}, kOpText);
    ASSERT_EQ(ev2.size(), 2u);
    EXPECT_NE(ev2[1].status, Status::kMessage);
}

TEST(WsloadEchoReader, CompressedErrors) {
    const Bytes m = pattern(600, PayloadKind::kJson);
    const Bytes c = compress(m);
    {
        Bytes wire, bad = c;
        bad[c.size() / 2] ^= 0x55;
        frame(wire, kFin | kRsv1 | kOpBinary, bad);
        EchoReader r = inflating_reader();
        const auto ev = run(r, wire, {}, {m});
        ASSERT_EQ(ev.size(), 1u);
        EXPECT_TRUE(ev[0].status == Status::kMismatch || ev[0].status == Status::kBadDeflate);
    }
    {
        Bytes wire;  // not DEFLATE at all: block type 3 is reserved (RFC 1951 §3.2.3)
        frame(wire, kFin | kRsv1 | kOpBinary, {0xFF, 0xFF, 0xFF});
        EchoReader r = inflating_reader();
        const auto ev = run(r, wire, {}, {m});
        ASSERT_EQ(ev.size(), 1u);
        EXPECT_EQ(ev[0].status, Status::kBadDeflate);
    }
    {
        Bytes wire;  // inflates to a different message
        frame(wire, kFin | kRsv1 | kOpBinary, compress(pattern(600)));
        EchoReader r = inflating_reader();
        EXPECT_EQ(run(r, wire, {}, {m}).back().status, Status::kMismatch);
    }
    {
        Bytes wire;  // RSV1 on a continuation (RFC 7692 §6.1)
        frame(wire, kRsv1 | kOpBinary, slice(c, 0, 5));
        frame(wire, kFin | kRsv1 | kOpContinuation, slice(c, 5, c.size() - 5));
        EchoReader r = inflating_reader();
        EXPECT_EQ(run(r, wire, {}, {m}).back().status, Status::kProtocol);
    }
    {
        Bytes wire;  // RSV1 on a control frame
        frame(wire, kFin | kRsv1 | kOpPing, {});
        EchoReader r = inflating_reader();
        EXPECT_EQ(run(r, wire, {}, {m}).back().status, Status::kProtocol);
    }
}

// The claim compressed_frames.hpp rests on: a message compressed from a fresh
// window decodes to itself in an inflater that kept context from earlier
// messages, for every window size, and its frame is FIN+RSV1, masked.
TEST(WsloadCompressedFrames, IndependentMessagesDecodeWithContextKept) {
    for (const std::uint8_t bits : {8, 9, 12, 15}) {
        PayloadPool pool(700, true, true, kOpText, PayloadKind::kJson);
        CompressedFrames frames(pool, bits, kOpText, 6);
        ASSERT_TRUE(frames.ok());
        ASSERT_GE(frames.variants(), 16u);
        EchoReader r;
        wsgate::proto::InflaterSettings s;
        s.window_bits = std::max<std::uint8_t>(bits, wsgate::proto::kMinZlibWindowBits);
        s.max_message_bytes = 700;
        r.enable_inflate(s, g_scratch);
        Bytes wire;
        std::vector<Bytes> expected;
        for (std::uint32_t v = 0; v < 6; ++v) {
            const auto w = frames.wire(v);
            ASSERT_EQ(w[0], kFin | kRsv1 | kOpText);
            ASSERT_TRUE(w[1] & 0x80);  // masked
            // Unmask into a server-style (unmasked) frame for the reader.
            const std::size_t header = w.size() - frames.payload_wire_bytes(v);
            Bytes payload(w.begin() + static_cast<std::ptrdiff_t>(header), w.end());
            apply_mask(payload.data(), payload.size(), w.data() + header - 4, 0);
            frame(wire, kFin | kRsv1 | kOpText, payload);
            expected.emplace_back(pool.expected(v), pool.expected(v) + 700);
        }
        const auto ev = run(r, wire, {}, expected, kOpText);
        ASSERT_EQ(ev.size(), 6u) << int(bits);
        for (const auto& e : ev)
            EXPECT_EQ(e.status, Status::kMessage) << int(bits);
        if (bits == 8) {
            EXPECT_GT(frames.payload_wire_bytes(0), 700u);  // stored blocks
        }
        if (bits == 15) {
            EXPECT_LT(frames.payload_wire_bytes(0), 350u);
        }
    }
}

TEST(WsloadPayloadPool, VariantsAreDistinctSlices) {
    PayloadPool pool(1024, true, false, kOpBinary, PayloadKind::kRandom);
    ASSERT_GE(pool.variants(), 16u);
    for (std::uint32_t v = 1; v < pool.variants(); ++v)
        ASSERT_NE(std::memcmp(pool.expected(v - 1), pool.expected(v), 1024), 0);
    // Each frame unmasks to its variant's bytes.
    const auto w = pool.wire(5);
    Bytes payload(w.begin() + 8, w.end());  // 2 + 2 (16-bit length) + 4 (mask)
    apply_mask(payload.data(), payload.size(), w.data() + 4, 0);
    EXPECT_EQ(std::memcmp(payload.data(), pool.expected(5), 1024), 0);
}

TEST(WsloadPayloadPool, JsonPatternLooksLikeRecords) {
    std::vector<std::uint8_t> p;
    fill_pattern(p, 4000, PayloadKind::kJson, false);
    ASSERT_EQ(p.size(), 4000u);
    const std::string s(p.begin(), p.end());
    EXPECT_TRUE(s.starts_with("{\"id\":100000,\"symbol\":\""));
    EXPECT_NE(s.find("\"price\":"), std::string::npos);
    EXPECT_NE(s.find("}\n{\"id\":100001,"), std::string::npos);
    for (const char ch : s)
        ASSERT_TRUE(ch == '\n' || (ch >= 0x20 && ch < 0x7F));
}
