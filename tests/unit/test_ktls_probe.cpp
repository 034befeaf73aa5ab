// The kernel TLS probe: `tls` among the ULPs of tcp_available_ulp, and the
// fallback when the file is missing or does not list it (this build host has
// no tls module: the real file is read too and must agree with its text).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "tls/ktls_probe.hpp"

namespace wsgate::tls {
namespace {

TEST(KernelTlsProbe, ListMustNameTlsExactly) {
    EXPECT_TRUE(ulp_list_has_tls("tls"));
    EXPECT_TRUE(ulp_list_has_tls("mptcp tls"));
    EXPECT_TRUE(ulp_list_has_tls("espintcp tls mptcp\n"));
    EXPECT_FALSE(ulp_list_has_tls(""));
    EXPECT_FALSE(ulp_list_has_tls("mptcp"));
    EXPECT_FALSE(ulp_list_has_tls("ktls tls2 tl"));
}

std::string temp_file(const std::string& text) {
    char name[] = "/tmp/wsgate-ulp.XXXXXX";
    int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    return name;
}

TEST(KernelTlsProbe, ReadsTheFileAndSaysWhatItSaw) {
    std::string with = temp_file("mptcp tls\n");
    KernelTlsProbe p = probe_kernel_tls(with.c_str());
    EXPECT_TRUE(p.available);
    EXPECT_EQ(p.detail, "tcp_available_ulp: mptcp tls");
    std::string without = temp_file("mptcp\n");
    p = probe_kernel_tls(without.c_str());
    EXPECT_FALSE(p.available);
    EXPECT_EQ(p.detail, "tcp_available_ulp: mptcp");
    std::string empty = temp_file("");
    p = probe_kernel_tls(empty.c_str());
    EXPECT_FALSE(p.available);
    EXPECT_EQ(p.detail, "tcp_available_ulp: (empty)");
    unlink(with.c_str());
    unlink(without.c_str());
    unlink(empty.c_str());
}

TEST(KernelTlsProbe, MissingFileFallsBack) {
    KernelTlsProbe p = probe_kernel_tls("/nonexistent/tcp_available_ulp");
    EXPECT_FALSE(p.available);
    EXPECT_EQ(p.detail, "/nonexistent/tcp_available_ulp: No such file or directory");
}

TEST(KernelTlsProbe, ThisHostAgreesWithItsOwnFile) {
    std::ifstream f(kAvailableUlpPath);
    if (!f) GTEST_SKIP() << "no " << kAvailableUlpPath;
    std::stringstream text;
    text << f.rdbuf();
    EXPECT_EQ(probe_kernel_tls().available, ulp_list_has_tls(text.str()));
}

}  // namespace
}  // namespace wsgate::tls
