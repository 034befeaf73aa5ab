// What the TLS listeners of a process run with, as configured (flags or the
// TOML file): certificate chains and keys, cipher lists, ticket key rotation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wsgate::tls {

// A PEM certificate chain (leaf first) and its private key. Which one a
// client gets is decided by the names in the leaf (subjectAltName DNS
// entries, wildcards included) against the client's SNI server name
// (RFC 6066 §3); the first pair is the default.
struct CertificateFiles {
    std::string cert;
    std::string key;
};

// TLS 1.2 (RFC 5246) cipher list: forward-secret AEAD suites only
// (Mozilla's "intermediate" profile).
inline constexpr std::string_view kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// TLS 1.3 (RFC 8446 §9.1) cipher suites.
inline constexpr std::string_view kDefaultCiphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// Whether established sessions are handed to the kernel's tls ULP
// (--tls-kernel): automatic where tcp_available_ulp lists tls, off, or
// always tried (a refusal keeps the connection in user space; tests use it
// to reach the fallback on hosts without the module).
enum class KernelTlsMode : uint8_t { automatic, off, always };

struct TlsSettings {
    std::vector<CertificateFiles> certificates;
    std::string ciphers{kDefaultCiphers};
    std::string ciphersuites{kDefaultCiphersuites};
    // Session ticket keys are replaced this often; a ticket sealed with the
    // key before the current one is still accepted (and renewed), so a
    // ticket lives between one and two periods.
    double ticket_key_rotation_s = 12 * 3600;
    // Sessions are prepared for kernel TLS (record counts, key log): decided
    // at start-up from KernelTlsMode and the host (tls/ktls_probe.hpp).
    bool kernel_tls = false;
};

}  // namespace wsgate::tls
