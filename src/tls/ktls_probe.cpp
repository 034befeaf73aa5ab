#include "tls/ktls_probe.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace wsgate::tls {

bool ulp_list_has_tls(std::string_view list) {
    size_t i = 0;
    while (i < list.size()) {
        while (i < list.size() && (list[i] == ' ' || list[i] == '\t' || list[i] == '\n'))
            ++i;
        size_t start = i;
        while (i < list.size() && list[i] != ' ' && list[i] != '\t' && list[i] != '\n')
            ++i;
        if (list.substr(start, i - start) == "tls") return true;
    }
    return false;
}

KernelTlsProbe probe_kernel_tls(const char* path) {
    KernelTlsProbe p;
    FILE* f = std::fopen(path, "re");
    if (f == nullptr) {
        p.detail = std::string(path) + ": " + std::strerror(errno);
        return p;
    }
    char buf[256];
    size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    std::string_view list(buf, n);
    while (!list.empty() && (list.back() == '\n' || list.back() == ' '))
        list.remove_suffix(1);
    p.available = ulp_list_has_tls(list);
    p.detail = "tcp_available_ulp: " + (list.empty() ? std::string("(empty)") : std::string(list));
    return p;
}

KernelTlsPlan plan_kernel_tls(KernelTlsMode mode, const KernelTlsProbe& probe,
                              bool direct_descriptors) {
    KernelTlsPlan plan;
    if (mode == KernelTlsMode::off) {
        plan.text = "user-space TLS (--tls-kernel off)";
        return plan;
    }
    if (direct_descriptors) {
        plan.text =
            "user-space TLS (kernel TLS needs a process descriptor: not with "
            "--direct-descriptors)";
        return plan;
    }
    if (probe.available) {
        plan.prepare = true;
        plan.text = "kTLS: tx+rx after the handshake, user-space TLS where the kernel refuses (" +
                    probe.detail + ")";
        return plan;
    }
    if (mode == KernelTlsMode::always) {
        plan.prepare = true;
        plan.text = "user-space TLS (no tls ULP; kTLS tried anyway: --tls-kernel always; " +
                    probe.detail + ")";
        return plan;
    }
    plan.text = "user-space TLS (no tls ULP; " + probe.detail + ")";
    return plan;
}

}  // namespace wsgate::tls
