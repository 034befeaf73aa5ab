// UTF-8 validation: every kernel against an independent reference decoder
// (utf8_reference.hpp), exhaustively for short sequences, at vector-block
// boundaries, at a guard page; and the incremental validator against
// whole-buffer verdicts, cut at every byte.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "guard_page.hpp"
#include "proto/utf8.hpp"
#include "utf8_reference.hpp"

namespace wsgate::proto {
namespace {

using test::GuardedBuffer;
using test::reference_utf8_check;
using test::reference_utf8_valid;
using Bytes = std::vector<uint8_t>;

// Sanitizer builds run the exhaustive loops over fewer values so the binary
// stays within a few seconds there too.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

Bytes bytes_of(std::string_view s) {
    return Bytes(s.begin(), s.end());
}

// Appends code point cp in UTF-8 (RFC 3629 §3), without validity checks so
// tests can build surrogates too.
void append_code_point(Bytes& out, uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<uint8_t>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<uint8_t>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<uint8_t>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<uint8_t>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<uint8_t>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<uint8_t>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<uint8_t>(0x80 | (cp & 0x3F)));
    }
}

// A random valid scalar value, each encoded length equally likely.
uint32_t random_code_point(std::mt19937& rng) {
    switch (rng() % 4) {
        case 0:
            return rng() % 0x80;
        case 1:
            return 0x80 + rng() % (0x800 - 0x80);
        case 2: {
            uint32_t cp = 0x800 + rng() % (0x10000 - 0x800 - 0x800);
            return cp >= 0xD800 ? cp + 0x800 : cp;  // skip the surrogates
        }
        default:
            return 0x10000 + rng() % (0x110000 - 0x10000);
    }
}

Bytes random_valid_text(std::mt19937& rng, size_t min_bytes) {
    Bytes out;
    while (out.size() < min_bytes)
        append_code_point(out, random_code_point(rng));
    return out;
}

std::vector<SimdLevel> all_supported_levels() {
    auto levels = supported_simd_levels();
    return {levels.begin(), levels.end()};
}

class Utf8Kernel : public ::testing::TestWithParam<SimdLevel> {
  protected:
    bool valid(const Bytes& b) const { return kernel_(b.data(), b.size()); }
    bool valid(const uint8_t* p, size_t n) const { return kernel_(p, n); }

    proto::Utf8Kernel kernel_ = utf8_kernel(GetParam());
};

INSTANTIATE_TEST_SUITE_P(Kernels, Utf8Kernel, ::testing::ValuesIn(all_supported_levels()),
                         [](const ::testing::TestParamInfo<SimdLevel>& info) {
                             return std::string(simd_level_name(info.param));
                         });

struct NamedCase {
    const char* name;
    std::string_view bytes;
    bool valid;
};

