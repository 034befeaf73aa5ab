// Sec-WebSocket-Accept (RFC 6455 §4.2.2 item 5.4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace wsgate::proto {

// RFC 6455 §1.3: appended to the client's key before hashing.
inline constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
inline constexpr size_t kSha1DigestLength = 20;
inline constexpr size_t kAcceptKeyLength = 28;  // base64 of the 20-byte SHA-1 digest

// Writes base64(SHA-1(client_key + kWebSocketGuid)) to out (exactly 28 bytes,
// no terminator), for a key of any length. SHA-1 is OpenSSL's (SHA-NI where
// the CPU has it) through a per-thread EVP context and a digest fetched once:
// the one-shot SHA1() of OpenSSL 3 looks the algorithm up on every call and
// measured about 3x slower (bench/bench_handshake.cpp). Allocates only on a
// thread's first call.
void compute_accept_key(std::string_view client_key, char out[kAcceptKeyLength]);

// Base64 (RFC 4648 §4, with padding) of a SHA-1 digest into 28 bytes. Two
// implementations are kept so the benchmark can compare them; compute_accept_key
// uses base64_digest (hand-written), which measured faster than
// EVP_EncodeBlock (see bench/bench_handshake.cpp).
void base64_digest(const uint8_t digest[kSha1DigestLength], char out[kAcceptKeyLength]);
void base64_digest_evp(const uint8_t digest[kSha1DigestLength], char out[kAcceptKeyLength]);

}  // namespace wsgate::proto
