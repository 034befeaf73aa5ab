// A server loop's TLS side: which listeners speak TLS, the session of each
// TLS connection (by slot index), and the two steps between the wire and
// the loop's unchanged HTTP/WebSocket path:
//   receive: ciphertext from a receive buffer -> OpenSSL (handshake, then
//            records) -> plaintext in the loop's scratch -> the sink;
//   gather:  the connection's plaintext queue -> records in its cipher
//            queue -> iovecs for the turn's one send.
// Both backends go through here (the loop calls it from on_data, gather
// and on_sent), so the policy exists once.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "io/out_queue.hpp"
#include "tls/failure_log.hpp"
#include "tls/ktls_keys.hpp"
#include "tls/tls_server_context.hpp"
#include "tls/tls_session.hpp"

namespace wsgate::tls {

enum class Received : uint8_t {
    more,    // all input used; the connection goes on
    closed,  // the peer sent close_notify: as a FIN
    failed,  // a fatal TLS error (an alert may be queued): reason says which
};

struct ReceiveResult {
    Received what = Received::more;
    bool established_now = false;  // this input completed the handshake
    bool resumed = false;          // ... by resuming a session (a ticket)
    const char* reason = "";       // Received::failed: OpenSSL's reason, static text
};

class TlsLoop {
  public:
    // Plaintext handed to the sink at once, at most (several records).
    static constexpr size_t kPlainScratchBytes = 64 * 1024;
    // Records encrypted ahead of the socket per connection, at most (plus
    // one piece); the rest stays plaintext. The loop's output cap counts
    // both queues (queued_records), so encrypting moves bytes, adds none.
    static constexpr size_t kMaxCipherQueued = 256 * 1024;
    // Plaintext pieces smaller than this are gathered into full records
    // first (a turn's many small frames: one record, not one each).
    static constexpr size_t kCoalesceBelow = 4096;
    static constexpr int64_t kIdleSweepMs = 1000;
    static constexpr int64_t kFailureLogIntervalMs = 1000;

    // server: nullptr when no listener speaks TLS. tls_listeners[i]: init's
    // listener i speaks TLS.
    TlsLoop(const TlsServerContext* server, std::vector<bool> tls_listeners, io::ChunkPool& pool);
    ~TlsLoop();
    TlsLoop(const TlsLoop&) = delete;
    TlsLoop& operator=(const TlsLoop&) = delete;

    bool listener_is_tls(uint32_t listener) const {
        return listener < tls_listeners_.size() && tls_listeners_[listener];
    }
    TlsSession* find(uint32_t index) const {
        return index < sessions_.size() ? sessions_[index] : nullptr;
    }
    bool has_output(uint32_t index) const {
        const TlsSession* s = find(index);
        return s != nullptr && !s->cipher.empty();
    }
    // Bytes of records queued for the kernel (0: not a TLS connection). The
    // loop's output cap counts them with the plaintext queue.
    size_t queued_records(uint32_t index) const {
        const TlsSession* s = find(index);
        return s != nullptr ? s->cipher.size() : 0;
    }

    // A server-side session for the connection in slot index; false when
    // OpenSSL could not make one.
    bool attach(uint32_t index);
    // Frees the session (its SSL, its queued records), or forgets that the
    // kernel carries the connection's records.
    void release(uint32_t index);

    // Kernel TLS. A session may be handed over once it is established and
    // quiet at a record boundary both ways: nothing queued to send, nothing
    // half read, nothing OpenSSL holds back (RFC 8446 §5.3: the kernel goes
    // on from the record numbers counted here).
    bool kernel_ready(const TlsSession& s) const;
    // s's keys for setsockopt(SOL_TLS), or why not (static text; the
    // session then stays in user space: stay_in_user_space). *out is wiped
    // by the caller once used.
    const char* kernel_keys(const TlsSession& s, KernelKeys* out) const;
    // Stops preparing s for the kernel (no more counting, secrets wiped).
    void stay_in_user_space(TlsSession& s);
    // The kernel took slot index's records: its session is freed (the SSL
    // object is what an idle kernel TLS connection no longer costs).
    void handed_to_kernel(uint32_t index);
    bool in_kernel(uint32_t index) const {
        return index < kernel_.size() && (kernel_[index] & kInKernel) != 0;
    }
    // Whether close_notify may still be sent on a kernel connection (once).
    bool take_kernel_close_notify(uint32_t index) {
        if (!in_kernel(index) || (kernel_[index] & kNotifySent) != 0) return false;
        kernel_[index] |= kNotifySent;
        return true;
    }
    size_t kernel_connections() const { return kernel_count_; }
    // Room for one record read with read_control_record (tls/ktls_socket.hpp).
    std::span<uint8_t> record_buffer() {
        if (scratch_.empty()) scratch_.resize(kPlainScratchBytes);
        return scratch_;
    }