// Boundaries of Unicode Table 3-7 and the classic malformations.
const NamedCase kNamedCases[] = {
    {"empty", "", true},
    {"ascii", "Hello, world", true},
    {"U+0000", std::string_view("\x00", 1), true},
    {"U+007F", "\x7F", true},
    {"U+0080", "\xC2\x80", true},
    {"U+07FF", "\xDF\xBF", true},
    {"U+0800", "\xE0\xA0\x80", true},
    {"U+D7FF", "\xED\x9F\xBF", true},
    {"U+E000", "\xEE\x80\x80", true},
    {"U+FFFD", "\xEF\xBF\xBD", true},
    {"U+FFFF", "\xEF\xBF\xBF", true},
    {"U+10000", "\xF0\x90\x80\x80", true},
    {"U+10FFFF", "\xF4\x8F\xBF\xBF", true},
    {"Kosme", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", true},
    {"lone continuation", "\x80", false},
    {"lone BF", "\xBF", false},
    {"continuation after ascii", "a\x80", false},
    {"overlong 2 C0 80", "\xC0\x80", false},
    {"overlong 2 C1 BF", "\xC1\xBF", false},
    {"overlong 3 E0 80 80", "\xE0\x80\x80", false},
    {"overlong 3 E0 9F BF", "\xE0\x9F\xBF", false},
    {"overlong 4 F0 80 80 80", "\xF0\x80\x80\x80", false},
    {"overlong 4 F0 8F BF BF", "\xF0\x8F\xBF\xBF", false},
    {"surrogate U+D800", "\xED\xA0\x80", false},
    {"surrogate U+DBFF", "\xED\xAF\xBF", false},
    {"surrogate U+DC00", "\xED\xB0\x80", false},
    {"surrogate U+DFFF", "\xED\xBF\xBF", false},
    {"surrogate pair", "\xED\xA0\x80\xED\xB0\x80", false},
    {"U+110000", "\xF4\x90\x80\x80", false},
    {"U+13FFFF", "\xF4\xBF\xBF\xBF", false},
    {"F5 lead", "\xF5\x80\x80\x80", false},
    {"F7 lead", "\xF7\xBF\xBF\xBF", false},
    {"F8 five-byte", "\xF8\x88\x80\x80\x80", false},
    {"FC six-byte", "\xFC\x84\x80\x80\x80\x80", false},
    {"FE", "\xFE", false},
    {"FF", "\xFF", false},
    {"truncated 2", "\xC2", false},
    {"truncated 3", "\xE2\x82", false},
    {"truncated 4", "\xF0\x9F\x98", false},
    {"lead then ascii",
     "\xC2"
     "a",
     false},
    {"three-byte then ascii",
     "\xE2\x82"
     "a",
     false},
    {"extra continuation", "\xC2\x80\x80", false},
    {"extra continuation after 4", "\xF0\x9F\x98\x80\x80", false},
    {"two leads", "\xC2\xC2\x80", false},
};

TEST_P(Utf8Kernel, NamedCasesMatchExpectationAndReference) {
    for (const NamedCase& c : kNamedCases) {
        Bytes b = bytes_of(c.bytes);
        ASSERT_EQ(reference_utf8_valid(b.data(), b.size()), c.valid) << "reference: " << c.name;
        EXPECT_EQ(valid(b), c.valid) << c.name;
    }
}

// Every 1-, 2- and 3-byte input, alone, against the reference.
TEST_P(Utf8Kernel, ExhaustiveUpToThreeBytes) {
    // Under sanitizers the third byte takes only the values that matter to
    // the tables: nibble edges of every class.
    std::vector<uint8_t> thirds;
    if (kSanitized) {
        thirds = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
                  0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF};
    } else {
        for (unsigned v = 0; v < 256; ++v)
            thirds.push_back(static_cast<uint8_t>(v));
    }
    size_t mismatches = 0;
    uint8_t buf[3];
    for (unsigned b0 = 0; b0 < 256; ++b0) {
        buf[0] = static_cast<uint8_t>(b0);
        if (valid(buf, 1) != reference_utf8_valid(buf, 1) && ++mismatches < 10) {
            ADD_FAILURE() << std::hex << "1 byte " << b0;
        }
        for (unsigned b1 = 0; b1 < 256; ++b1) {
            buf[1] = static_cast<uint8_t>(b1);
            if (valid(buf, 2) != reference_utf8_valid(buf, 2) && ++mismatches < 10) {
                ADD_FAILURE() << std::hex << "2 bytes " << b0 << ' ' << b1;
            }
            for (uint8_t b2 : thirds) {
                buf[2] = b2;
                if (valid(buf, 3) != reference_utf8_valid(buf, 3) && ++mismatches < 10) {
                    ADD_FAILURE() << std::hex << "3 bytes " << b0 << ' ' << b1 << ' ' << +b2;
                }
            }
        }
    }
    EXPECT_EQ(mismatches, 0u);
}

// Bytes that sit on an edge of some class of Table 3-7.
const uint8_t kEdgeBytes[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                              0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xF0, 0xF4, 0xF5, 0xFF};

// Every first and second byte, with edge values for the third and fourth.
TEST_P(Utf8Kernel, FourBytesEveryFirstAndSecond) {
    const uint8_t later_full[] = {0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xF0};
    const uint8_t later_sanitized[] = {0x41, 0x80, 0xBF, 0xC2};
    const uint8_t* later = kSanitized ? later_sanitized : later_full;
    const size_t later_count = kSanitized ? std::size(later_sanitized) : std::size(later_full);
    size_t mismatches = 0;
    uint8_t buf[4];
    for (unsigned b0 = 0; b0 < 256; ++b0) {
        for (unsigned b1 = 0; b1 < 256; ++b1) {
            buf[0] = static_cast<uint8_t>(b0);
            buf[1] = static_cast<uint8_t>(b1);
            for (size_t i2 = 0; i2 < later_count; ++i2) {
                for (size_t i3 = 0; i3 < later_count; ++i3) {
                    buf[2] = later[i2];
                    buf[3] = later[i3];
                    if (valid(buf, 4) != reference_utf8_valid(buf, 4) && ++mismatches < 10) {
                        ADD_FAILURE() << std::hex << "4 bytes " << b0 << ' ' << b1 << ' ' << +buf[2]
                                      << ' ' << +buf[3];
                    }
                }
            }
        }
    }
    EXPECT_EQ(mismatches, 0u);
}

