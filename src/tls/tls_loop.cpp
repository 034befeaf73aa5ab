#include "tls/tls_loop.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "io/backend_options.hpp"
#include "tls/ktls_track.hpp"
#include "tls/loop_bio.hpp"

namespace wsgate::tls {

namespace {

const char* error_reason() {
    unsigned long e = ERR_peek_error();
    const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
    ERR_clear_error();
    return reason != nullptr ? reason : "TLS error";
}

// A plain HTTP request on a TLS port (OpenSSL recognises its first bytes)
// gets a plain answer saying so, instead of a TLS alert it cannot read.
constexpr std::string_view kPlainHttpBody = "this port speaks TLS: use https:// or wss://\n";
constexpr std::string_view kPlainHttpAnswer =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 45\r\n"
    "Connection: close\r\n\r\n"
    "this port speaks TLS: use https:// or wss://\n";
static_assert(kPlainHttpBody.size() == 45);

}  // namespace

TlsLoop::TlsLoop(const TlsServerContext* server, std::vector<bool> tls_listeners,
                 io::ChunkPool& pool)
    : server_(server), tls_listeners_(std::move(tls_listeners)), pool_(&pool) {
    if (server_ == nullptr) tls_listeners_.clear();
}

TlsLoop::~TlsLoop() {
    for (uint32_t i = 0; i < sessions_.size(); ++i)
        release(i);
}

bool TlsLoop::attach(uint32_t index) {
    if (index >= sessions_.size()) sessions_.resize(index + 1, nullptr);
    auto* s = new TlsSession;
    s->pool = pool_;
    s->index = index;
    s->ssl = server_->new_ssl();
    BIO* bio = s->ssl != nullptr ? new_loop_bio(s) : nullptr;
    if (bio == nullptr) {
        SSL_free(s->ssl);
        delete s;
        ERR_clear_error();
        return false;
    }
    SSL_set_bio(s->ssl, bio, bio);
    SSL_set_accept_state(s->ssl);
    SSL_set_app_data(s->ssl, s);
    SSL_set_info_callback(s->ssl, on_info);
    if (server_->kernel_tls()) s->kernel = new KernelTlsTrack;
    sessions_[index] = s;
    ++count_;
    list_buffers(*s, index);  // the handshake allocates them
    return true;
}

void TlsLoop::release(uint32_t index) {
    if (in_kernel(index)) {
        kernel_[index] = 0;
        --kernel_count_;
    }
    TlsSession* s = find(index);
    if (s != nullptr) free_session(index, s);
}

void TlsLoop::free_session(uint32_t index, TlsSession* s) {
    sessions_[index] = nullptr;
    s->cipher.clear(*pool_);
    stay_in_user_space(*s);
    SSL_free(s->ssl);
    delete s;
    --count_;
}

bool TlsLoop::kernel_ready(const TlsSession& s) const {
    return s.kernel != nullptr && s.established && !s.failed && !s.notify_sent &&
           !s.renegotiation && s.cipher.empty() && s.in_len == 0 && s.kernel->sent.at_boundary() &&
           s.kernel->received.at_boundary() && SSL_pending(s.ssl) == 0 &&
           SSL_has_pending(s.ssl) == 0 &&
           // A KeyUpdate OpenSSL still owes the peer (RFC 8446 §4.6.3).
           SSL_get_key_update_type(s.ssl) == SSL_KEY_UPDATE_NONE;
}

const char* TlsLoop::kernel_keys(const TlsSession& s, KernelKeys* out) const {
    if (!kernel_ready(s)) return "session not at a record boundary";
    return derive_kernel_keys(s.ssl, s.kernel->secrets, s.kernel->sent.next_seq(),
                              s.kernel->received.next_seq(), out);
}

void TlsLoop::stay_in_user_space(TlsSession& s) {
    if (s.kernel == nullptr) return;
    OPENSSL_cleanse(&s.kernel->secrets, sizeof(s.kernel->secrets));
    delete s.kernel;
    s.kernel = nullptr;
}

void TlsLoop::handed_to_kernel(uint32_t index) {
    TlsSession* s = find(index);
    if (s == nullptr) return;
    free_session(index, s);
    if (index >= kernel_.size()) kernel_.resize(index + 1, 0);
    kernel_[index] = kInKernel;
    ++kernel_count_;
}

// The key log line of a session prepared for the kernel: its TLS 1.3
// application secrets, and the record from which each direction uses them.
void ktls_key_log(const SSL* ssl, const char* line) {
    auto* s = static_cast<TlsSession*>(SSL_get_app_data(ssl));
    if (s == nullptr || s->kernel == nullptr) return;
    switch (take_key_log_line(line, &s->kernel->secrets)) {
        case SecretKind::server_application:
            s->kernel->sent.mark();
            break;
        case SecretKind::client_application:
            s->kernel->received.mark();
            break;
        case SecretKind::none:
            break;
    }
}

// RFC 5746 / RFC 8446 §4.1.2 : a ClientHello on an established TLS 1.2
// connection is a renegotiation, which the server refuses (OpenSSL answers
// it with a no_renegotiation warning and carries on; the loop closes).
// TLS 1.3 has no renegotiation (its post-handshake messages are not one).
void TlsLoop::on_info(const SSL* ssl, int where, int) {
    if ((where & SSL_CB_HANDSHAKE_START) == 0) return;
    auto* s = static_cast<TlsSession*>(SSL_get_app_data(ssl));
    if (s != nullptr && s->established && SSL_version(ssl) != TLS1_3_VERSION) {
        s->renegotiation = true;
    }
}

void TlsLoop::begin_receive(TlsSession& s, const uint8_t* data, size_t len) {
    s.in = data;
    s.in_len = len;
    s.active = true;
    if (!s.buffers_listed) list_buffers(s, s.index);
    if (scratch_.empty()) scratch_.resize(kPlainScratchBytes);
    ERR_clear_error();
}

void TlsLoop::end_receive(TlsSession& s) {
    s.in = nullptr;
    s.in_len = 0;
}

bool TlsLoop::read_plain(TlsSession& s, size_t* n, ReceiveResult* r) {
    size_t filled = 0;
    while (filled < scratch_.size()) {
        size_t got = 0;
        int rc = SSL_read_ex(s.ssl, scratch_.data() + filled, scratch_.size() - filled, &got);
        if (!s.established && SSL_is_init_finished(s.ssl)) {
            s.established = true;
            r->established_now = true;
            r->resumed = SSL_session_reused(s.ssl) == 1;
        }
        if (s.renegotiation) {
            r->what = Received::failed;
            r->reason = "renegotiation refused";
            s.failed = true;
            break;
        }
        if (rc == 1) {
            filled += got;
            continue;
        }
        switch (SSL_get_error(s.ssl, rc)) {
            case SSL_ERROR_WANT_READ:
                break;
            case SSL_ERROR_ZERO_RETURN:
                r->what = Received::closed;
                break;
            default:
                if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_HTTP_REQUEST) {
                    s.cipher.append(*pool_, kPlainHttpAnswer.data(), kPlainHttpAnswer.size());
                }
                r->what = Received::failed;
                r->reason = error_reason();
                s.failed = true;
                break;
        }
        break;
    }
    *n = filled;
    return filled == scratch_.size();
}