    // Feeds data[0, len) (ciphertext) through the session. Plaintext goes to
    // sink(uint8_t* bytes, size_t n) -> bool, valid during the call; false
    // from the sink stops reading (the connection is closing: the rest is
    // dropped).
    template <class Sink>
    ReceiveResult receive(TlsSession& s, const uint8_t* data, size_t len, Sink&& sink) {
        begin_receive(s, data, len);
        ReceiveResult r;
        for (;;) {
            size_t n = 0;
            bool full = read_plain(s, &n, &r);
            if (n > 0 && !sink(scratch_.data(), n)) break;
            if (!full || r.what != Received::more) break;
        }
        end_receive(s);
        return r;
    }

    // Encrypts what fits of `plain` (whole, unless kMaxCipherQueued is
    // reached), queues close_notify once `plain` is empty if close_after,
    // and fills iov with the queued records. Returns the iovec count.
    size_t gather(TlsSession& s, io::OutQueue& plain, bool close_after, iovec* iov, size_t max);
    // The kernel took `bytes` of the records gather offered.
    void sent(TlsSession& s, size_t bytes) { s.cipher.consume(*pool_, bytes); }
    // Queues close_notify (RFC 8446 §6.1) once, on an established session.
    void close_notify(TlsSession& s);

    // Once a second: sessions quiet since the previous sweep give their
    // record buffers back (~34 KiB each); busy ones keep them, so no
    // record allocates.
    // Also writes a due summary of held failure lines.
    void after_turn(FILE* log, int64_t now_ms);

    // One line for a connection closed by a TLS failure (FailureLog: at
    // most two lines a second per loop, the rest counted).
    void log_failure(FILE* out, int64_t now_ms, int fd, const char* reason, io::RequestId conn) {
        failures_.note(out, now_ms, fd, reason, conn);
    }
    // When after_turn has work (a held summary to write, record buffers to
    // sweep), so an idle loop wakes for it; FailureLog::kNothingDue: none.
    int64_t next_due_ms() const {
        int64_t sweep =
            buffer_holders_.empty() ? FailureLog::kNothingDue : last_sweep_ms_ + kIdleSweepMs;
        return std::min(sweep, failures_.next_due_ms());
    }
    size_t sessions() const { return count_; }

  private:
    void begin_receive(TlsSession& s, const uint8_t* data, size_t len);
    void end_receive(TlsSession& s);
    // Reads plaintext into scratch_ until it is full (true) or input ran out.
    bool read_plain(TlsSession& s, size_t* n, ReceiveResult* r);
    bool write_records(TlsSession& s, const uint8_t* data, size_t len);
    void list_buffers(TlsSession& s, uint32_t index);
    static void on_info(const SSL* ssl, int where, int ret);

    void free_session(uint32_t index, TlsSession* s);

    static constexpr uint8_t kInKernel = 1;
    static constexpr uint8_t kNotifySent = 2;

    const TlsServerContext* server_;
    std::vector<bool> tls_listeners_;
    io::ChunkPool* pool_;
    std::vector<TlsSession*> sessions_;     // by slot index, grown as needed
    std::vector<uint32_t> buffer_holders_;  // slot indexes of sessions that may hold buffers
    std::vector<uint8_t> scratch_;          // plaintext out of SSL_read
    std::vector<uint8_t> staging_;          // small plaintext pieces gathered into a record
    std::vector<uint8_t> kernel_;           // by slot index: kInKernel | kNotifySent
    size_t count_ = 0;
    size_t kernel_count_ = 0;
    int64_t last_sweep_ms_ = 0;
    FailureLog failures_{kFailureLogIntervalMs};
};

}  // namespace wsgate::tls
