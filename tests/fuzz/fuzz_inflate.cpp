// libFuzzer target for MessageInflater (and, in round-trip mode,
// MessageDeflater). Input layout:
//   byte 0   config: bits 0-2 window bits (9 + n, capped at 15), bit 3
//            no_context_takeover, bit 4 round-trip mode, bit 5 tight work
//            bounds (inflate mode: ratio 4 past 64 bytes of work, 16 bytes
//            of input without output, 200 compressed bytes per message)
//   byte 1   output space per call: 1 + (byte % 64) bytes
//   rest     a list of pieces: a length byte L, then L bytes (fewer at the
//            end of the input). L == 0 ends the current message.
// Inflate mode: pieces are compressed payload chunks of up to 4 messages,
//   inflated with a 300-byte limit. Invariants: the inflater never reports
//   consuming more than it was given or producing more than the output
//   space, nor less work than output; a message never delivers more than
//   the limit nor consumes more than the compressed limit; after an error
//   no further progress.
// Round-trip mode: pieces are plain message chunks, compressed with an
//   output space of at least kMinDeflateOutput and inflated back with the
//   default work bounds (a real deflater's output never trips them): the
//   bytes must come back exactly.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "proto/message_deflater.hpp"
#include "proto/message_inflater.hpp"

namespace {

using namespace wsgate::proto;

constexpr uint8_t kWindowMask = 0x07;
constexpr uint8_t kNoContextFlag = 0x08;
constexpr uint8_t kRoundTripFlag = 0x10;
constexpr uint8_t kTightBoundsFlag = 0x20;
constexpr uint64_t kSmallLimit = 300;
constexpr size_t kMaxOutSpace = 64;
constexpr size_t kMaxMessages = 4;

void check(bool ok) {
    if (!ok) std::abort();
}

struct Piece {
    std::span<const uint8_t> bytes;
    bool ends_message;
};

// Splits the input into pieces; returns false when it ran out.
bool next_piece(std::span<const uint8_t>& in, Piece& piece) {
    if (in.empty()) return false;
    const size_t len = in[0];
    in = in.subspan(1);
    const size_t take = std::min(len, in.size());
    piece = {in.first(take), len == 0};
    in = in.subspan(take);
    return true;
}

// Inflates one message's pieces; returns false once the inflater failed.
bool inflate_piece(MessageInflater& inf, std::span<const uint8_t> chunk, std::span<uint8_t> space,
                   std::vector<uint8_t>* sink, uint64_t& delivered, uint64_t& consumed) {
    while (!chunk.empty()) {
        InflateResult r = inf.inflate(chunk, space);
        check(r.consumed <= chunk.size() && r.produced <= space.size() && r.work >= r.produced);
        delivered += r.produced;
        consumed += r.consumed;
        check(delivered <= inf.settings().max_message_bytes);
        check(consumed <= inf.settings().max_compressed_bytes);
        if (sink) sink->insert(sink->end(), space.begin(), space.begin() + r.produced);
        if (r.status != InflateStatus::ok) {
            // Errors are final: nothing more comes out.
            InflateResult again = inf.inflate(chunk, space);
            check(again.status == InflateStatus::error && again.produced == 0);
            return false;
        }
        chunk = chunk.subspan(r.consumed);
    }
    return true;
}

bool finish_message(MessageInflater& inf, std::span<uint8_t> space, std::vector<uint8_t>* sink,
                    uint64_t& delivered) {
    while (true) {
        InflateResult r = inf.finish(space);
        check(r.produced <= space.size());
        delivered += r.produced;
        check(delivered <= inf.settings().max_message_bytes);
        if (sink) sink->insert(sink->end(), space.begin(), space.begin() + r.produced);
        if (r.status == InflateStatus::done) return true;
        if (r.status != InflateStatus::ok) return false;
    }
}

void run_inflate(std::span<const uint8_t> in, const InflaterSettings& settings, size_t out_size) {
    MessageInflater inf(settings);
    std::vector<uint8_t> space(out_size);
    uint64_t delivered = 0;
    uint64_t consumed = 0;
    size_t messages = 0;
    Piece piece;
    while (messages < kMaxMessages && next_piece(in, piece)) {
        if (!inflate_piece(inf, piece.bytes, space, nullptr, delivered, consumed)) return;
        if (piece.ends_message) {
            if (!finish_message(inf, space, nullptr, delivered)) return;
            delivered = 0;
            consumed = 0;
            ++messages;
        }
    }
    if (messages < kMaxMessages) finish_message(inf, space, nullptr, delivered);
}

void run_round_trip(std::span<const uint8_t> in, bool no_context, uint8_t bits, size_t out_size) {
    DeflaterSettings ds;
    ds.window_bits = bits;
    ds.no_context_takeover = no_context;
    InflaterSettings is;
    is.window_bits = bits;
    is.no_context_takeover = no_context;
    is.max_message_bytes = 1 << 20;
    MessageDeflater d(ds);
    MessageInflater inf(is);
    std::vector<uint8_t> dspace(kMinDeflateOutput + out_size);
    std::vector<uint8_t> ispace(out_size);
    std::vector<uint8_t> plain, packed, back;
    auto end_message = [&] {
        while (true) {
            DeflateResult r = d.finish(dspace);
            check(r.status != DeflateStatus::error && r.produced <= dspace.size());
            packed.insert(packed.end(), dspace.begin(), dspace.begin() + r.produced);
            if (r.status == DeflateStatus::done) break;
        }
        uint64_t delivered = 0;
        uint64_t consumed = 0;
        check(inflate_piece(inf, packed, ispace, &back, delivered, consumed));
        check(finish_message(inf, ispace, &back, delivered));
        check(back == plain);
        plain.clear();
        packed.clear();
        back.clear();
    };
    Piece piece;
    while (next_piece(in, piece)) {
        std::span<const uint8_t> chunk = piece.bytes;
        plain.insert(plain.end(), chunk.begin(), chunk.end());
        while (!chunk.empty()) {
            DeflateResult r = d.compress(chunk, dspace);
            check(r.status == DeflateStatus::ok && r.consumed <= chunk.size());
            packed.insert(packed.end(), dspace.begin(), dspace.begin() + r.produced);
            chunk = chunk.subspan(r.consumed);
        }
        if (piece.ends_message) end_message();
    }
    end_message();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const uint8_t config = data[0];
    const size_t out_size = 1 + data[1] % kMaxOutSpace;
    const uint8_t bits = static_cast<uint8_t>(std::min(9 + (config & kWindowMask), 15));
    const bool no_context = (config & kNoContextFlag) != 0;
    std::span<const uint8_t> rest(data + 2, size - 2);
    if (config & kRoundTripFlag) {
        run_round_trip(rest, no_context, bits, out_size);
    } else {
        InflaterSettings settings;
        settings.window_bits = bits;
        settings.no_context_takeover = no_context;
        settings.max_message_bytes = kSmallLimit;
        if (config & kTightBoundsFlag) {
            settings.max_ratio = 4;
            settings.ratio_grace_bytes = 64;
            settings.max_input_without_output = 16;
            settings.max_compressed_bytes = 200;
        }
        run_inflate(rest, settings, out_size);
    }
    return 0;
}
