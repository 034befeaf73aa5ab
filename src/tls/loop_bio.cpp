#include "tls/loop_bio.hpp"

#include <algorithm>
#include <cstring>

#include "tls/ktls_track.hpp"
#include "tls/tls_session.hpp"

namespace wsgate::tls {

namespace {

int bio_read(BIO* bio, char* out, size_t len, size_t* read) {
    auto* s = static_cast<TlsSession*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (s->in_len == 0) {
        BIO_set_retry_read(bio);
        *read = 0;
        return 0;
    }
    size_t n = std::min(len, s->in_len);
    std::memcpy(out, s->in, n);
    s->in += n;
    s->in_len -= n;
    if (s->kernel != nullptr) s->kernel->received.feed(reinterpret_cast<uint8_t*>(out), n);
    *read = n;
    return 1;
}

int bio_write(BIO* bio, const char* in, size_t len, size_t* written) {
    auto* s = static_cast<TlsSession*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    s->cipher.append(*s->pool, in, len);
    if (s->kernel != nullptr) s->kernel->sent.feed(reinterpret_cast<const uint8_t*>(in), len);
    *written = len;
    return 1;
}

long bio_ctrl(BIO* bio, int cmd, long, void*) {
    auto* s = static_cast<TlsSession*>(BIO_get_data(bio));
    switch (cmd) {
        case BIO_CTRL_FLUSH:  // records are in the queue already
            return 1;
        case BIO_CTRL_PENDING:
            return s != nullptr ? static_cast<long>(s->in_len) : 0;
        default:
            return 0;
    }
}

int bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

BIO_METHOD* loop_bio_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m =
            BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsgate loop buffers");
        BIO_meth_set_read_ex(m, bio_read);
        BIO_meth_set_write_ex(m, bio_write);
        BIO_meth_set_ctrl(m, bio_ctrl);
        BIO_meth_set_create(m, bio_create);
        return m;
    }();
    return method;
}

}  // namespace

BIO* new_loop_bio(TlsSession* session) {
    BIO* bio = BIO_new(loop_bio_method());
    if (bio != nullptr) BIO_set_data(bio, session);
    return bio;
}

}  // namespace wsgate::tls
