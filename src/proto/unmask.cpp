// Unmask dispatch and the portable kernel (RFC 6455 §5.3).
#include "proto/unmask.hpp"

#include <bit>
#include <cstring>

namespace wsgate::proto {

namespace {

constexpr size_t kKeyBytes = 4;
constexpr size_t kWordBytes = sizeof(uint64_t);

static_assert(std::endian::native == std::endian::little,
              "MaskKey byte order assumes a little-endian CPU (x86-64)");

// XORs n < 8 bytes one at a time; returns the key rotated past them.
uint32_t unmask_bytes(uint8_t* data, size_t n, uint32_t key) {
    for (size_t i = 0; i < n; ++i) {
        data[i] ^= static_cast<uint8_t>(key);
        key = std::rotr(key, 8);
    }
    return key;
}

UnmaskKernel choose_kernel() {
    return unmask_kernel(active_simd_level());
}

}  // namespace

// The specification the SIMD kernels are tested against: a 64-bit word holds
// the key twice, and a head of up to 7 bytes aligns the words so no load
// splits a cache line.
void unmask_scalar(uint8_t* data, size_t len, uint32_t key) {
    size_t head = (kWordBytes - reinterpret_cast<uintptr_t>(data) % kWordBytes) % kWordBytes;
    if (head >= len) {
        unmask_bytes(data, len, key);
        return;
    }
    key = unmask_bytes(data, head, key);
    uint64_t word_key = static_cast<uint64_t>(key) << 32 | key;
    size_t i = head;
    for (; i + kWordBytes <= len; i += kWordBytes) {
        uint64_t word;
        std::memcpy(&word, data + i, kWordBytes);
        word ^= word_key;
        std::memcpy(data + i, &word, kWordBytes);
    }
    unmask_bytes(data + i, len - i, key);
}

UnmaskKernel unmask_kernel(SimdLevel level) {
    switch (level) {
        case SimdLevel::scalar:
            return unmask_scalar;
        case SimdLevel::sse2:
            return unmask_sse2;
        case SimdLevel::avx2:
            return unmask_avx2;
        case SimdLevel::avx512:
            return unmask_avx512;
    }
    return unmask_scalar;
}

size_t unmask_with(UnmaskKernel kernel, uint8_t* data, size_t len, MaskKey key, size_t key_offset) {
    kernel(data, len, rotate_mask_key(key, key_offset));
    return (key_offset + len) % kKeyBytes;
}

size_t unmask(uint8_t* data, size_t len, MaskKey key, size_t key_offset) {
    // Chosen once: a function-local static is initialised thread-safely.
    static const UnmaskKernel kernel = choose_kernel();
    return unmask_with(kernel, data, len, key, key_offset);
}

}  // namespace wsgate::proto