bool TlsLoop::write_records(TlsSession& s, const uint8_t* data, size_t len) {
    size_t written = 0;
    if (SSL_write_ex(s.ssl, data, len, &written) == 1 && written == len) return true;
    ERR_clear_error();
    s.failed = true;
    return false;
}

size_t TlsLoop::gather(TlsSession& s, io::OutQueue& plain, bool close_after, iovec* iov,
                       size_t max) {
    if (s.established && !s.failed && !plain.empty()) {
        s.active = true;
        if (!s.buffers_listed) list_buffers(s, s.index);
        if (staging_.empty()) staging_.resize(SSL3_RT_MAX_PLAIN_LENGTH);
        size_t staged = 0;
        while (!plain.empty() && s.cipher.size() < kMaxCipherQueued && !s.failed) {
            iovec pieces[io::kMaxSendIov];
            size_t count = plain.gather(pieces, io::kMaxSendIov);
            size_t taken = 0;
            for (size_t i = 0; i < count && !s.failed; ++i) {
                auto* p = static_cast<const uint8_t*>(pieces[i].iov_base);
                size_t len = pieces[i].iov_len;
                taken += len;
                if (len >= kCoalesceBelow) {
                    if (staged > 0) write_records(s, staging_.data(), staged);
                    staged = 0;
                    write_records(s, p, len);
                    continue;
                }
                while (len > 0) {
                    size_t n = std::min(len, staging_.size() - staged);
                    std::memcpy(staging_.data() + staged, p, n);
                    staged += n;
                    p += n;
                    len -= n;
                    if (staged == staging_.size()) {
                        write_records(s, staging_.data(), staged);
                        staged = 0;
                    }
                }
            }
            plain.consume(*pool_, taken);
        }
        if (staged > 0 && !s.failed) write_records(s, staging_.data(), staged);
        if (s.failed) plain.clear(*pool_);
    }
    if (close_after && plain.empty()) close_notify(s);
    return s.cipher.gather(iov, max);
}

void TlsLoop::close_notify(TlsSession& s) {
    if (!s.established || s.failed || s.notify_sent) return;
    s.notify_sent = true;
    SSL_shutdown(s.ssl);  // queues the alert; the peer's reply is not awaited
    ERR_clear_error();
}

void TlsLoop::list_buffers(TlsSession& s, uint32_t index) {
    s.buffers_listed = true;
    buffer_holders_.push_back(index);
}

void TlsLoop::after_turn(FILE* log, int64_t now_ms) {
    failures_.flush_due(log, now_ms);
    if (now_ms - last_sweep_ms_ < kIdleSweepMs) return;
    last_sweep_ms_ = now_ms;
    size_t kept = 0;
    for (uint32_t index : buffer_holders_) {
        TlsSession* s = find(index);
        if (s == nullptr || !s->buffers_listed) continue;  // released (its slot may be reused)
        if (s->active) {
            s->active = false;
            buffer_holders_[kept++] = index;
            continue;
        }
        // 0: a record is partly read or written; tried again next sweep.
        if (SSL_free_buffers(s->ssl) != 1 && !s->failed) {
            buffer_holders_[kept++] = index;
            continue;
        }
        s->buffers_listed = false;
    }
    buffer_holders_.resize(kept);
}

}  // namespace wsgate::tls
