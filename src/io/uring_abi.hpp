// io_uring ABI constants newer than the liburing 2.3 headers wsgate builds
// against (its <liburing/io_uring.h> is the kernel 6.1 ABI). Values are the
// kernel's (include/uapi/linux/io_uring.h); each names the kernel that
// brought it. Defined only where the header lacks them, so a newer liburing
// takes precedence without a clash.
#pragma once

#include <liburing.h>

// io_uring_setup flag: no SQ index array; SQEs are consumed in ring order
// (6.6). liburing 2.3 maps the SQ array unconditionally, so wsgate can only
// probe this flag, not run a liburing ring with it.
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

// io_uring_params.features: the ring may be registered with
// IORING_REGISTER_USE_REGISTERED_RING (6.3).
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13)
#endif

// io_uring_params.features: recv/send may take IORING_RECVSEND_BUNDLE,
// filling or sending several provided buffers in one completion (6.10).
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif

// sqe->ioprio flag for recv/send: bundle (6.10).
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif

// io_uring_buf_reg.flags (the field liburing 2.3 still calls `pad`, 6.4):
// the kernel allocates the buffer ring for mmap (6.4); buffers are consumed
// incrementally, a receive taking only the bytes it needs (6.12).
#ifndef IOU_PBUF_RING_MMAP
#define IOU_PBUF_RING_MMAP 1U
#endif
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2U
#endif

// cqe->flags with IOU_PBUF_RING_INC: the buffer is not used up; more
// completions will fill it (6.12).
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif

// sqe->ioprio flag for accept: complete at once with -EAGAIN when no
// connection is queued instead of waiting for one (6.10).
#ifndef IORING_ACCEPT_DONTWAIT
#define IORING_ACCEPT_DONTWAIT (1U << 1)
#endif
