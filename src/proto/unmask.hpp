// Unmasking of client payloads (RFC 6455 §5.3), in place, with SIMD kernels.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "proto/simd_level.hpp"
#include "proto/unmask_kernels.hpp"

namespace wsgate::proto {

// The masking key as the 4 bytes appear on the wire, loaded little-endian:
// wire byte i is bits 8i..8i+7. Byte j of the payload is XORed with wire
// byte (j mod 4) (RFC 6455 §5.3).
using MaskKey = uint32_t;

// Loads the 4 key bytes that follow the frame header.
inline MaskKey load_mask_key(const uint8_t* wire) {
    return static_cast<MaskKey>(wire[0]) | static_cast<MaskKey>(wire[1]) << 8 |
           static_cast<MaskKey>(wire[2]) << 16 | static_cast<MaskKey>(wire[3]) << 24;
}

// XORs data[0, len) in place with the key, starting at key byte `key_offset`
// (0..3): a payload split across buffers continues where the previous piece
// stopped. Returns the key offset for the byte after the last one,
// (key_offset + len) % 4. Reads and writes only data[0, len); any alignment.
// Uses the kernel of active_simd_level(), looked up once per process.
size_t unmask(uint8_t* data, size_t len, MaskKey key, size_t key_offset);

// One kernel: XORs data[0, len) with `key` rotated so that data[0] takes key
// byte 0. Reads and writes only data[0, len); any alignment. The kernels
// themselves (unmask_scalar/sse2/avx2/avx512) are declared in
// proto/unmask_kernels.hpp.
using UnmaskKernel = void (*)(uint8_t* data, size_t len, uint32_t key);

// The kernel for `level`; the caller makes sure the CPU supports that level
// (see supported_simd_levels()).
UnmaskKernel unmask_kernel(SimdLevel level);

// The key as seen from payload byte `key_offset` (0..3): key byte
// key_offset becomes byte 0. Keys are little-endian, so this is a rotate right.
inline MaskKey rotate_mask_key(MaskKey key, size_t key_offset) {
    return std::rotr(key, static_cast<int>(key_offset % 4) * 8);
}

// unmask() with an explicit kernel, for tests and benchmarks that compare
// kernels; same contract and return value as unmask().
size_t unmask_with(UnmaskKernel kernel, uint8_t* data, size_t len, MaskKey key, size_t key_offset);

}  // namespace wsgate::proto
