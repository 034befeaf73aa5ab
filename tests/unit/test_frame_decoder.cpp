#include "proto/frame_decoder.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "guard_page.hpp"

namespace wsgate::proto {
namespace {

using Bytes = std::vector<uint8_t>;
using Key = std::array<uint8_t, 4>;

constexpr Key kRfcKey = {0x37, 0xfa, 0x21, 0x3d};  // RFC 6455 §5.7 examples
constexpr Key kOtherKey = {0xA1, 0x00, 0x5C, 0xFF};

// How the test client writes the payload length.
enum class LengthForm { minimal, bits16, bits64 };

// A client frame: first header byte as given (FIN, RSV, opcode), masked with
// `key` unless masked is false.
Bytes client_frame(uint8_t first_byte, std::string_view payload, Key key = kRfcKey,
                   bool masked = true, LengthForm form = LengthForm::minimal) {
    Bytes out{first_byte};
    uint8_t mask_bit = masked ? 0x80 : 0x00;
    uint64_t len = payload.size();
    if (form == LengthForm::minimal && len <= 125) {
        out.push_back(static_cast<uint8_t>(mask_bit | len));
    } else if ((form == LengthForm::minimal && len <= 0xFFFF) || form == LengthForm::bits16) {
        out.push_back(mask_bit | 126);
        out.push_back(static_cast<uint8_t>(len >> 8));
        out.push_back(static_cast<uint8_t>(len));
    } else {
        out.push_back(mask_bit | 127);
        for (int i = 7; i >= 0; --i)
            out.push_back(static_cast<uint8_t>(len >> (8 * i)));
    }
    if (masked) out.insert(out.end(), key.begin(), key.end());
    for (size_t i = 0; i < payload.size(); ++i) {
        uint8_t b = static_cast<uint8_t>(payload[i]);
        out.push_back(masked ? static_cast<uint8_t>(b ^ key[i % 4]) : b);
    }
    return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

std::string close_payload(uint16_t code, std::string_view reason = {}) {
    std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    p += reason;
    return p;
}

// Records every handler call as text; consecutive payload chunks are joined so
// that different splits of one stream compare equal.
struct Recorder {
    std::vector<std::string> events;
    std::string payload;  // every data payload byte delivered, in order
    size_t payload_calls = 0;
    std::vector<const uint8_t*> chunk_starts;
    bool in_payload = false;

    void on_frame_begin(const DataFrame& f) {
        in_payload = false;
        events.push_back("begin " +
                         std::string(f.message_opcode == Opcode::text ? "text" : "binary") +
                         (f.first ? " first" : "") + (f.fin ? " fin" : "") +
                         (f.rsv1 ? " rsv1" : "") + " " + std::to_string(f.payload_length));
    }
    void on_frame_payload(std::span<uint8_t> chunk) {
        ++payload_calls;
        chunk_starts.push_back(chunk.data());
        std::string s(reinterpret_cast<const char*>(chunk.data()), chunk.size());
        payload += s;
        if (!in_payload) events.push_back("data ");
        events.back() += s;
        in_payload = true;
    }
    void on_frame_end(bool message_end) {
        in_payload = false;
        events.push_back(message_end ? "end message" : "end frame");
    }
    void on_ping(std::span<const uint8_t> p) {
        in_payload = false;
        events.push_back("ping " + std::string(reinterpret_cast<const char*>(p.data()), p.size()));
    }
    void on_pong(std::span<const uint8_t> p) {
        in_payload = false;
        events.push_back("pong " + std::string(reinterpret_cast<const char*>(p.data()), p.size()));
    }
    void on_close(uint16_t code, std::string_view reason) {
        in_payload = false;
        events.push_back("close " + std::to_string(code) + " " + std::string(reason));
    }
};

struct Outcome {
    std::vector<std::string> events;
    size_t consumed = 0;  // total over all feeds
    CloseCode error = CloseCode::none;
    bool closed = false;
};

// Feeds `stream` in pieces of the given sizes (the last piece takes the rest),
// stopping at an error or close like a connection would.
Outcome decode_in_pieces(Bytes stream, const std::vector<size_t>& sizes,
                         FrameDecoderConfig config = {}) {
    FrameDecoder decoder(config);
    Recorder rec;
    Outcome out;
    size_t pos = 0;
    size_t i = 0;
    while (pos < stream.size()) {
        size_t n = i < sizes.size() ? std::min(sizes[i], stream.size() - pos) : stream.size() - pos;
        ++i;
        DecodeResult r = decoder.feed(stream.data() + pos, n, rec);
        EXPECT_LE(r.consumed, n);
        out.consumed += r.consumed;
        if (r.error != CloseCode::none || r.closed) {
            out.error = r.error;
            out.closed = r.closed;
            break;
        }
        EXPECT_EQ(r.consumed, n);
        pos += n;
    }
    out.events = rec.events;
    return out;
}

Outcome decode(const Bytes& stream, FrameDecoderConfig config = {}) {
    return decode_in_pieces(stream, {}, config);
}

using Events = std::vector<std::string>;

// ---- RFC 6455 §5.7 examples ----

TEST(FrameDecoder, Rfc6455MaskedHello) {
    Bytes wire{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    EXPECT_EQ(client_frame(0x81, "Hello"), wire);  // the test encoder agrees with the RFC
    Outcome o = decode(wire);
    EXPECT_EQ(o.error, CloseCode::none);
    EXPECT_EQ(o.consumed, wire.size());
    EXPECT_EQ(o.events, (Events{"begin text first fin 5", "data Hello", "end message"}));
}

TEST(FrameDecoder, Rfc6455FragmentedMaskedHello) {
    Bytes wire = concat({client_frame(0x01, "Hel"), client_frame(0x80, "lo")});
    Outcome o = decode(wire);
    EXPECT_EQ(o.error, CloseCode::none);
    EXPECT_EQ(o.events, (Events{"begin text first 3", "data Hel", "end frame", "begin text fin 2",
                                "data lo", "end message"}));
}

TEST(FrameDecoder, Rfc6455MaskedPong) {
    Bytes wire{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    Outcome o = decode(wire);
    EXPECT_EQ(o.error, CloseCode::none);
    EXPECT_EQ(o.events, (Events{"pong Hello"}));
}

TEST(FrameDecoder, Rfc6455UnmaskedPingIsRejectedFromAClient) {
    Bytes wire{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    Outcome o = decode(wire);
    EXPECT_EQ(o.error, CloseCode::protocol_error);
    EXPECT_TRUE(o.events.empty());
}

TEST(FrameDecoder, Rfc6455SixteenAndSixtyFourBitLengths) {
    std::string p256(256, '\0');
    for (size_t i = 0; i < p256.size(); ++i)
        p256[i] = static_cast<char>(i);
    Bytes f256 = client_frame(0x82, p256);
    EXPECT_EQ(Bytes(f256.begin(), f256.begin() + 4), (Bytes{0x82, 0xFE, 0x01, 0x00}));
    Outcome o = decode(f256);
    EXPECT_EQ(o.events, (Events{"begin binary first fin 256", "data " + p256, "end message"}));

    std::string p64k(65536, 'z');
    Bytes f64k = client_frame(0x82, p64k);
    EXPECT_EQ(Bytes(f64k.begin(), f64k.begin() + 10),
              (Bytes{0x82, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
    o = decode(f64k);
    EXPECT_EQ(o.error, CloseCode::none);
    EXPECT_EQ(o.events, (Events{"begin binary first fin 65536", "data " + p64k, "end message"}));
}

// ---- payload handling ----

TEST(FrameDecoder, PayloadIsUnmaskedInTheCallersBuffer) {
    Bytes wire = client_frame(0x82, "in place", kOtherKey);
    FrameDecoder decoder;
    Recorder rec;
    DecodeResult r = decoder.feed(wire.data(), wire.size(), rec);
    EXPECT_EQ(r.consumed, wire.size());
    ASSERT_EQ(rec.chunk_starts.size(), 1u);
    EXPECT_EQ(rec.chunk_starts[0], wire.data() + 6);
    EXPECT_EQ(std::string(wire.begin() + 6, wire.end()), "in place");
}

TEST(FrameDecoder, MaskKeyOffsetCarriesAcrossChunks) {
    std::string payload = "0123456789abcdefghij";
    Bytes wire = client_frame(0x82, payload, kOtherKey);
    for (size_t cut = 1; cut < wire.size(); ++cut) {
        Outcome o = decode_in_pieces(wire, {cut});
        EXPECT_EQ(o.events, (Events{"begin binary first fin 20", "data " + payload, "end message"}))
            << cut;
    }
}

TEST(FrameDecoder, NonMinimalLengthEncodingsAreAccepted) {
    for (LengthForm form : {LengthForm::bits16, LengthForm::bits64}) {
        Outcome o = decode(client_frame(0x82, "abc", kRfcKey, true, form));
        EXPECT_EQ(o.error, CloseCode::none);
        EXPECT_EQ(o.events, (Events{"begin binary first fin 3", "data abc", "end message"}));
    }
    Outcome o = decode(client_frame(0x89, "ping", kRfcKey, true, LengthForm::bits16));
    EXPECT_EQ(o.events, (Events{"ping ping"}));
}

TEST(FrameDecoder, ZeroLengthFramesHaveNoPayloadCall) {
    Bytes wire = concat({client_frame(0x81, ""), client_frame(0x02, ""), client_frame(0x00, ""),
                         client_frame(0x80, ""), client_frame(0x89, "")});
    FrameDecoder decoder;
    Recorder rec;
    DecodeResult r = decoder.feed(wire.data(), wire.size(), rec);
    EXPECT_EQ(r.consumed, wire.size());
    EXPECT_EQ(r.error, CloseCode::none);
    EXPECT_EQ(rec.payload_calls, 0u);
    EXPECT_EQ(rec.events, (Events{"begin text first fin 0", "end message", "begin binary first 0",
                                  "end frame", "begin binary 0", "end frame", "begin binary fin 0",
                                  "end message", "ping "}));
}

TEST(FrameDecoder, ControlFramesInsideAFragmentedMessageAreDeliveredWhole) {
    Bytes wire = concat({client_frame(0x01, "Hel"), client_frame(0x89, "are you there?"),
                         client_frame(0x8A, "pong!"), client_frame(0x80, "lo")});
    Events expected{"begin text first 3", "data Hel",         "end frame", "ping are you there?",
                    "pong pong!",         "begin text fin 2", "data lo",   "end message"};
    EXPECT_EQ(decode(wire).events, expected);
    // The ping cut at every byte still arrives as one call with the whole payload.
    for (size_t cut = 1; cut < wire.size(); ++cut) {
        EXPECT_EQ(decode_in_pieces(wire, {cut}).events, expected) << cut;
    }
}

TEST(FrameDecoder, MaxSizeControlFrameSplitAcrossFeeds) {
    std::string p(125, 'c');
    Bytes wire = client_frame(0x89, p);
    Outcome o = decode_in_pieces(wire, {3, 50, 1});
    EXPECT_EQ(o.events, (Events{"ping " + p}));
}

// ---- protocol errors (1002) ----

void expect_error(const Bytes& wire, CloseCode code, FrameDecoderConfig config = {}) {
    Outcome o = decode(wire, config);
    EXPECT_EQ(o.error, code);
    EXPECT_FALSE(o.closed);
    // The same verdict when the bytes trickle in one at a time.
    Outcome slow = decode_in_pieces(wire, std::vector<size_t>(wire.size(), 1), config);
    EXPECT_EQ(slow.error, code);
    EXPECT_EQ(slow.events, o.events);
}

TEST(FrameDecoder, UnmaskedClientFrameIs1002) {
    expect_error(client_frame(0x81, "Hello", kRfcKey, false), CloseCode::protocol_error);
    expect_error(client_frame(0x82, "", kRfcKey, false), CloseCode::protocol_error);
}

TEST(FrameDecoder, ReservedBitsAre1002) {
    expect_error(client_frame(0xC1, "x"), CloseCode::protocol_error);  // RSV1, no extension
    expect_error(client_frame(0xA1, "x"), CloseCode::protocol_error);  // RSV2
    expect_error(client_frame(0x91, "x"), CloseCode::protocol_error);  // RSV3
    FrameDecoderConfig deflate{.rsv1_allowed = true};
    expect_error(client_frame(0xA2, "x"), CloseCode::protocol_error, deflate);
    expect_error(client_frame(0x92, "x"), CloseCode::protocol_error, deflate);
}

TEST(FrameDecoder, Rsv1OnContinuationOrControlIs1002EvenWithDeflate) {
    FrameDecoderConfig deflate{.rsv1_allowed = true};
    expect_error(concat({client_frame(0x41, "a"), client_frame(0xC0, "b")}),
                 CloseCode::protocol_error, deflate);
    expect_error(client_frame(0xC9, "p"), CloseCode::protocol_error, deflate);
    expect_error(client_frame(0xCA, "p"), CloseCode::protocol_error, deflate);
    expect_error(client_frame(0xC8, close_payload(1000)), CloseCode::protocol_error, deflate);
}

TEST(FrameDecoder, Rsv1WithDeflateMarksTheMessageAndSkipsUtf8) {
    FrameDecoderConfig deflate{.rsv1_allowed = true};
    // Compressed bytes are not UTF-8; the layer that inflates validates.
    Bytes wire = concat({client_frame(0x41, "\xFF\xFE"), client_frame(0x80, "\xC0")});
    Outcome o = decode(wire, deflate);
    EXPECT_EQ(o.error, CloseCode::none);
    EXPECT_EQ(o.events, (Events{"begin text first rsv1 2", "data \xFF\xFE", "end frame",
                                "begin text fin rsv1 1", "data \xC0", "end message"}));
    // The next, uncompressed text message is validated again.
    Bytes next = concat({wire, client_frame(0x81, "\xFF")});
    EXPECT_EQ(decode(next, deflate).error, CloseCode::invalid_payload);
}

// Takes at most `quota` payload bytes per feed() and pauses on the rest.
struct Pauser {
    FrameDecoder* decoder = nullptr;
    size_t quota = 0;
    size_t taken_this_feed = 0;
    std::string payload;
    std::vector<std::string> events;

    void on_frame_begin(const DataFrame&) { events.push_back("begin"); }
    void on_frame_payload(std::span<uint8_t> chunk) {
        const size_t take = std::min(chunk.size(), quota - taken_this_feed);
        payload.append(reinterpret_cast<const char*>(chunk.data()), take);
        taken_this_feed += take;
        decoder->pause_payload(chunk.subspan(take));
    }
    void on_frame_end(bool message_end) { events.push_back(message_end ? "end message" : "end"); }
    void on_ping(std::span<const uint8_t>) { events.push_back("ping"); }
    void on_pong(std::span<const uint8_t>) {}
    void on_close(uint16_t, std::string_view) { events.push_back("close"); }
};

TEST(FrameDecoder, PauseInsideCompressedPayloadResumesExactly) {
    FrameDecoderConfig deflate{.rsv1_allowed = true};
    const std::string a = "compressed bytes of the first frame";
    const std::string b = "and of the last one";
    const Bytes wire = concat({client_frame(0x42, a, {1, 2, 3, 4}), client_frame(0x89, "p"),
                               client_frame(0x80, b, {9, 8, 7, 6})});
    for (size_t quota : {size_t{1}, size_t{3}, size_t{7}, size_t{1000}}) {
        FrameDecoder decoder(deflate);
        Pauser h;
        h.decoder = &decoder;
        h.quota = quota;
        Bytes buf = wire;
        size_t pos = 0;
        int pauses = 0;
        while (pos < buf.size()) {
            h.taken_this_feed = 0;
            DecodeResult r = decoder.feed(buf.data() + pos, buf.size() - pos, h);
            ASSERT_EQ(r.error, CloseCode::none);
            if (r.paused) {
                ++pauses;
                // What was not taken is back as it arrived (masked), so a
                // copy of it (parked input) decodes the same.
                EXPECT_TRUE(std::equal(buf.begin() + static_cast<ptrdiff_t>(pos + r.consumed),
                                       buf.end(),
                                       wire.begin() + static_cast<ptrdiff_t>(pos + r.consumed)))
                    << "quota " << quota;
            } else {
                EXPECT_EQ(r.consumed, buf.size() - pos);
            }
            pos += r.consumed;
            ASSERT_LT(pauses, 1000);
        }
        EXPECT_EQ(h.payload, a + b) << "quota " << quota;
        EXPECT_EQ(h.events,
                  (std::vector<std::string>{"begin", "end", "ping", "begin", "end message"}))
            << "quota " << quota;
        if (quota < a.size()) {
            EXPECT_GT(pauses, 0);
        }
    }
}

TEST(FrameDecoder, PauseIsIgnoredWhereTheDecoderValidatesUtf8) {
    // Uncompressed text has been fed to the UTF-8 validator already: it
    // cannot be taken back, so pausing there is a no-op.
    FrameDecoder decoder;
    Pauser h;
    h.decoder = &decoder;
    h.quota = 2;
    Bytes wire = client_frame(0x81, "hello");
    DecodeResult r = decoder.feed(wire.data(), wire.size(), h);
    EXPECT_FALSE(r.paused);
    EXPECT_EQ(r.consumed, wire.size());
}

TEST(FrameDecoder, ReservedOpcodesAre1002) {
    for (uint8_t op : {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
        SCOPED_TRACE(op);
        expect_error(client_frame(static_cast<uint8_t>(0x80 | op), "x"), CloseCode::protocol_error);
        expect_error(client_frame(static_cast<uint8_t>(0x80 | op), ""), CloseCode::protocol_error);
    }
}

TEST(FrameDecoder, ControlFrameOver125Is1002) {
    expect_error(client_frame(0x89, std::string(126, 'p')), CloseCode::protocol_error);
    expect_error(client_frame(0x8A, std::string(126, 'p')), CloseCode::protocol_error);
    expect_error(client_frame(0x88, close_payload(1000, std::string(124, 'r'))),
                 CloseCode::protocol_error);
    // 125 exactly is fine.
    EXPECT_EQ(decode(client_frame(0x89, std::string(125, 'p'))).error, CloseCode::none);
}

TEST(FrameDecoder, OversizedControlFrameFailsAtTheHeader) {
    Bytes wire = client_frame(0x89, std::string(126, 'p'));
    wire.resize(8);  // header only
    EXPECT_EQ(decode(wire).error, CloseCode::protocol_error);
}

TEST(FrameDecoder, FragmentedControlFrameIs1002) {
    expect_error(client_frame(0x09, "p"), CloseCode::protocol_error);
    expect_error(client_frame(0x0A, "p"), CloseCode::protocol_error);
    expect_error(client_frame(0x08, close_payload(1000)), CloseCode::protocol_error);
}

TEST(FrameDecoder, ContinuationWithoutMessageIs1002) {
    expect_error(client_frame(0x80, "x"), CloseCode::protocol_error);
    expect_error(client_frame(0x00, "x"), CloseCode::protocol_error);
    // ... also after a complete message.
    expect_error(concat({client_frame(0x81, "a"), client_frame(0x80, "b")}),
                 CloseCode::protocol_error);
}

TEST(FrameDecoder, NewMessageInsideFragmentedMessageIs1002) {
    expect_error(concat({client_frame(0x01, "a"), client_frame(0x81, "b")}),
                 CloseCode::protocol_error);
    expect_error(concat({client_frame(0x02, "a"), client_frame(0x82, "b")}),
                 CloseCode::protocol_error);
    expect_error(concat({client_frame(0x01, "a"), client_frame(0x02, "b")}),
                 CloseCode::protocol_error);
}

TEST(FrameDecoder, SixtyFourBitLengthWithTopBitIs1002) {
    Bytes wire{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    expect_error(wire, CloseCode::protocol_error);
    FrameDecoderConfig unlimited{.max_message_bytes = UINT64_MAX};
    expect_error(wire, CloseCode::protocol_error, unlimited);
}

TEST(FrameDecoder, ErrorStopsDeliveryForGood) {
    Bytes wire =
        concat({client_frame(0x81, "ok"), client_frame(0x80, "bad"), client_frame(0x81, "never")});
    FrameDecoder decoder;
    Recorder rec;
    DecodeResult r = decoder.feed(wire.data(), wire.size(), rec);
    EXPECT_EQ(r.error, CloseCode::protocol_error);
    EXPECT_LT(r.consumed, wire.size());
    size_t events = rec.events.size();
    Bytes more = client_frame(0x81, "more");
    r = decoder.feed(more.data(), more.size(), rec);
    EXPECT_EQ(r.error, CloseCode::protocol_error);
    EXPECT_EQ(r.consumed, 0u);
    EXPECT_EQ(rec.events.size(), events);
    // reset() starts a fresh stream.
    decoder.reset();
    r = decoder.feed(more.data(), more.size(), rec);
    EXPECT_EQ(r.error, CloseCode::none);
    EXPECT_EQ(rec.events.back(), "end message");
}

// ---- message size (1009) ----

TEST(FrameDecoder, MessageOverLimitIs1009AtTheHeader) {
    FrameDecoderConfig small{.max_message_bytes = 10};
    Bytes wire = client_frame(0x82, std::string(11, 'b'));
    wire.resize(6);  // the header is enough: no payload byte has arrived
    Outcome o = decode(wire, small);
    EXPECT_EQ(o.error, CloseCode::message_too_big);
    EXPECT_TRUE(o.events.empty());
    // A 2^62 byte frame claim is refused without waiting for it.
    Bytes huge{0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    EXPECT_EQ(decode(huge).error, CloseCode::message_too_big);
}

TEST(FrameDecoder, MessageAtLimitIsAccepted) {
    FrameDecoderConfig small{.max_message_bytes = 10};
    Bytes wire = concat({client_frame(0x02, "12345"), client_frame(0x80, "67890")});
    Outcome o = decode(wire, small);
    EXPECT_EQ(o.error, CloseCode::none);
    EXPECT_EQ(o.events.back(), "end message");
}

TEST(FrameDecoder, SumOfFragmentsOverLimitIs1009) {
    FrameDecoderConfig small{.max_message_bytes = 10};
    Bytes wire = concat({client_frame(0x02, "12345"), client_frame(0x00, "6789"),
                         client_frame(0x89, "ping does not count"), client_frame(0x80, "01")});
    Outcome o = decode(wire, small);
    EXPECT_EQ(o.error, CloseCode::message_too_big);
    EXPECT_EQ(o.events, (Events{"begin binary first 5", "data 12345", "end frame", "begin binary 4",
                                "data 6789", "end frame", "ping ping does not count"}));
    // The limit is per message: the count starts again after FIN.
    Bytes two = concat({client_frame(0x82, "1234567890"), client_frame(0x82, "1234567890")});
    EXPECT_EQ(decode(two, small).error, CloseCode::none);
}

// ---- close frames ----

TEST(FrameDecoder, CloseWithCodeAndReason) {
    Bytes wire = concat({client_frame(0x88, close_payload(1000, "bye")), client_frame(0x81, "x")});
    FrameDecoder decoder;
    Recorder rec;
    DecodeResult r = decoder.feed(wire.data(), wire.size(), rec);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.error, CloseCode::none);
    EXPECT_EQ(r.consumed, 2u + 4u + 5u);  // right after the close frame
    EXPECT_EQ(rec.events, (Events{"close 1000 bye"}));
    // Nothing after a close.
    r = decoder.feed(wire.data() + 11, wire.size() - 11, rec);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.consumed, 0u);
    EXPECT_EQ(rec.events.size(), 1u);
}

TEST(FrameDecoder, EmptyCloseReports1005) {
    Outcome o = decode(client_frame(0x88, ""));
    EXPECT_TRUE(o.closed);
    EXPECT_EQ(o.events, (Events{"close 1005 "}));
}

TEST(FrameDecoder, OneByteClosePayloadIs1002) {
    expect_error(client_frame(0x88, "\x03"), CloseCode::protocol_error);
}

TEST(FrameDecoder, CloseCodeBoundaries) {
    struct Case {
        uint16_t code;
        bool valid;
    };
    const Case cases[] = {{0, false},    {999, false},  {1000, true},  {1001, true},
                          {1002, true},  {1003, true},  {1004, false}, {1005, false},
                          {1006, false}, {1007, true},  {1010, true},  {1011, true},
                          {1012, false}, {1015, false}, {2999, false}, {3000, true},
                          {4000, true},  {4999, true},  {5000, false}, {65535, false}};
    for (const Case& c : cases) {
        SCOPED_TRACE(c.code);
        Outcome o = decode(client_frame(0x88, close_payload(c.code, "r")));
        if (c.valid) {
            EXPECT_TRUE(o.closed);
            EXPECT_EQ(o.error, CloseCode::none);
            EXPECT_EQ(o.events, (Events{"close " + std::to_string(c.code) + " r"}));
        } else {
            EXPECT_FALSE(o.closed);
            EXPECT_EQ(o.error, CloseCode::protocol_error);
            EXPECT_TRUE(o.events.empty());
        }
    }
}

TEST(FrameDecoder, CloseReasonMustBeUtf8) {
    expect_error(client_frame(0x88, close_payload(1000, "bad \xFF")), CloseCode::invalid_payload);
    expect_error(client_frame(0x88, close_payload(1000, "cut \xE2\x82")),
                 CloseCode::invalid_payload);
    Outcome o = decode(client_frame(0x88, close_payload(1000, "\xE2\x82\xAC ok")));
    EXPECT_EQ(o.events, (Events{"close 1000 \xE2\x82\xAC ok"}));
}

TEST(FrameDecoder, CloseInsideFragmentedMessage) {
    Bytes wire = concat({client_frame(0x01, "Hel"), client_frame(0x88, close_payload(1001))});
    Outcome o = decode(wire);
    EXPECT_TRUE(o.closed);
    EXPECT_EQ(o.events, (Events{"begin text first 3", "data Hel", "end frame", "close 1001 "}));
}

// ---- UTF-8 (1007) ----

TEST(FrameDecoder, InvalidUtf8InFirstFragmentFailsAtThatFeed) {
    // Only the first fragment (FIN=0) has arrived: the error must not wait for FIN.
    Bytes first = client_frame(0x01, "ok\xFFok");
    FrameDecoder decoder;
    Recorder rec;
    DecodeResult r = decoder.feed(first.data(), first.size(), rec);
    EXPECT_EQ(r.error, CloseCode::invalid_payload);
    EXPECT_EQ(rec.payload_calls, 0u);  // the invalid chunk is not delivered
    EXPECT_EQ(rec.events, (Events{"begin text first 5"}));
}

TEST(FrameDecoder, InvalidUtf8MidFrameFailsAsSoonAsItArrives) {
    Bytes wire = client_frame(0x81, "valid start, then \xED\xA0\x80 a surrogate");
    // The valid head is delivered; the chunk with the surrogate prefix is not.
    Outcome o = decode_in_pieces(wire, {6 + 10, 8});
    EXPECT_EQ(o.error, CloseCode::invalid_payload);
    EXPECT_EQ(o.events, (Events{"begin text first fin 33", "data valid start, then "}));
}

TEST(FrameDecoder, TextMessageEndingInsideACodePointIs1007) {
    Outcome o = decode(client_frame(0x81, "euro \xE2\x82"));
    EXPECT_EQ(o.error, CloseCode::invalid_payload);
    EXPECT_EQ(o.events, (Events{"begin text first fin 7", "data euro \xE2\x82"}));
    // An empty final frame after a cut code point too.
    Bytes wire = concat({client_frame(0x01, "\xE2\x82"), client_frame(0x80, "")});
    o = decode(wire);
    EXPECT_EQ(o.error, CloseCode::invalid_payload);
    EXPECT_EQ(o.events.back(), "begin text fin 0");
}

TEST(FrameDecoder, CodePointSplitAcrossFragmentsIsValid) {
    Bytes wire = concat(
        {client_frame(0x01, "\xF0\x9D"), client_frame(0x00, "\x84"), client_frame(0x80, "\x9E!")});
    for (size_t cut = 0; cut < wire.size(); ++cut) {
        Outcome o = decode_in_pieces(wire, {cut == 0 ? wire.size() : cut});
        EXPECT_EQ(o.error, CloseCode::none) << cut;
        EXPECT_EQ(o.events.back(), "end message");
    }
}

TEST(FrameDecoder, BinaryIsNotUtf8Validated) {
    Outcome o = decode(client_frame(0x82, "\xFF\xC0\xED\xA0\x80"));
    EXPECT_EQ(o.error, CloseCode::none);
}

// ---- splitting ----

Bytes mixed_stream() {
    std::string mid(300, '\0');
    for (size_t i = 0; i < mid.size(); ++i)
        mid[i] = static_cast<char>(i * 7);
    return concat({
        client_frame(0x81, "Hello"),
        client_frame(0x01, "caf\xC3"),
        client_frame(0x89, "ping in the middle", kOtherKey),
        client_frame(0x00, "\xA9 \xE2\x82"),
        client_frame(0x80, "\xAC done", kOtherKey),
        client_frame(0x82, mid, kOtherKey),
        client_frame(0x82, "abc", kRfcKey, true, LengthForm::bits64),
        client_frame(0x8A, ""),
        client_frame(0x81, ""),
        client_frame(0x02, "bin"),
        client_frame(0x80, ""),
        client_frame(0x88, close_payload(3000, "end \xC3\xA9")),
        client_frame(0x81, "after close"),
    });
}

TEST(FrameDecoder, SplitAtEveryByteGivesTheSameEvents) {
    const Bytes stream = mixed_stream();
    Outcome whole = decode(stream);
    ASSERT_TRUE(whole.closed);
    ASSERT_EQ(whole.error, CloseCode::none);
    EXPECT_EQ(whole.events.size(), 28u);
    EXPECT_EQ(whole.events.back(), "close 3000 end \xC3\xA9");
    EXPECT_EQ(whole.consumed, stream.size() - client_frame(0x81, "after close").size());

    for (size_t cut = 1; cut < stream.size(); ++cut) {
        Outcome o = decode_in_pieces(stream, {cut});
        ASSERT_EQ(o.events, whole.events) << "cut at " << cut;
        ASSERT_TRUE(o.closed);
        ASSERT_EQ(o.consumed, whole.consumed);
    }
    Outcome bytewise = decode_in_pieces(stream, std::vector<size_t>(stream.size(), 1));
    EXPECT_EQ(bytewise.events, whole.events);
    EXPECT_EQ(bytewise.consumed, whole.consumed);
}

TEST(FrameDecoder, RandomChunkSizesGiveTheSameEvents) {
    const Bytes stream = mixed_stream();
    Outcome whole = decode(stream);
    std::mt19937 rng(6455);
    std::uniform_int_distribution<size_t> size(0, 40);
    for (int round = 0; round < 500; ++round) {
        std::vector<size_t> sizes;
        for (size_t total = 0; total < stream.size();) {
            sizes.push_back(size(rng));  // zero-length feeds included
            total += sizes.back();
        }
        Outcome o = decode_in_pieces(stream, sizes);
        ASSERT_EQ(o.events, whole.events) << "round " << round;
        ASSERT_EQ(o.consumed, whole.consumed);
    }
}

TEST(FrameDecoder, SplitAtEveryByteGivesTheSameError) {
    const Bytes streams[] = {
        concat({client_frame(0x01, "ab"), client_frame(0x89, "p"), client_frame(0x00, "c\xC0")}),
        concat({client_frame(0x81, "ok"), client_frame(0x93, "x")}),
        concat({client_frame(0x02, "ab"), client_frame(0x88, close_payload(1004))}),
    };
    for (const Bytes& stream : streams) {
        Outcome whole = decode(stream);
        ASSERT_NE(whole.error, CloseCode::none);
        for (size_t cut = 1; cut < stream.size(); ++cut) {
            Outcome o = decode_in_pieces(stream, {cut});
            ASSERT_EQ(o.error, whole.error) << cut;
            ASSERT_EQ(o.events.size() >= 1 ? o.events.front() : "",
                      whole.events.size() >= 1 ? whole.events.front() : "");
        }
    }
}

// ---- guard page: the decoder never reads past data + len ----

TEST(FrameDecoder, GuardPageWholeStream) {
    const Bytes stream = mixed_stream();
    Bytes until_close(stream.begin(), stream.end() - client_frame(0x81, "after close").size());
    test::GuardedBuffer buf(until_close.data(), until_close.size());
    FrameDecoder decoder;
    Recorder rec;
    DecodeResult r = decoder.feed(buf.data(), buf.size(), rec);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.consumed, buf.size());
    EXPECT_EQ(rec.events, decode(stream).events);
}

TEST(FrameDecoder, GuardPageEveryPrefixEndsAtTheGuard) {
    // Each prefix of the stream ends at the guard page: a partial header,
    // mask key or payload at the very end must not be read beyond.
    const Bytes stream = mixed_stream();
    for (size_t len = 0; len <= 120; ++len) {
        test::GuardedBuffer buf(stream.data(), len);
        FrameDecoder decoder;
        Recorder rec;
        DecodeResult r = decoder.feed(buf.data(), buf.size(), rec);
        EXPECT_EQ(r.consumed, len);
        EXPECT_EQ(r.error, CloseCode::none);
    }
}

TEST(FrameDecoder, GuardPageBytewise) {
    const Bytes stream = mixed_stream();
    FrameDecoder decoder;
    Recorder rec;
    for (size_t i = 0; i < stream.size(); ++i) {
        test::GuardedBuffer one(stream.data() + i, 1);
        DecodeResult r = decoder.feed(one.data(), 1, rec);
        if (r.closed) break;
        ASSERT_EQ(r.consumed, 1u);
    }
    EXPECT_EQ(rec.events.back(), "close 3000 end \xC3\xA9");
}

// ---- idle memory: the stash for cut headers/control frames ----

// Records what the decoder reports about the current frame from inside the
// payload callback (accessors the server uses instead of keeping copies).
struct FrameProbe {
    const FrameDecoder* decoder = nullptr;
    std::vector<uint64_t> remaining;
    std::vector<size_t> headroom;
    std::vector<bool> fin;
    std::vector<Opcode> opcode;
    void on_frame_begin(const DataFrame&) {}
    void on_frame_payload(std::span<uint8_t>) {
        remaining.push_back(decoder->payload_remaining());
        headroom.push_back(decoder->payload_headroom());
        fin.push_back(decoder->frame_fin());
        opcode.push_back(decoder->message_opcode());
    }
    void on_frame_end(bool) {}
    void on_ping(std::span<const uint8_t>) {}
    void on_pong(std::span<const uint8_t>) {}
    void on_close(uint16_t, std::string_view) {}
};

TEST(FrameDecoder, StashIsHeldOnlyWhileAHeaderIsCut) {
    const Bytes masked = client_frame(0x82, std::string(300, 'x'));  // 8-byte header
    for (size_t cut = 1; cut < 8; ++cut) {
        Bytes wire = masked;  // unmasked in place: a fresh copy each time
        FrameDecoder decoder;
        Recorder rec;
        EXPECT_FALSE(decoder.holds_stash());
        decoder.feed(wire.data(), cut, rec);
        EXPECT_TRUE(decoder.holds_stash()) << cut;
        decoder.feed(wire.data() + cut, 8 - cut + 10, rec);  // rest of header + some payload
        EXPECT_FALSE(decoder.holds_stash()) << cut;
        decoder.feed(wire.data() + 18, wire.size() - 18, rec);
        EXPECT_FALSE(decoder.holds_stash());
        EXPECT_EQ(rec.payload, std::string(300, 'x'));
    }
}

TEST(FrameDecoder, StashIsHeldOnlyWhileAControlFrameIsCut) {
    Bytes wire = concat({client_frame(0x89, std::string(100, 'p')), client_frame(0x82, "ab")});
    FrameDecoder decoder;
    Recorder rec;
    decoder.feed(wire.data(), 40, rec);  // header + part of the ping payload
    EXPECT_TRUE(decoder.holds_stash());
    decoder.feed(wire.data() + 40, 106 - 40, rec);  // rest of the ping
    EXPECT_FALSE(decoder.holds_stash());
    EXPECT_EQ(rec.events, (Events{"ping " + std::string(100, 'p')}));
    decoder.feed(wire.data() + 106, wire.size() - 106, rec);
    EXPECT_FALSE(decoder.holds_stash());
    EXPECT_EQ(rec.payload, "ab");
}

TEST(FrameDecoder, ResetAndErrorsGiveTheStashBack) {
    Bytes wire = client_frame(0x89, "ping");
    FrameDecoder decoder;
    Recorder rec;
    decoder.feed(wire.data(), 1, rec);
    EXPECT_TRUE(decoder.holds_stash());
    decoder.reset();
    EXPECT_FALSE(decoder.holds_stash());
    Bytes bad = client_frame(0x83, "x");  // reserved opcode, header cut after 1 byte
    decoder.feed(bad.data(), 1, rec);
    EXPECT_TRUE(decoder.holds_stash());
    DecodeResult r = decoder.feed(bad.data() + 1, bad.size() - 1, rec);
    EXPECT_EQ(r.error, CloseCode::protocol_error);
    EXPECT_FALSE(decoder.holds_stash());
}

TEST(FrameDecoder, FrameAccessorsInsideThePayloadCallback) {
    // A 200-byte text frame (8-byte header), then a 5-byte binary frame
    // (6-byte header) whose header is cut across feeds.
    Bytes wire = concat({client_frame(0x81, std::string(200, 't')), client_frame(0x82, "hello")});
    FrameDecoder decoder;
    FrameProbe probe;
    probe.decoder = &decoder;
    decoder.feed(wire.data(), 108, probe);            // header + first 100 payload bytes
    decoder.feed(wire.data() + 108, 100 + 3, probe);  // rest + 3 bytes of the next header
    decoder.feed(wire.data() + 211, wire.size() - 211, probe);
    EXPECT_EQ(probe.remaining, (std::vector<uint64_t>{100, 0, 0}));
    EXPECT_EQ(probe.headroom, (std::vector<size_t>{8, 0, 0}));
    EXPECT_EQ(probe.fin, (std::vector<bool>{true, true, true}));
    EXPECT_EQ(probe.opcode, (std::vector<Opcode>{Opcode::text, Opcode::text, Opcode::binary}));
    // Whole frames in one buffer: the headroom is each frame's own header.
    FrameDecoder whole;
    FrameProbe p2;
    p2.decoder = &whole;
    Bytes two = concat({client_frame(0x82, "ab"), client_frame(0x82, std::string(130, 'z'))});
    whole.feed(two.data(), two.size(), p2);
    EXPECT_EQ(p2.headroom, (std::vector<size_t>{6, 8}));
}

TEST(FrameDecoder, HeadroomIsZeroWhenThePayloadStartsTheNextFeed) {
    // A header that ends its buffer exactly: its payload starts the next
    // feed, where nothing before the chunk belongs to this frame. A writer
    // trusting a stale headroom there writes before the caller's buffer.
    Bytes wire = client_frame(0x82, std::string(300, 'p'));
    const size_t header = 8;  // 2 + 16-bit length + mask
    FrameDecoder decoder;
    FrameProbe probe;
    probe.decoder = &decoder;
    decoder.feed(wire.data(), header, probe);
    decoder.feed(wire.data() + header, wire.size() - header, probe);
    EXPECT_EQ(probe.headroom, (std::vector<size_t>{0}));
    // The same in the client role (a proxy's upstream side), unmasked.
    FrameDecoderConfig config;
    config.expect_masked = false;
    Bytes plain = client_frame(0x82, std::string(300, 'p'), kRfcKey, false);
    FrameDecoder client(config);
    FrameProbe p2;
    p2.decoder = &client;
    client.feed(plain.data(), 4, p2);
    client.feed(plain.data() + 4, plain.size() - 4, p2);
    EXPECT_EQ(p2.headroom, (std::vector<size_t>{0}));
}

}  // namespace
}  // namespace wsgate::proto

// ---- client role: a server's frames (a proxy's upstream side) ----

namespace wsgate::proto {
namespace {

FrameDecoderConfig client_role() {
    FrameDecoderConfig config;
    config.expect_masked = false;
    return config;
}

TEST(FrameDecoderClientRole, UnmaskedServerFramesAreDecoded) {
    // RFC 6455 §5.7: a single-frame unmasked text message, then a fragmented one.
    Bytes wire{0x81, 0x05, 'H', 'e', 'l',  'l',  'o', 0x01,
               0x03, 'H',  'e', 'l', 0x80, 0x02, 'l', 'o'};
    Outcome out = decode(wire, client_role());
    EXPECT_EQ(out.error, CloseCode::none);
    EXPECT_EQ(out.events,
              (Events{"begin text first fin 5", "data Hello", "end message", "begin text first 3",
                      "data Hel", "end frame", "begin text fin 2", "data lo", "end message"}));
}

TEST(FrameDecoderClientRole, MaskedServerFrameIs1002) {
    // RFC 6455 §5.1: a client closes on a masked frame from the server.
    Outcome out = decode(client_frame(0x81, "Hello"), client_role());
    EXPECT_EQ(out.error, CloseCode::protocol_error);
    EXPECT_TRUE(out.events.empty());
}

TEST(FrameDecoderClientRole, ServerRulesStillHold) {
    EXPECT_EQ(decode(client_frame(0x83, "x", kRfcKey, false), client_role()).error,
              CloseCode::protocol_error);  // reserved opcode
    EXPECT_EQ(decode(client_frame(0x09, "p", kRfcKey, false), client_role()).error,
              CloseCode::protocol_error);  // fragmented ping
    EXPECT_EQ(decode(client_frame(0x81, "\xff", kRfcKey, false), client_role()).error,
              CloseCode::invalid_payload);
    Outcome close =
        decode(client_frame(0x88, close_payload(4001, "bye"), kRfcKey, false), client_role());
    EXPECT_TRUE(close.closed);
    EXPECT_EQ(close.events, (Events{"close 4001 bye"}));
}

TEST(FrameDecoderClientRole, ServerOnlyCloseCodesAreAcceptedFromAServer) {
    // IANA registry: 1012-1014 are sent by servers; a server still fails a
    // client that sends them (is_valid_wire_close_code).
    for (uint16_t code : {1012, 1013, 1014}) {
        Outcome from_server =
            decode(client_frame(0x88, close_payload(code, "r"), kRfcKey, false), client_role());
        EXPECT_TRUE(from_server.closed) << code;
        EXPECT_EQ(from_server.events, (Events{"close " + std::to_string(code) + " r"}));
        EXPECT_EQ(decode(client_frame(0x88, close_payload(code))).error, CloseCode::protocol_error)
            << code;
    }
    EXPECT_EQ(decode(client_frame(0x88, close_payload(1015), kRfcKey, false), client_role()).error,
              CloseCode::protocol_error);
    EXPECT_EQ(decode(client_frame(0x88, close_payload(1016), kRfcKey, false), client_role()).error,
              CloseCode::protocol_error);
}

TEST(FrameDecoderClientRole, SplitAtEveryByteGivesTheSameEvents) {
    Bytes wire = concat({client_frame(0x01, "fragm", kRfcKey, false),
                         client_frame(0x89, "ping", kRfcKey, false),
                         client_frame(0x80, "ented", kRfcKey, false)});
    Events whole = decode(wire, client_role()).events;
    for (size_t cut = 1; cut < wire.size(); ++cut) {
        EXPECT_EQ(decode_in_pieces(wire, {cut}, client_role()).events, whole) << cut;
    }
}

}  // namespace
}  // namespace wsgate::proto
