#include "proto/unmask.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <ostream>
#include <random>
#include <vector>

#include "guard_page.hpp"

namespace wsgate::proto {

// Names the kernel in GoogleTest's messages instead of "4-byte object".
static void PrintTo(SimdLevel level, std::ostream* out) {
    *out << simd_level_name(level);
}

namespace {

using test::GuardedBuffer;

constexpr size_t kMaxLength = 4096;
constexpr size_t kAlignments = 64;  // one AVX-512 vector: every head length a kernel can see
constexpr size_t kKeyBytes = 4;
constexpr size_t kCanaryBytes = 64;
constexpr uint8_t kCanary = 0xA5;
constexpr MaskKey kKey = 0x3d21fa37;  // wire bytes 37 fa 21 3d (RFC 6455 §5.7)

// The definition in RFC 6455 §5.3, one byte at a time.
std::vector<uint8_t> reference_unmask(std::vector<uint8_t> bytes, MaskKey key, size_t key_offset) {
    for (size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] ^= static_cast<uint8_t>(key >> (8 * ((key_offset + i) % kKeyBytes)));
    }
    return bytes;
}

std::vector<uint8_t> random_bytes(std::mt19937& rng, size_t len) {
    std::vector<uint8_t> bytes(len);
    for (uint8_t& b : bytes)
        b = static_cast<uint8_t>(rng());
    return bytes;
}

// A payload of `len` bytes inside a guarded mapping: canaries before it,
// `suffix` canaries after it, then the PROT_NONE page. With suffix 0 any
// read or write past the payload crashes; otherwise a write is caught by the
// canary check. The payload's address modulo 64 is (-(len + suffix)) mod 64.
class PlacedPayload {
  public:
    PlacedPayload(const std::vector<uint8_t>& payload, size_t suffix)
        : PlacedPayload(layout(payload, suffix), payload.size(), suffix) {}

    uint8_t* data() { return buffer_.data() + kCanaryBytes; }
    std::vector<uint8_t> payload() { return {data(), data() + len_}; }

    bool canaries_intact() {
        const uint8_t* all = buffer_.data();
        for (size_t i = 0; i < kCanaryBytes; ++i) {
            if (all[i] != kCanary) return false;
        }
        for (size_t i = 0; i < suffix_; ++i) {
            if (all[kCanaryBytes + len_ + i] != kCanary) return false;
        }
        return true;
    }

  private:
    PlacedPayload(const std::vector<uint8_t>& all, size_t len, size_t suffix)
        : buffer_(all.data(), all.size()), len_(len), suffix_(suffix) {}

    static std::vector<uint8_t> layout(const std::vector<uint8_t>& payload, size_t suffix) {
        std::vector<uint8_t> all(kCanaryBytes, kCanary);
        all.insert(all.end(), payload.begin(), payload.end());
        all.insert(all.end(), suffix, kCanary);
        return all;
    }