// Every code point, valid or surrogate, encoded on its own.
TEST_P(Utf8Kernel, EveryCodePointAndSurrogate) {
    const uint32_t step = kSanitized ? 7 : 1;
    size_t mismatches = 0;
    Bytes b;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp += step) {
        b.clear();
        append_code_point(b, cp);
        const bool expected = cp < 0xD800 || cp > 0xDFFF;
        if (valid(b) != expected && ++mismatches < 10) ADD_FAILURE() << std::hex << "U+" << cp;
    }
    EXPECT_EQ(mismatches, 0u);
}

// Short sequences built from edge bytes, placed at offsets around the 16-,
// 32-, 64- and 128-byte block boundaries, amid ASCII or multibyte text and
// followed by more text or by nothing: the carries between blocks (previous
// bytes, an unfinished sequence at a block's end) must work at every offset.
TEST_P(Utf8Kernel, SequencesAtBlockBoundaries) {
    std::vector<Bytes> sequences;
    for (uint8_t b0 : kEdgeBytes) {
        sequences.push_back({b0});
        for (uint8_t b1 : kEdgeBytes) {
            sequences.push_back({b0, b1});
            for (uint8_t b2 : {uint8_t{0x80}, uint8_t{0xBF}, uint8_t{0x41}}) {
                sequences.push_back({b0, b1, b2});
                for (uint8_t b3 : {uint8_t{0x80}, uint8_t{0xBF}, uint8_t{0xC2}}) {
                    sequences.push_back({b0, b1, b2, b3});
                }
            }
        }
    }
    std::vector<size_t> offsets;
    for (size_t boundary : {0, 16, 32, 64, 128}) {
        for (size_t d = 0; d <= 8; ++d) {
            if (boundary + d >= 4) offsets.push_back(boundary + d - 4);
        }
    }
    // Filler code points: ASCII, or 1- to 4-byte characters mixed.
    const std::vector<Bytes> ascii_filler = {bytes_of("a"), bytes_of("b"), bytes_of("c")};
    const std::vector<Bytes> mixed_filler = {bytes_of("a"), bytes_of("\xC3\xA9"),
                                             bytes_of("\xE2\x82\xAC"), bytes_of("\xF0\x9F\x98\x80"),
                                             bytes_of("z")};
    std::vector<size_t> trailing_sizes = {0, 1, 7, 70};
    if (kSanitized) trailing_sizes = {0, 70};
    size_t mismatches = 0;
    size_t cases = 0;
    Bytes buf;
    for (const std::vector<Bytes>* filler : {&ascii_filler, &mixed_filler}) {
        // Whole filler code points; ASCII where the next one would not fit.
        auto append_filler = [&](Bytes& out, size_t target) {
            for (size_t k = 0; out.size() < target; ++k) {
                const Bytes& cp = (*filler)[k % filler->size()];
                if (out.size() + cp.size() <= target) {
                    out.insert(out.end(), cp.begin(), cp.end());
                } else {
                    out.push_back('x');
                }
            }
        };
        for (size_t offset : offsets) {
            Bytes prefix;
            append_filler(prefix, offset);
            for (size_t trailing : trailing_sizes) {
                for (const Bytes& seq : sequences) {
                    buf = prefix;
                    buf.insert(buf.end(), seq.begin(), seq.end());
                    append_filler(buf, buf.size() + trailing);
                    const bool expected = reference_utf8_valid(buf.data(), buf.size());
                    ++cases;
                    if (valid(buf) != expected && ++mismatches < 10) {
                        ADD_FAILURE() << "offset " << offset << " trailing " << trailing
                                      << " sequence " << std::hex << +seq[0] << " len "
                                      << seq.size() << " expected " << expected;
                    }
                }
            }
        }
    }
    EXPECT_EQ(mismatches, 0u) << "of " << cases;
}

