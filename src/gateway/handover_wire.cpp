#include "gateway/handover_wire.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace wsgate::gateway::handover {

int send_record(int sock, Kind kind, uint32_t value, std::span<const uint8_t> body, uint32_t count,
                std::span<const int> fds) {
    if (fds.size() > kMaxFdsPerRecord || sizeof(RecordHeader) + body.size() > kMaxRecordBytes) {
        return -EMSGSIZE;
    }
    RecordHeader header;
    header.kind = static_cast<uint16_t>(kind);
    header.count = count;
    header.value = value;
    iovec iov[2] = {{&header, sizeof(header)}, {const_cast<uint8_t*>(body.data()), body.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = body.empty() ? 1 : 2;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerRecord)];
    if (!fds.empty()) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(cm), fds.data(), sizeof(int) * fds.size());
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (n >= 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

int send_text(int sock, Kind kind, const std::string& text) {
    return send_record(sock, kind, 0, {reinterpret_cast<const uint8_t*>(text.data()), text.size()},
                       static_cast<uint32_t>(text.size()), {});
}

void close_fds(Record& record) {
    for (int fd : record.fds)
        close(fd);
    record.fds.clear();
}

int receive_record(int sock, int timeout_ms, Record* record) {
    pollfd p{sock, POLLIN, 0};
    for (;;) {
        int n = poll(&p, 1, timeout_ms);
        if (n > 0) break;
        if (n == 0) return -ETIMEDOUT;
        if (errno != EINTR) return -errno;
    }
    record->body.resize(kMaxRecordBytes);
    record->fds.clear();
    iovec iov[2] = {{&record->header, sizeof(RecordHeader)},
                    {record->body.data(), record->body.size()}};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerRecord)];
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    if (n == 0) return -EPIPE;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        size_t at = record->fds.size();
        record->fds.resize(at + count);
        std::memcpy(record->fds.data() + at, CMSG_DATA(cm), count * sizeof(int));
    }
    const RecordHeader& h = record->header;
    if (static_cast<size_t>(n) < sizeof(RecordHeader) || (msg.msg_flags & MSG_CTRUNC) != 0 ||
        (msg.msg_flags & MSG_TRUNC) != 0 || h.magic != kMagic || h.version != kVersion) {
        close_fds(*record);
        return -EPROTO;
    }
    record->body.resize(static_cast<size_t>(n) - sizeof(RecordHeader));
    return 0;
}

}  // namespace wsgate::gateway::handover