    GuardedBuffer buffer_;
    size_t len_;
    size_t suffix_;
};

// Suffix that puts a payload of `len` bytes at address ≡ alignment (mod 64).
size_t suffix_for(size_t len, size_t alignment) {
    return (2 * kAlignments - len % kAlignments - alignment) % kAlignments;
}

TEST(Unmask, Rfc6455MaskedHelloExample) {
    // RFC 6455 §5.7: "A single-frame masked text message".
    const std::array<uint8_t, 4> wire_key = {0x37, 0xfa, 0x21, 0x3d};
    GuardedBuffer buffer("\x7f\x9f\x4d\x51\x58");
    size_t next = unmask(buffer.data(), buffer.size(), load_mask_key(wire_key.data()), 0);
    EXPECT_EQ(std::string_view(buffer.chars(), buffer.size()), "Hello");
    EXPECT_EQ(next, 1u);
}

TEST(Unmask, LoadMaskKeyKeepsWireOrder) {
    const std::array<uint8_t, 4> wire_key = {0x37, 0xfa, 0x21, 0x3d};
    EXPECT_EQ(load_mask_key(wire_key.data()), kKey);
}

TEST(Unmask, RotateMaskKeyMovesKeyByteToFront) {
    EXPECT_EQ(rotate_mask_key(kKey, 0), 0x3d21fa37u);
    EXPECT_EQ(rotate_mask_key(kKey, 1), 0x373d21fau);
    EXPECT_EQ(rotate_mask_key(kKey, 2), 0xfa373d21u);
    EXPECT_EQ(rotate_mask_key(kKey, 3), 0x21fa373du);
}

TEST(Unmask, DispatchedMatchesReferenceAtEveryOffset) {
    std::mt19937 rng(7);
    for (size_t offset = 0; offset < kKeyBytes; ++offset) {
        for (size_t len : {0u, 1u, 3u, 16u, 125u, 1000u, 4096u}) {
            std::vector<uint8_t> input = random_bytes(rng, len);
            PlacedPayload placed(input, 0);
            EXPECT_EQ(unmask(placed.data(), len, kKey, offset), (offset + len) % kKeyBytes);
            EXPECT_EQ(placed.payload(), reference_unmask(input, kKey, offset)) << len;
            EXPECT_TRUE(placed.canaries_intact());
        }
    }
}

TEST(Unmask, KernelForEachLevelIsThatLevelsKernel) {
    EXPECT_EQ(unmask_kernel(SimdLevel::scalar), &unmask_scalar);
    EXPECT_EQ(unmask_kernel(SimdLevel::sse2), &unmask_sse2);
    EXPECT_EQ(unmask_kernel(SimdLevel::avx2), &unmask_avx2);
    EXPECT_EQ(unmask_kernel(SimdLevel::avx512), &unmask_avx512);
}

class UnmaskKernelTest : public ::testing::TestWithParam<SimdLevel> {
  protected:
    UnmaskKernel kernel() const { return unmask_kernel(GetParam()); }
};

// Every length 0..4096 ending at the guard page, at every key offset.
TEST_P(UnmaskKernelTest, EveryLengthEndingAtGuardPage) {
    std::mt19937 rng(1);
    std::vector<uint8_t> source = random_bytes(rng, kMaxLength);
    for (size_t len = 0; len <= kMaxLength; ++len) {
        std::vector<uint8_t> input(source.begin(), source.begin() + static_cast<ptrdiff_t>(len));
        for (size_t offset = 0; offset < kKeyBytes; ++offset) {
            PlacedPayload placed(input, 0);
            size_t next = unmask_with(kernel(), placed.data(), len, kKey, offset);
            ASSERT_EQ(next, (offset + len) % kKeyBytes);
            ASSERT_EQ(placed.payload(), reference_unmask(input, kKey, offset))
                << "len " << len << " offset " << offset;
            ASSERT_TRUE(placed.canaries_intact()) << "len " << len << " offset " << offset;
        }
    }
}

// Random lengths at every start alignment 0..63 and key offset; the end is
// then anywhere, so head and tail code paths are both exercised.
TEST_P(UnmaskKernelTest, RandomLengthsAtEveryAlignment) {
    constexpr int kLengthsPerCase = 12;
    std::mt19937 rng(2);
    std::uniform_int_distribution<size_t> length(0, kMaxLength);
    for (size_t alignment = 0; alignment < kAlignments; ++alignment) {
        for (size_t offset = 0; offset < kKeyBytes; ++offset) {
            for (int i = 0; i < kLengthsPerCase; ++i) {
                size_t len = length(rng);
                MaskKey key = static_cast<MaskKey>(rng());
                std::vector<uint8_t> input = random_bytes(rng, len);
                PlacedPayload placed(input, suffix_for(len, alignment));
                ASSERT_EQ(reinterpret_cast<uintptr_t>(placed.data()) % kAlignments, alignment);
                size_t next = unmask_with(kernel(), placed.data(), len, key, offset);
                ASSERT_EQ(next, (offset + len) % kKeyBytes);
                ASSERT_EQ(placed.payload(), reference_unmask(input, key, offset))
                    << "len " << len << " alignment " << alignment << " offset " << offset;
                ASSERT_TRUE(placed.canaries_intact())
                    << "len " << len << " alignment " << alignment << " offset " << offset;
            }
        }
    }
}

// A payload unmasked in two pieces, continuing at the returned offset, equals
// the payload unmasked at once — for every split point and starting offset.
TEST_P(UnmaskKernelTest, SplitAtEveryPointContinuesTheKey) {
    constexpr size_t kSplitLength = 600;  // above every kernel's alignment threshold
    std::mt19937 rng(3);
    std::vector<uint8_t> input = random_bytes(rng, kSplitLength);
    for (size_t offset = 0; offset < kKeyBytes; ++offset) {
        std::vector<uint8_t> expected = reference_unmask(input, kKey, offset);
        for (size_t split = 0; split <= kSplitLength; ++split) {
            std::vector<uint8_t> first(input.begin(),
                                       input.begin() + static_cast<ptrdiff_t>(split));
            std::vector<uint8_t> second(input.begin() + static_cast<ptrdiff_t>(split), input.end());
            PlacedPayload a(first, 0);
            PlacedPayload b(second, 0);
            size_t next = unmask_with(kernel(), a.data(), first.size(), kKey, offset);
            unmask_with(kernel(), b.data(), second.size(), kKey, next);
            std::vector<uint8_t> joined = a.payload();
            std::vector<uint8_t> tail = b.payload();
            joined.insert(joined.end(), tail.begin(), tail.end());
            ASSERT_EQ(joined, expected) << "split " << split << " offset " << offset;
            ASSERT_TRUE(a.canaries_intact() && b.canaries_intact()) << "split " << split;
        }
    }
}

// Unmasking is its own inverse: twice gives the input back.
TEST_P(UnmaskKernelTest, TwiceRestoresInput) {
    std::mt19937 rng(4);
    std::vector<uint8_t> input = random_bytes(rng, 3001);
    PlacedPayload placed(input, 0);
    unmask_with(kernel(), placed.data(), input.size(), kKey, 2);
    EXPECT_NE(placed.payload(), input);
    unmask_with(kernel(), placed.data(), input.size(), kKey, 2);
    EXPECT_EQ(placed.payload(), input);
}

INSTANTIATE_TEST_SUITE_P(SupportedLevels, UnmaskKernelTest,
                         ::testing::ValuesIn(supported_simd_levels().begin(),
                                             supported_simd_levels().end()),
                         [](const ::testing::TestParamInfo<SimdLevel>& info) {
                             return std::string(simd_level_name(info.param));
                         });

}  // namespace
}  // namespace wsgate::proto