// Random valid text, then the same with one byte replaced at a random place.
TEST_P(Utf8Kernel, RandomTextWithOneCorruptedByte) {
    std::mt19937 rng(20240611);
    const int rounds = kSanitized ? 500 : 4000;
    size_t mismatches = 0;
    for (int round = 0; round < rounds; ++round) {
        Bytes text = random_valid_text(rng, rng() % 400);
        ASSERT_TRUE(valid(text)) << "round " << round;
        if (text.empty()) continue;
        const size_t at = rng() % text.size();
        // Half the time an edge byte, otherwise any byte.
        text[at] =
            rng() % 2 ? kEdgeBytes[rng() % std::size(kEdgeBytes)] : static_cast<uint8_t>(rng());
        const bool expected = reference_utf8_valid(text.data(), text.size());
        if (valid(text) != expected && ++mismatches < 10) {
            ADD_FAILURE() << "round " << round << " at " << at << " expected " << expected;
        }
    }
    EXPECT_EQ(mismatches, 0u);
}

TEST_P(Utf8Kernel, LargeTextWithErrorsAtManyPlaces) {
    std::mt19937 rng(7);
    Bytes text = random_valid_text(rng, 64 * 1024);
    ASSERT_TRUE(valid(text));
    for (size_t at : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{4095}, size_t{40000},
                      text.size() - 1}) {
        Bytes broken = text;
        broken[at] = 0xFF;  // never valid anywhere
        EXPECT_FALSE(valid(broken)) << "at " << at;
    }
    // A lone surrogate deep inside: valid bytes in every other respect.
    Bytes with_surrogate(text.begin(), text.begin() + 1000);
    append_code_point(with_surrogate, 0xDABC);
    with_surrogate.insert(with_surrogate.end(), text.begin(), text.begin() + 1000);
    while (!reference_utf8_valid(with_surrogate.data() + 1003, with_surrogate.size() - 1003)) {
        with_surrogate.pop_back();
    }
    EXPECT_FALSE(valid(with_surrogate));
}

// Inputs ending exactly at a PROT_NONE page: a kernel reading past len
// crashes. Every length up to a few blocks, valid and cut short.
TEST_P(Utf8Kernel, ReadsNothingPastTheEnd) {
    std::mt19937 rng(3);
    const Bytes text = random_valid_text(rng, 300);
    for (size_t len = 0; len <= 260; ++len) {
        GuardedBuffer ascii(std::string(len, 'a'));
        EXPECT_TRUE(valid(ascii.data(), ascii.size())) << len;
        GuardedBuffer mixed(text.data(), len);
        EXPECT_EQ(valid(mixed.data(), mixed.size()), reference_utf8_valid(text.data(), len)) << len;
        // ASCII ending in a lone lead byte: invalid only because of the end.
        std::string cut(len, 'a');
        if (len > 0) cut.back() = '\xF0';
        GuardedBuffer truncated(cut);
        EXPECT_EQ(valid(truncated.data(), truncated.size()), len == 0) << len;
    }
}

// --- Utf8Validator -------------------------------------------------------

// Feeds `bytes` in pieces ending at `cuts` (ascending, each <= size) and the
// rest, and checks fail-fast: every piece before the one holding the first
// invalid byte is accepted, that piece is refused; at the end, at_boundary()
// equals whole-buffer validity.
void expect_incremental_matches_reference(proto::Utf8Kernel kernel, const Bytes& bytes,
                                          const std::vector<size_t>& cuts) {
    const auto reference = reference_utf8_check(bytes.data(), bytes.size());
    ASSERT_EQ(kernel(bytes.data(), bytes.size()), reference.valid);
    Utf8Validator validator;
    size_t start = 0;
    std::vector<size_t> ends = cuts;
    ends.push_back(bytes.size());
    for (size_t end : ends) {
        const bool accepted = validator.feed(bytes.data() + start, end - start, kernel);
        const bool holds_first_invalid = reference.first_invalid < end;
        ASSERT_EQ(accepted, !holds_first_invalid)
            << "piece [" << start << ", " << end << ") of " << bytes.size()
            << ", first invalid byte at " << reference.first_invalid;
        if (!accepted) {
            EXPECT_TRUE(validator.failed());
            EXPECT_FALSE(validator.feed(bytes.data(), 0, kernel)) << "must stay failed";
            return;
        }
        start = end;
    }
    EXPECT_FALSE(validator.failed());
    EXPECT_EQ(validator.at_boundary(), reference.valid);
}

