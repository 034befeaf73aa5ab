// Declarations shared by the UTF-8 kernels (utf8.cpp and the per-ISA files
// utf8_sse2.cpp, utf8_avx2.cpp, utf8_avx512.cpp). Only declarations here, no
// inline functions: the kernel files are compiled with different target
// flags, and an inline function compiled with -mavx2 could be the copy the
// linker keeps for every caller (see src/proto/meson.build).
#pragma once

#include <cstddef>
#include <cstdint>

namespace wsgate::proto {

// Each kernel: true when data[0, len) is complete, valid UTF-8 (RFC 3629: no
// overlongs, no surrogates U+D800..U+DFFF, nothing above U+10FFFF, no
// truncated sequence at the end). Reads only data[0, len).
bool utf8_valid_scalar(const uint8_t* data, size_t len);
// SSE2 has no byte shuffle (pshufb is SSSE3), so this kernel skips ASCII 16
// bytes at a time and validates every block holding a non-ASCII byte with
// the scalar code.
bool utf8_valid_sse2(const uint8_t* data, size_t len);
// AVX2 / AVX-512BW: the lookup-table algorithm of Keiser & Lemire,
// "Validating UTF-8 In Less Than One Instruction Per Byte" (2021).
bool utf8_valid_avx2(const uint8_t* data, size_t len);
bool utf8_valid_avx512(const uint8_t* data, size_t len);

// Returned by utf8_validate_scalar_prefix() for invalid input.
inline constexpr size_t kUtf8Invalid = SIZE_MAX;

// Validates whole code points from data[0] on, stopping at the first code
// point boundary at or after min(at_least, len). Returns that boundary's
// offset, or kUtf8Invalid when data[0, boundary) is not valid UTF-8 or a
// sequence is truncated by len. data[0] must start a code point. The kernels
// use it for the bytes they do not vectorise.
size_t utf8_validate_scalar_prefix(const uint8_t* data, size_t len, size_t at_least);

}  // namespace wsgate::proto
