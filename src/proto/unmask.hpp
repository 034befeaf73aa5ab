// Unmasking of client payloads (RFC 6455 §5.3), in place, with SIMD kernels.
#pragma once

#include <cstddef>
#include <cstdint>

#include "proto/simd_level.hpp"

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
// Uses the kernel of active_simd_level().
size_t unmask(uint8_t* data, size_t len, MaskKey key, size_t key_offset);

// One kernel: XORs data[0, len) with `key` rotated so that data[0] takes key
// byte 0. Reads and writes only data[0, len); any alignment.
using UnmaskKernel = void (*)(uint8_t* data, size_t len, uint32_t key);

void unmask_scalar(uint8_t* data, size_t len, uint32_t key);
void unmask_sse2(uint8_t* data, size_t len, uint32_t key);
void unmask_avx2(uint8_t* data, size_t len, uint32_t key);
void unmask_avx512(uint8_t* data, size_t len, uint32_t key);

UnmaskKernel unmask_kernel(SimdLevel level);

}  // namespace wsgate::proto