std::vector<Bytes> validator_inputs() {
    std::vector<Bytes> inputs;
    for (const NamedCase& c : kNamedCases)
        inputs.push_back(bytes_of(c.bytes));
    // The malformations again, amid valid multibyte text on both sides.
    const Bytes around = bytes_of("z\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    for (const NamedCase& c : kNamedCases) {
        Bytes b = around;
        b.insert(b.end(), c.bytes.begin(), c.bytes.end());
        b.insert(b.end(), around.begin(), around.end());
        inputs.push_back(b);
    }
    std::mt19937 rng(11);
    for (int k = 0; k < 20; ++k) {
        Bytes text = random_valid_text(rng, 20 + rng() % 100);
        if (k % 2 == 1) text[rng() % text.size()] = kEdgeBytes[rng() % std::size(kEdgeBytes)];
        inputs.push_back(text);
    }
    return inputs;
}

// The validator over every kernel this CPU supports (feed with an explicit
// kernel); Utf8Dispatch below checks the plain feed() uses the active one.
class Utf8ValidatorKernel : public ::testing::TestWithParam<SimdLevel> {
  protected:
    void expect_incremental(const Bytes& bytes, const std::vector<size_t>& cuts) {
        expect_incremental_matches_reference(kernel_, bytes, cuts);
    }
    bool feed(Utf8Validator& v, std::string_view piece) const {
        return v.feed(reinterpret_cast<const uint8_t*>(piece.data()), piece.size(), kernel_);
    }
    bool feed(Utf8Validator& v, const uint8_t* data, size_t len) const {
        return v.feed(data, len, kernel_);
    }

    proto::Utf8Kernel kernel_ = utf8_kernel(GetParam());
};

INSTANTIATE_TEST_SUITE_P(Kernels, Utf8ValidatorKernel, ::testing::ValuesIn(all_supported_levels()),
                         [](const ::testing::TestParamInfo<SimdLevel>& info) {
                             return std::string(simd_level_name(info.param));
                         });

TEST_P(Utf8ValidatorKernel, EveryTwoWaySplitMatchesWholeValidation) {
    for (const Bytes& input : validator_inputs()) {
        for (size_t cut = 0; cut <= input.size(); ++cut) {
            expect_incremental(input, {cut});
            if (HasFatalFailure()) return;
        }
    }
}

TEST_P(Utf8ValidatorKernel, EveryThreeWaySplitOfShortInputs) {
    for (const Bytes& input : validator_inputs()) {
        if (input.size() > 40) continue;
        for (size_t a = 0; a <= input.size(); ++a) {
            for (size_t b = a; b <= input.size(); ++b) {
                expect_incremental(input, {a, b});
                if (HasFatalFailure()) return;
            }
        }
    }
}

TEST_P(Utf8ValidatorKernel, ByteAtATime) {
    for (const Bytes& input : validator_inputs()) {
        std::vector<size_t> cuts;
        for (size_t k = 1; k < input.size(); ++k)
            cuts.push_back(k);
        expect_incremental(input, cuts);
        if (HasFatalFailure()) return;
    }
}

TEST_P(Utf8ValidatorKernel, RandomPieceSizes) {
    std::mt19937 rng(5);
    for (int round = 0; round < (kSanitized ? 300 : 2000); ++round) {
        Bytes text = random_valid_text(rng, rng() % 2000);
        if (round % 2 == 1 && !text.empty()) {
            text[rng() % text.size()] = kEdgeBytes[rng() % std::size(kEdgeBytes)];
        }
        std::vector<size_t> cuts;
        for (size_t at = rng() % 70; at < text.size(); at += rng() % 70)
            cuts.push_back(at);
        expect_incremental(text, cuts);
        if (HasFatalFailure()) return;
    }
}

TEST_P(Utf8ValidatorKernel, FailsAtThePieceWithTheFirstInvalidByte) {
    Utf8Validator v;
    EXPECT_TRUE(feed(v, "h\xC3\xA9llo "));
    EXPECT_TRUE(v.at_boundary());
    EXPECT_FALSE(feed(v, "ab\xE0\x80"));  // overlong prefix: no completion can be valid
    EXPECT_TRUE(v.failed());
    EXPECT_FALSE(feed(v, "valid"));  // stays failed
    v.reset();
    EXPECT_TRUE(feed(v, "ok"));
    EXPECT_TRUE(v.at_boundary());
}

TEST_P(Utf8ValidatorKernel, IncompleteButPossiblyValidTailIsAccepted) {
    Utf8Validator v;
    EXPECT_TRUE(feed(v, "ab\xE2\x82"));  // start of U+20AC
    EXPECT_FALSE(v.at_boundary());
    EXPECT_FALSE(v.failed());
    EXPECT_TRUE(feed(v, "\xAC"));
    EXPECT_TRUE(v.at_boundary());
    EXPECT_TRUE(feed(v, "\xF0"));
    EXPECT_TRUE(feed(v, "\x9F"));
    EXPECT_TRUE(feed(v, ""));
    EXPECT_TRUE(feed(v, "\x98"));
    EXPECT_FALSE(v.at_boundary());
    EXPECT_TRUE(feed(v, "\x80z"));
    EXPECT_TRUE(v.at_boundary());
}

