// The live-upgrade protocol's records on the handover socket (an AF_UNIX
// SOCK_SEQPACKET pair: one record per message, boundaries kept), as
// docs/live-upgrade.md describes them. Every record starts with a
// RecordHeader; descriptors travel with it as SCM_RIGHTS, at most
// kMaxFdsPerRecord per record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace wsgate::gateway::handover {

inline constexpr uint32_t kMagic = 0x55475357;  // "WSGU" little-endian
inline constexpr uint16_t kVersion = 3;
inline constexpr size_t kMaxFdsPerRecord = 253;  // SCM_MAX_FD
inline constexpr size_t kMaxRecordBytes = 64 * 1024;

enum class Kind : uint16_t {
    hello = 1,        // new -> old: value = its pid; no body
    listeners = 2,    // old -> new: count ListenerEntry, one descriptor each; value = total
    ready = 3,        // new -> old: its loops accept on the listeners; value = its pid
    connections = 4,  // old -> new: count ws::ExportedConnection, then their application
                      // bytes; per connection its socket and its app_fds descriptors
    done = 5,         // old -> new: value = connections sent in all
    taken = 6,        // new -> old: value = connections adopted in all
    refused = 7,      // either way: body = the reason (text, count bytes); the upgrade ends
    loop_state = 8,   // old -> new: value = the loop; body = a LoopStatePiece and count bytes of
                      // that loop's application state (the last piece has last = 1)
};

struct LoopStatePiece {
    uint32_t last = 0;  // 1: the loop's state is complete with this piece
    uint32_t reserved = 0;
};
static_assert(sizeof(LoopStatePiece) == 8);

struct RecordHeader {
    uint32_t magic = kMagic;
    uint16_t version = kVersion;
    uint16_t kind = 0;
    uint32_t count = 0;  // entries (or text bytes) in the body
    uint32_t value = 0;  // what the kind says
};
static_assert(sizeof(RecordHeader) == 16);

struct ListenerEntry {
    uint16_t loop = 0;     // which loop of the old process it served
    uint16_t address = 0;  // its --listen address, by position
    uint8_t admin = 0;     // 1: the --admin-listen socket (loop, address unused)
    uint8_t reserved[3] = {};
};
static_assert(sizeof(ListenerEntry) == 8);

struct Record {
    RecordHeader header;
    std::vector<uint8_t> body;
    std::vector<int> fds;  // received close-on-exec; the receiver owns them

    template <class Entry>
    std::span<const Entry> entries() const {
        return {reinterpret_cast<const Entry*>(body.data()), body.size() / sizeof(Entry)};
    }
};

// Sends one record (blocking). 0 or -errno.
int send_record(int sock, Kind kind, uint32_t value, std::span<const uint8_t> body, uint32_t count,
                std::span<const int> fds);
int send_text(int sock, Kind kind, const std::string& text);

// Receives one record, waiting at most timeout_ms (-1: no limit). 0, or
// -ETIMEDOUT, -EPIPE (the peer closed), -EPROTO (not a record of this
// version: the descriptors that came with it are closed), -errno.
int receive_record(int sock, int timeout_ms, Record* record);

// Closes every descriptor a record brought.
void close_fds(Record& record);

}  // namespace wsgate::gateway::handover
