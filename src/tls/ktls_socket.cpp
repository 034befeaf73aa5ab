#include "tls/ktls_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace wsgate::tls {

namespace {

constexpr char kTlsUlp[] = "tls";
constexpr uint8_t kCloseNotify = 0;
constexpr uint8_t kClientHello = 1;
constexpr uint8_t kNewSessionTicket = 4;  // RFC 8446 §4.6.1
constexpr uint8_t kKeyUpdate = 24;        // RFC 8446 §4.6.3

}  // namespace

InstallResult install_kernel_tls(int fd, const KernelKeys& keys) {
    InstallResult r;
    if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, kTlsUlp, sizeof(kTlsUlp) - 1) != 0) {
        r.step = "TCP_ULP";
        r.error = errno;
        return r;
    }
    if (setsockopt(fd, SOL_TLS, TLS_RX, &keys.rx, keys.size) != 0) {
        r.step = "TLS_RX";
        r.error = errno;
        return r;
    }
    if (setsockopt(fd, SOL_TLS, TLS_TX, &keys.tx, keys.size) != 0) {
        r.what = KernelInstall::broken;
        r.step = "TLS_TX";
        r.error = errno;
        return r;
    }
    r.what = KernelInstall::done;
    return r;
}

ssize_t read_control_record(int fd, uint8_t* buf, size_t cap, uint8_t* type) {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint8_t))];
    iovec iov{buf, cap};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0) return -errno;
    *type = kApplicationDataRecord;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE) {
            *type = *CMSG_DATA(c);
        }
    }
    return n;
}

int send_alert(int fd, uint8_t level, uint8_t description) {
    uint8_t alert[2] = {level, description};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint8_t))] = {};
    iovec iov{alert, sizeof(alert)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_TLS;
    c->cmsg_type = TLS_SET_RECORD_TYPE;
    c->cmsg_len = CMSG_LEN(sizeof(uint8_t));
    *CMSG_DATA(c) = kAlertRecord;
    return sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

ControlRecord classify_control_record(uint8_t type, const uint8_t* body, size_t len) {
    switch (type) {
        case kApplicationDataRecord:
            return ControlRecord::data;
        case kAlertRecord:
            // RFC 8446 §6: level, description; close_notify ends the data.
            return len == 2 && body[1] == kCloseNotify ? ControlRecord::end : ControlRecord::fatal;
        case kHandshakeRecord:
            if (len >= 1 && body[0] == kNewSessionTicket) return ControlRecord::ignore;
            if (len >= 1 && body[0] == kKeyUpdate) return ControlRecord::key_update;
            if (len >= 1 && body[0] == kClientHello) return ControlRecord::renegotiation;
            return ControlRecord::fatal;
        default:
            return ControlRecord::fatal;
    }
}

}  // namespace wsgate::tls
