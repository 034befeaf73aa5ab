// Kernel TLS (the Linux `tls` upper-layer protocol, kernel 4.13+ for send,
// 4.17+ for receive): whether this host offers it. Probed once at start-up
// from /proc/sys/net/ipv4/tcp_available_ulp, which lists the ULPs a socket
// may be given with setsockopt(TCP_ULP) - `tls` appears once the tls module
// is loaded (or built in).
#pragma once

#include <string>
#include <string_view>

#include "tls/tls_settings.hpp"

namespace wsgate::tls {

inline constexpr const char* kAvailableUlpPath = "/proc/sys/net/ipv4/tcp_available_ulp";

struct KernelTlsProbe {
    bool available = false;
    std::string detail;  // what the probe saw, for the start-up log
};

// Whether a tcp_available_ulp text (names separated by blanks) lists `tls`.
bool ulp_list_has_tls(std::string_view list);

// Reads `path` (kAvailableUlpPath outside tests).
KernelTlsProbe probe_kernel_tls(const char* path = kAvailableUlpPath);

// What the TLS listeners use, decided once: whether sessions are prepared
// for the kernel (TlsSettings::kernel_tls) and the start-up log's words.
struct KernelTlsPlan {
    bool prepare = false;
    std::string text;
};

// direct_descriptors: io_uring connections without a process descriptor,
// which setsockopt cannot reach.
KernelTlsPlan plan_kernel_tls(KernelTlsMode mode, const KernelTlsProbe& probe,
                              bool direct_descriptors);

}  // namespace wsgate::tls
