// The io_uring feature probe on this machine, and the backend choice from an
// injected probe result.
#include <gtest/gtest.h>
#include <liburing.h>
#include <sys/utsname.h>

#include <cstdio>
#include <string>

#include "io/backend_kind.hpp"
#include "io/ring_setup.hpp"
#include "io/uring_features.hpp"

namespace {

using wsgate::io::BackendKind;
using wsgate::io::choose_backend;
using wsgate::io::describe_uring_features;
using wsgate::io::missing_uring_requirement;
using wsgate::io::uring_feature_table;
using wsgate::io::UringFeatures;

struct KernelVersion {
    unsigned major = 0;
    unsigned minor = 0;
    bool at_least(unsigned m, unsigned n) const { return major > m || (major == m && minor >= n); }
};

KernelVersion running_kernel() {
    utsname host{};
    KernelVersion v;
    if (uname(&host) == 0) std::sscanf(host.release, "%u.%u", &v.major, &v.minor);
    return v;
}

// Every feature the backend may use, as a kernel of 6.12 or later has it.
UringFeatures everything() {
    UringFeatures f;
    f.setup_flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    for (const auto& info : uring_feature_table())
        f.*info.member = true;
    return f;
}

TEST(UringFeatures, ProbeFindsEveryFeatureOfTheRunningKernel) {
    UringFeatures f = wsgate::io::probe_uring_features();
    if (f.error != 0) GTEST_SKIP() << "io_uring unavailable: " << describe_uring_features(f);
    KernelVersion kernel = running_kernel();
    std::printf("kernel %u.%u: %s\n", kernel.major, kernel.minor,
                describe_uring_features(f).c_str());
    // A feature may be backported to an older kernel, never missing from a newer one.
    for (const auto& info : uring_feature_table()) {
        if (kernel.at_least(info.kernel_major, info.kernel_minor)) {
            EXPECT_TRUE(f.*info.member)
                << info.name << " (kernel " << info.kernel_major << "." << info.kernel_minor << ")";
        }
    }
    if (kernel.at_least(6, 1)) {
        EXPECT_TRUE(f.multishot_recv);
        EXPECT_TRUE(f.defer_taskrun);
        EXPECT_EQ(f.setup_flags, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    }
}

TEST(UringFeatures, OneProbePerProcessAndRingsUseItsFlags) {
    const UringFeatures& f = wsgate::io::uring_features();
    if (f.error != 0) GTEST_SKIP() << "io_uring unavailable: " << describe_uring_features(f);
    EXPECT_EQ(&f, &wsgate::io::uring_features());
    EXPECT_EQ(describe_uring_features(f),
              describe_uring_features(wsgate::io::probe_uring_features()));
    io_uring ring;
    unsigned flags = ~0u;
    ASSERT_EQ(wsgate::io::create_ring(ring, 8, &flags), 0);
    EXPECT_EQ(flags, f.setup_flags);
    // The kernel echoes the flags a ring was created with.
    EXPECT_EQ(ring.flags & (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                            IORING_SETUP_COOP_TASKRUN),
              f.setup_flags);
    io_uring_queue_exit(&ring);
}

TEST(UringFeatures, DescribeListsSetupPresentAndMissing) {
    UringFeatures f = everything();
    std::string all = describe_uring_features(f);
    EXPECT_EQ(
        all.rfind(
            "setup=SINGLE_ISSUER|DEFER_TASKRUN|SUBMIT_ALL|CQSIZE single_issuer defer_taskrun ", 0),
        0u)
        << all;
    EXPECT_EQ(all.substr(all.size() - 15), "; missing: none");

    f.multishot_recv = false;
    f.buf_ring_inc = false;
    std::string some = describe_uring_features(f);
    std::string present = some.substr(0, some.find("; missing:"));
    EXPECT_EQ(present.find("multishot_recv"), std::string::npos) << some;
    EXPECT_NE(present.find(" multishot_accept "), std::string::npos) << some;
    EXPECT_EQ(some.substr(some.find("; missing:")), "; missing: multishot_recv buf_ring_inc");

    UringFeatures none;
    none.error = -EPERM;
    EXPECT_EQ(describe_uring_features(none), "unavailable: Operation not permitted");
}

TEST(UringFeatures, AutoTakesIoUringOnlyWithEveryRequiredFeature) {
    std::string message;
    EXPECT_EQ(choose_backend(BackendKind::auto_select, everything(), true, &message),
              BackendKind::io_uring);
    EXPECT_EQ(message, "");
}

TEST(UringFeatures, MissingMultishotRecvMakesAutoChooseEpoll) {
    UringFeatures f = everything();
    f.multishot_recv = false;  // a 5.19 kernel: buffer rings, but no multishot receive
    std::string message;
    EXPECT_EQ(choose_backend(BackendKind::auto_select, f, false, &message), BackendKind::epoll);
    EXPECT_EQ(message, "io_uring unavailable (multishot_recv (kernel 6.0)), using epoll");
    message.clear();
    EXPECT_EQ(choose_backend(BackendKind::io_uring, f, false, &message), BackendKind::io_uring);
    EXPECT_EQ(message, "io_uring unavailable: multishot_recv (kernel 6.0)");
}

TEST(UringFeatures, EachRequiredFeatureIsChecked) {
    for (const char* name : {"buf_ring", "multishot_accept", "multishot_recv"}) {
        UringFeatures f = everything();
        for (const auto& info : uring_feature_table()) {
            if (std::string(info.name) == name) f.*info.member = false;
        }
        EXPECT_NE(missing_uring_requirement(f, false).find(name), std::string::npos) << name;
        std::string message;
        EXPECT_EQ(choose_backend(BackendKind::auto_select, f, false, &message), BackendKind::epoll)
            << name;
    }
    // Features the backend can do without never send it to epoll.
    UringFeatures f = everything();
    f.msg_ring = f.recvsend_bundle = f.buf_ring_inc = f.no_sqarray = f.cqe_skip_success = false;
    f.registered_ring_fd = f.defer_taskrun = f.single_issuer = f.coop_taskrun = false;
    f.setup_flags = 0;
    EXPECT_EQ(missing_uring_requirement(f, false), "");
}

TEST(UringFeatures, DirectDescriptorsRequiredOnlyWhenAskedFor) {
    UringFeatures f = everything();
    f.direct_descriptors = false;
    std::string message;
    EXPECT_EQ(choose_backend(BackendKind::auto_select, f, false, &message), BackendKind::io_uring);
    EXPECT_EQ(message, "");
    EXPECT_EQ(choose_backend(BackendKind::auto_select, f, true, &message), BackendKind::epoll);
    EXPECT_EQ(message, "io_uring unavailable (direct_descriptors (kernel 5.19)), using epoll");
}

TEST(UringFeatures, NoRingAtAllNamesTheError) {
    UringFeatures f;
    f.error = -EPERM;  // io_uring_disabled sysctl or a seccomp filter
    std::string message;
    EXPECT_EQ(choose_backend(BackendKind::auto_select, f, false, &message), BackendKind::epoll);
    EXPECT_EQ(message, "io_uring unavailable (Operation not permitted), using epoll");
    message.clear();
    EXPECT_EQ(choose_backend(BackendKind::epoll, f, false, &message), BackendKind::epoll);
    EXPECT_EQ(message, "");
}

}  // namespace