TEST_P(Utf8ValidatorKernel, EmptyPiecesChangeNothing) {
    Utf8Validator v;
    EXPECT_TRUE(feed(v, nullptr, 0));
    EXPECT_TRUE(v.at_boundary());
    EXPECT_TRUE(feed(v, "\xE2"));
    EXPECT_TRUE(feed(v, nullptr, 0));
    EXPECT_FALSE(v.at_boundary());
    EXPECT_TRUE(feed(v, "\x82\xAC"));
    EXPECT_TRUE(v.at_boundary());
    EXPECT_TRUE(utf8_valid(nullptr, 0));
}

TEST_P(Utf8ValidatorKernel, RefusesImpossiblePrefixesAtOnce) {
    const std::string_view first_pieces[] = {"\xC0", "\xC1", "\xF5", "\xFF", "\x80"};
    for (std::string_view piece : first_pieces) {
        Utf8Validator v;
        EXPECT_FALSE(feed(v, piece)) << std::hex << +static_cast<uint8_t>(piece[0]);
    }
    // Two pieces of one byte each: the second byte decides.
    const std::pair<std::string_view, std::string_view> pairs[] = {
        {"\xE0", "\x9F"},  // overlong
        {"\xED", "\xA0"},  // surrogate
        {"\xF0", "\x8F"},  // overlong
        {"\xF4", "\x90"},  // above U+10FFFF
        {"\xC2", "A"},     // not a continuation
    };
    for (const auto& [a, b] : pairs) {
        Utf8Validator v;
        EXPECT_TRUE(feed(v, a));
        EXPECT_FALSE(feed(v, b)) << std::hex << +static_cast<uint8_t>(a[0]) << ' '
                                 << +static_cast<uint8_t>(b[0]);
    }
    // The edges just inside are fine.
    const std::pair<std::string_view, std::string_view> fine[] = {
        {"\xE0", "\xA0"}, {"\xED", "\x9F"}, {"\xF0", "\x90"}, {"\xF4", "\x8F"}};
    for (const auto& [a, b] : fine) {
        Utf8Validator v;
        EXPECT_TRUE(feed(v, a));
        EXPECT_TRUE(feed(v, b));
        EXPECT_FALSE(v.at_boundary());
    }
}

TEST_P(Utf8ValidatorKernel, PiecesAtGuardPage) {
    std::mt19937 rng(9);
    const Bytes text = random_valid_text(rng, 400);
    for (size_t cut = 0; cut <= text.size(); cut += 3) {
        GuardedBuffer first(text.data(), cut);
        GuardedBuffer second(text.data() + cut, text.size() - cut);
        Utf8Validator v;
        EXPECT_TRUE(feed(v, first.data(), first.size()));
        EXPECT_TRUE(feed(v, second.data(), second.size()));
        EXPECT_TRUE(v.at_boundary()) << cut;
    }
}

TEST(Utf8Dispatch, ActiveKernelMatchesLevel) {
    const Bytes good = bytes_of("\xE2\x82\xAC ok");
    const Bytes bad = bytes_of("\xED\xA0\x80");
    EXPECT_EQ(utf8_kernel(SimdLevel::scalar), &utf8_valid_scalar);
    EXPECT_TRUE(utf8_valid(good.data(), good.size()));
    EXPECT_FALSE(utf8_valid(bad.data(), bad.size()));
    EXPECT_TRUE(utf8_kernel(active_simd_level())(good.data(), good.size()));
}

// The plain feed() (dispatched kernel) agrees with the reference too.
TEST(Utf8Dispatch, ValidatorWithoutKernelArgument) {
    for (const Bytes& input : validator_inputs()) {
        const auto reference = reference_utf8_check(input.data(), input.size());
        for (size_t cut = 0; cut <= input.size(); ++cut) {
            Utf8Validator v;
            bool ok = v.feed(input.data(), cut) && v.feed(input.data() + cut, input.size() - cut);
            EXPECT_EQ(ok && v.at_boundary(), reference.valid) << cut;
        }
    }
}

}  // namespace
}  // namespace wsgate::proto
