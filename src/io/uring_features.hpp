// What this kernel's io_uring can do, probed once per process at start-up:
// ring setup flags by creating rings, opcodes from io_uring_get_probe, and
// whatever an opcode probe cannot show (multishot flags, buffer-ring flags,
// direct accept, cross-ring messages) by running one tiny operation each on
// a socketpair or a Unix listener. The backend choice, the ring set-up, the
// start-up log line, `wsgate --features` and metrics all read this one
// struct, so what is reported is what runs.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace wsgate::io {

struct UringFeatures {
    int error = 0;                    // -errno when no ring could be created at all
    unsigned setup_flags = 0;         // the flag set create_ring uses (see ring_setup.hpp)
    bool single_issuer = false;       // IORING_SETUP_SINGLE_ISSUER (6.0)
    bool defer_taskrun = false;       // IORING_SETUP_DEFER_TASKRUN (6.1)
    bool coop_taskrun = false;        // IORING_SETUP_COOP_TASKRUN (5.19)
    bool no_sqarray = false;          // IORING_SETUP_NO_SQARRAY (6.6), accepted by io_uring_setup
    bool buf_ring = false;            // provided buffer ring (5.19)
    bool buf_ring_inc = false;        // IOU_PBUF_RING_INC incremental buffers (6.12)
    bool multishot_accept = false;    // IORING_ACCEPT_MULTISHOT (5.19), seen accepting
    bool multishot_recv = false;      // IORING_RECV_MULTISHOT (6.0), seen receiving twice
    bool direct_descriptors = false;  // sparse file table + accept into it + close_direct (5.19)
    bool msg_ring = false;            // IORING_OP_MSG_RING (5.18), seen between two rings
    bool cqe_skip_success = false;    // IOSQE_CQE_SKIP_SUCCESS (5.17), seen skipping
    bool recvsend_bundle = false;     // IORING_RECVSEND_BUNDLE (6.10)
    bool registered_ring_fd = false;  // io_uring_register_ring_fd (5.18)
    bool shutdown_op = false;         // IORING_OP_SHUTDOWN (5.11), FIN for direct descriptors
    bool recv_total_limit = false;    // multishot receive that ends after N bytes (6.17)
};

// One named feature, for reports and tests: the kernel that brought it
// (major, minor) and where it lives in the struct.
struct UringFeatureInfo {
    const char* name;
    unsigned kernel_major;
    unsigned kernel_minor;
    bool UringFeatures::*member;
};
std::span<const UringFeatureInfo> uring_feature_table();

// Runs the probe now (creates and destroys a few small rings and sockets;
// ~1 ms). Thread-safe; has no lasting effect on the process.
UringFeatures probe_uring_features();

// The process-wide result: probed on first use, then reused.
const UringFeatures& uring_features();

// What the io_uring backend cannot run without: a ring with the flags
// create_ring sets, a provided buffer ring, multishot accept and multishot
// receive, and with `direct` the direct-descriptor set. Empty when all are
// present; otherwise the first missing one, e.g. "multishot_recv (kernel 6.0)",
// or the error that prevented creating a ring.
std::string missing_uring_requirement(const UringFeatures& features, bool direct);

// One line: "setup=SINGLE_ISSUER|DEFER_TASKRUN|... name name ...; missing: name ..."
// (what is present, then what is not), or "unavailable: <error>".
std::string describe_uring_features(const UringFeatures& features);

}  // namespace wsgate::io
