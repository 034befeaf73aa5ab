// Prototypes of the unmask kernels (RFC 6455 §5.3), one per instruction set.
//
// Kept apart from unmask.hpp on purpose: each kernel file is compiled with its
// own target flags (-mavx2, -mavx512bw ...) and must not see any inline
// function from a shared header, or the linker could keep the copy compiled
// for the newest ISA and run it on every CPU. This header therefore includes
// only <cstddef> and <cstdint> and declares nothing inline.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wsgate::proto {

// Each kernel XORs data[0, len) in place with `key` (wire byte i in bits
// 8i..8i+7) already rotated so that data[0] takes key byte 0. It reads and
// writes only data[0, len) — no padding is assumed before or after — and
// accepts any alignment and any length, including 0.
void unmask_scalar(uint8_t* data, size_t len, uint32_t key);
void unmask_sse2(uint8_t* data, size_t len, uint32_t key);    // needs SSE2
void unmask_avx2(uint8_t* data, size_t len, uint32_t key);    // needs AVX2
void unmask_avx512(uint8_t* data, size_t len, uint32_t key);  // needs AVX-512 F+BW+VL, BMI2

}  // namespace wsgate::proto
