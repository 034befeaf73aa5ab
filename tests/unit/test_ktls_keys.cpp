// Kernel TLS keys: what wsgate would hand to setsockopt(SOL_TLS) must be the
// session's real keys and record numbers. This host has no tls module, so
// the test plays the kernel: a record layer written from <linux/tls.h>'s
// semantics alone (nonce from salt/iv and rec_seq, RFC 8446 §5.2-5.3 and
// RFC 5246 §6.2.3.3 / RFC 5288 / RFC 7905 AAD), with EVP AEAD. A real
// handshake runs between an OpenSSL client and wsgate's TlsLoop (its BIO
// counting the records), in memory, for each version, suite, and full and
// resumed handshakes; then
//   - records the kernel would send (from the TX info) must be read by the
//     client as the same plaintext, close_notify as the end;
//   - records the client sends must open with the RX info, alerts and
//     KeyUpdate with their record type;
//   - the last records exchanged in user space must open with the info
//     at their own sequence numbers, and not at the next one.
// Wrong keys, IVs or sequence numbers fail the AEAD tag.
#include <gtest/gtest.h>
#include <malloc.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "io/out_queue.hpp"
#include "tls/ktls_keys.hpp"
#include "tls/ktls_probe.hpp"
#include "tls/ktls_socket.hpp"
#include "tls/ktls_track.hpp"
#include "tls/record_counter.hpp"
#include "tls/tls_loop.hpp"
#include "tls/tls_server_context.hpp"

namespace wsgate::tls {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes bytes_of(const std::string& s) {
    return Bytes(s.begin(), s.end());
}

// ---- the test's kernel: one direction of a record layer from crypto info --

struct KernelDirection {
    int version = 0;  // TLS_1_2_VERSION / TLS_1_3_VERSION
    uint16_t cipher = 0;
    Bytes key;
    Bytes salt;  // GCM: 4 bytes; ChaCha20: none
    Bytes iv;    // GCM: 8 (TLS 1.2: the next explicit nonce); ChaCha20: 12
    uint64_t seq = 0;
};

uint64_t be64(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = v << 8 | p[i];
    return v;
}

template <class Info>
KernelDirection gcm_direction(const Info& info) {
    KernelDirection d;
    d.version = info.info.version;
    d.cipher = info.info.cipher_type;
    d.key.assign(info.key, info.key + sizeof(info.key));
    d.salt.assign(info.salt, info.salt + sizeof(info.salt));
    d.iv.assign(info.iv, info.iv + sizeof(info.iv));
    d.seq = be64(info.rec_seq);
    return d;
}

KernelDirection direction_of(const KernelCryptoInfo& info) {
    switch (info.info.cipher_type) {
        case TLS_CIPHER_AES_GCM_128:
            return gcm_direction(info.aes_gcm_128);
        case TLS_CIPHER_AES_GCM_256:
            return gcm_direction(info.aes_gcm_256);
        default: {
            const ChaCha20Poly1305Info& c = info.chacha20_poly1305;
            KernelDirection d;
            d.version = c.info.version;
            d.cipher = c.info.cipher_type;
            d.key.assign(c.key, c.key + sizeof(c.key));
            d.iv.assign(c.iv, c.iv + sizeof(c.iv));
            d.seq = be64(c.rec_seq);
            return d;
        }
    }
}

const EVP_CIPHER* aead(uint16_t cipher) {
    switch (cipher) {
        case TLS_CIPHER_AES_GCM_128:
            return EVP_aes_128_gcm();
        case TLS_CIPHER_AES_GCM_256:
            return EVP_aes_256_gcm();
        default:
            return EVP_chacha20_poly1305();
    }
}

constexpr size_t kTag = 16;

bool explicit_nonce(const KernelDirection& d) {
    return d.version == TLS_1_2_VERSION && d.cipher != TLS_CIPHER_CHACHA20_POLY1305;
}

// The 12-byte nonce of record d.seq (RFC 8446 §5.3; RFC 7905 §2): the
// static IV XOR the sequence number; TLS 1.2 GCM: salt + explicit part.
Bytes nonce(const KernelDirection& d, const uint8_t* explicit_part) {
    Bytes n;
    if (explicit_nonce(d)) {
        n = d.salt;
        n.insert(n.end(), explicit_part, explicit_part + 8);
        return n;
    }
    n = d.salt;
    n.insert(n.end(), d.iv.begin(), d.iv.end());
    for (int i = 0; i < 8; ++i)
        n[n.size() - 1 - i] ^= static_cast<uint8_t>(d.seq >> (8 * i));
    return n;
}

Bytes aad12(uint64_t seq, uint8_t type, size_t len) {
    Bytes a;
    for (int i = 7; i >= 0; --i)
        a.push_back(static_cast<uint8_t>(seq >> (8 * i)));
    a.push_back(type);
    a.push_back(0x03);
    a.push_back(0x03);
    a.push_back(static_cast<uint8_t>(len >> 8));
    a.push_back(static_cast<uint8_t>(len));
    return a;
}

bool run_aead(bool seal, const KernelDirection& d, const Bytes& n, const Bytes& aad,
              const uint8_t* in, size_t len, uint8_t* out, uint8_t* tag) {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    int outl = 0;
    bool ok =
        EVP_CipherInit_ex(ctx, aead(d.cipher), nullptr, nullptr, nullptr, seal) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(n.size()), nullptr) ==
            1 &&
        EVP_CipherInit_ex(ctx, nullptr, nullptr, d.key.data(), n.data(), seal) == 1 &&
        EVP_CipherUpdate(ctx, nullptr, &outl, aad.data(), static_cast<int>(aad.size())) == 1 &&
        (len == 0 || EVP_CipherUpdate(ctx, out, &outl, in, static_cast<int>(len)) == 1);
    if (ok && !seal) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTag, tag) == 1;
    if (ok) ok = EVP_CipherFinal_ex(ctx, out + len, &outl) == 1;
    if (ok && seal) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTag, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

void increment_be(Bytes& v) {
    for (size_t i = v.size(); i-- > 0;) {
        if (++v[i] != 0) break;
    }
}

// One record as the kernel sends it (type: the content type; TLS 1.3 hides
// it inside, RFC 8446 §5.2).
Bytes kernel_seal(KernelDirection& d, uint8_t type, const Bytes& plain) {
    Bytes inner = plain;
    uint8_t outer = type;
    if (d.version == TLS_1_3_VERSION) {
        inner.push_back(type);
        outer = 23;
    }
    size_t explicit_len = explicit_nonce(d) ? 8 : 0;
    size_t body = explicit_len + inner.size() + kTag;
    Bytes rec = {outer, 0x03, 0x03, static_cast<uint8_t>(body >> 8), static_cast<uint8_t>(body)};
    Bytes n = nonce(d, explicit_len ? d.iv.data() : nullptr);
    Bytes aad = d.version == TLS_1_3_VERSION ? rec : aad12(d.seq, type, plain.size());
    rec.insert(rec.end(), d.iv.begin(), d.iv.begin() + static_cast<long>(explicit_len));
    size_t at = rec.size();
    rec.resize(at + inner.size() + kTag);
    EXPECT_TRUE(run_aead(true, d, n, aad, inner.data(), inner.size(), rec.data() + at,
                         rec.data() + at + inner.size()));
    ++d.seq;
    if (explicit_len) increment_be(d.iv);  // the kernel's next explicit nonce
    return rec;
}

// Opens the record at rec (whole); false when the tag does not verify.
bool kernel_open(KernelDirection& d, const Bytes& rec, uint8_t* type, Bytes* plain) {
    if (rec.size() < 5 + kTag) return false;
    size_t explicit_len = explicit_nonce(d) ? 8 : 0;
    const uint8_t* body = rec.data() + 5;
    size_t ct_len = rec.size() - 5 - explicit_len - kTag;
    Bytes n = nonce(d, body);
    Bytes aad = d.version == TLS_1_3_VERSION ? Bytes(rec.begin(), rec.begin() + 5)
                                             : aad12(d.seq, rec[0], ct_len);
    Bytes out(ct_len + 16);
    Bytes tag(body + explicit_len + ct_len, body + explicit_len + ct_len + kTag);
    if (!run_aead(false, d, n, aad, body + explicit_len, ct_len, out.data(), tag.data())) {
        return false;
    }
    out.resize(ct_len);
    *type = rec[0];
    if (d.version == TLS_1_3_VERSION) {
        while (!out.empty() && out.back() == 0)
            out.pop_back();
        if (out.empty()) return false;
        *type = out.back();
        out.pop_back();
    }
    *plain = out;
    ++d.seq;
    return true;
}

std::vector<Bytes> split_records(const Bytes& stream) {
    std::vector<Bytes> out;
    size_t i = 0;
    while (i + 5 <= stream.size()) {
        size_t len = size_t{stream[i + 3]} << 8 | stream[i + 4];
        EXPECT_LE(i + 5 + len, stream.size());
        out.emplace_back(stream.begin() + static_cast<long>(i),
                         stream.begin() + static_cast<long>(i + 5 + len));
        i += 5 + len;
    }
    EXPECT_EQ(i, stream.size());
    return out;
}

// ---- a certificate made in memory, written to files for the context ------

struct TempCertificate {
    std::string cert;
    std::string key;
    TempCertificate() {
        EVP_PKEY* pkey = EVP_EC_gen("P-256");
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, pkey);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(x, name);
        X509_sign(x, pkey, EVP_sha256());
        cert = write_pem([&](FILE* f) { PEM_write_X509(f, x); });
        key = write_pem(
            [&](FILE* f) { PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr); });
        X509_free(x);
        EVP_PKEY_free(pkey);
    }
    ~TempCertificate() {
        unlink(cert.c_str());
        unlink(key.c_str());
    }
    template <class Write>
    static std::string write_pem(Write write) {
        char path[] = "/tmp/wsgate-ktls-test.XXXXXX";
        int fd = mkstemp(path);
        FILE* f = fdopen(fd, "w");
        write(f);
        std::fclose(f);
        return path;
    }
};

// ---- a client (OpenSSL, memory BIOs) against a TlsLoop session ----------

struct Suite {
    int version;
    const char* tls12;  // cipher list name (ECDSA certificate)
    const char* tls13;  // ciphersuite name
    uint16_t kernel_cipher;
};

constexpr Suite kAes128{0, "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256",
                        TLS_CIPHER_AES_GCM_128};
constexpr Suite kAes256{0, "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384",
                        TLS_CIPHER_AES_GCM_256};
constexpr Suite kChaCha{0, "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_CHACHA20_POLY1305_SHA256",
                        TLS_CIPHER_CHACHA20_POLY1305};

class Pair {
  public:
    // server: another pair's, to share its ticket keys (resumption).
    Pair(const TempCertificate& cert, int version, const Suite& suite, bool kernel_tls = true,
         std::shared_ptr<TlsServerContext> server = nullptr)
        : server_(std::move(server)) {
        if (!server_) {
            TlsSettings settings;
            settings.certificates.push_back({cert.cert, cert.key});
            settings.ciphers = suite.tls12;
            settings.ciphersuites = suite.tls13;
            settings.kernel_tls = kernel_tls;
            std::string error;
            server_ = TlsServerContext::create(settings, &error);
            EXPECT_TRUE(server_) << error;
        }
        loop_ = std::make_unique<TlsLoop>(server_.get(), std::vector<bool>{true}, pool_);
        EXPECT_TRUE(loop_->attach(0));
        ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(ctx_, version);
        SSL_CTX_set_max_proto_version(ctx_, version);
        SSL_CTX_set_cipher_list(ctx_, suite.tls12);
        SSL_CTX_set_ciphersuites(ctx_, suite.tls13);
        client_ = SSL_new(ctx_);
        to_client_ = BIO_new(BIO_s_mem());
        from_client_ = BIO_new(BIO_s_mem());
        SSL_set_bio(client_, to_client_, from_client_);
        SSL_set_connect_state(client_);
        SSL_set_tlsext_host_name(client_, "localhost");
    }
    ~Pair() {
        plain_.clear(pool_);
        // Freed without close_notify, a session is marked not resumable.
        SSL_set_shutdown(client_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(client_);
        SSL_CTX_free(ctx_);
        loop_.reset();
    }

    TlsLoop& loop() { return *loop_; }
    std::shared_ptr<TlsServerContext> server() { return server_; }
    TlsSession& session() { return *loop_->find(0); }
    SSL* client() { return client_; }

    // Everything the client wrote so far.
    Bytes client_output() {
        Bytes out;
        uint8_t buf[4096];
        int n;
        while ((n = BIO_read(from_client_, buf, sizeof(buf))) > 0)
            out.insert(out.end(), buf, buf + n);
        return out;
    }
    // Client -> server through the loop; returns the plaintext it gave out.
    std::string to_server(const Bytes& in) {
        std::string plain;
        ReceiveResult r =
            loop_->receive(session(), in.data(), in.size(), [&](uint8_t* p, size_t n) {
                plain.append(reinterpret_cast<char*>(p), n);
                return true;
            });
        EXPECT_NE(r.what, Received::failed) << r.reason;
        return plain;
    }
    // The server's queued records (plain_ encrypted first) to the client;
    // returns them.
    Bytes to_client() {
        Bytes out;
        for (;;) {
            iovec iov[16];
            size_t n = loop_->gather(session(), plain_, false, iov, 16);
            if (n == 0) break;
            size_t total = 0;
            for (size_t i = 0; i < n; ++i) {
                auto* p = static_cast<uint8_t*>(iov[i].iov_base);
                out.insert(out.end(), p, p + iov[i].iov_len);
                total += iov[i].iov_len;
            }
            loop_->sent(session(), total);
        }
        feed_client(out);
        return out;
    }
    void feed_client(const Bytes& b) {
        if (!b.empty()) BIO_write(to_client_, b.data(), static_cast<int>(b.size()));
    }

    void handshake(SSL_SESSION* resume) {
        if (resume != nullptr) SSL_set_session(client_, resume);
        for (int round = 0; round < 8; ++round) {
            SSL_do_handshake(client_);
            Bytes hello = client_output();
            to_server(hello);
            to_client();
            if (SSL_is_init_finished(client_) && session().established) break;
        }
        ASSERT_TRUE(SSL_is_init_finished(client_));
        ASSERT_TRUE(session().established);
        EXPECT_EQ(SSL_session_reused(client_), resume != nullptr ? 1 : 0);
        read_client();  // TLS 1.3: takes the NewSessionTicket
    }

    // What the client can read now (SSL_read until it wants more).
    std::string read_client(int* last_error = nullptr) {
        std::string out;
        char buf[16384];
        for (;;) {
            size_t n = 0;
            int rc = SSL_read_ex(client_, buf, sizeof(buf), &n);
            if (rc != 1) {
                if (last_error != nullptr) *last_error = SSL_get_error(client_, rc);
                ERR_clear_error();
                break;
            }
            out.append(buf, n);
        }
        return out;
    }
    void client_write(const std::string& s) {
        size_t n = 0;
        ASSERT_EQ(SSL_write_ex(client_, s.data(), s.size(), &n), 1);
    }
    void server_write(const std::string& s) { plain_.append(pool_, s.data(), s.size()); }

  private:
    io::ChunkPool pool_;
    io::OutQueue plain_;
    std::shared_ptr<TlsServerContext> server_;
    std::unique_ptr<TlsLoop> loop_;
    SSL_CTX* ctx_ = nullptr;
    SSL* client_ = nullptr;
    BIO* to_client_ = nullptr;
    BIO* from_client_ = nullptr;
};

// ---- the handover, per version x suite x full/resumed --------------------

using Case = std::tuple<int, Suite, bool>;

class KernelKeysHandover : public ::testing::TestWithParam<Case> {
  protected:
    static TempCertificate* cert_;
    static void SetUpTestSuite() { cert_ = new TempCertificate; }
    static void TearDownTestSuite() {
        delete cert_;
        cert_ = nullptr;
    }
};
TempCertificate* KernelKeysHandover::cert_ = nullptr;

TEST_P(KernelKeysHandover, KernelRecordsInteroperateWithTheSession) {
    auto [version, suite, resumed] = GetParam();
    SSL_SESSION* ticket = nullptr;
    std::shared_ptr<TlsServerContext> server;
    if (resumed) {
        Pair first(*cert_, version, suite);
        first.handshake(nullptr);
        ticket = SSL_get1_session(first.client());
        ASSERT_NE(ticket, nullptr);
        server = first.server();
    }
    Pair p(*cert_, version, suite, true, server);
    p.handshake(ticket);
    SSL_SESSION_free(ticket);
    if (HasFatalFailure()) return;

    // User-space traffic first, so the record numbers have moved on: a
    // request, small answers, one answer of several records.
    p.client_write("GET / HTTP/1.1\r\n\r\n");
    Bytes last_from_client = p.client_output();
    EXPECT_EQ(p.to_server(last_from_client), "GET / HTTP/1.1\r\n\r\n");
    std::string big(40000, 'x');
    for (std::string s : {std::string("HTTP/1.1 101\r\n\r\n"), std::string("frame"), big}) {
        p.server_write(s);
        Bytes records = p.to_client();
        EXPECT_EQ(p.read_client(), s);
        if (!records.empty()) last_from_client = records;  // reused below: last server record
    }
    std::vector<Bytes> server_records = split_records(last_from_client);
    ASSERT_FALSE(server_records.empty());

    ASSERT_TRUE(p.loop().kernel_ready(p.session()));
    KernelKeys keys;
    ASSERT_EQ(p.loop().kernel_keys(p.session(), &keys), nullptr);
    EXPECT_EQ(keys.tx.info.cipher_type, suite.kernel_cipher);
    EXPECT_EQ(keys.tx.info.version, version == TLS1_3_VERSION ? TLS_1_3_VERSION : TLS_1_2_VERSION);
    EXPECT_EQ(keys.rx.info.cipher_type, suite.kernel_cipher);

    // The last server record sent in user space opens at tx_seq - 1 only.
    KernelDirection tx = direction_of(keys.tx);
    {
        KernelDirection past = tx;
        past.seq -= 1;
        uint8_t type = 0;
        Bytes plain;
        ASSERT_TRUE(kernel_open(past, server_records.back(), &type, &plain))
            << "the last user-space record does not open at the counted sequence number";
        EXPECT_EQ(type, 23);
        EXPECT_EQ(std::string(plain.begin(), plain.end()), big.substr(big.size() - plain.size()));
        KernelDirection off_by_one = tx;  // its own number was tx.seq - 1
        EXPECT_FALSE(kernel_open(off_by_one, server_records.back(), &type, &plain));
    }

    // Kernel TX: the client reads what the kernel would send.
    for (std::string s :
         {std::string("from the kernel"), std::string(16000, 'k'), std::string("z")}) {
        p.feed_client(kernel_seal(tx, 23, bytes_of(s)));
        EXPECT_EQ(p.read_client(), s);
    }

    // Kernel RX: the client's records open with the RX info.
    KernelDirection rx = direction_of(keys.rx);
    for (std::string s : {std::string("to the kernel"), std::string(20000, 'r')}) {
        p.client_write(s);
        std::string got;
        for (const Bytes& rec : split_records(p.client_output())) {
            uint8_t type = 0;
            Bytes plain;
            ASSERT_TRUE(kernel_open(rx, rec, &type, &plain)) << "client record did not open";
            EXPECT_EQ(type, 23);
            got.append(plain.begin(), plain.end());
        }
        EXPECT_EQ(got, s);
    }
    if (version == TLS1_3_VERSION) {
        // RFC 8446 §4.6.3: a KeyUpdate arrives as a handshake record.
        ASSERT_EQ(SSL_key_update(p.client(), SSL_KEY_UPDATE_NOT_REQUESTED), 1);
        p.client_write("after");  // sends the KeyUpdate first
        std::vector<Bytes> recs = split_records(p.client_output());
        ASSERT_GE(recs.size(), 1u);
        uint8_t type = 0;
        Bytes plain;
        ASSERT_TRUE(kernel_open(rx, recs[0], &type, &plain));
        EXPECT_EQ(type, 22);
        ASSERT_FALSE(plain.empty());
        EXPECT_EQ(plain[0], 24);  // key_update
    } else {
        // The client's close_notify: an alert record (RFC 5246 §7.2.1).
        SSL_shutdown(p.client());
        std::vector<Bytes> recs = split_records(p.client_output());
        ASSERT_EQ(recs.size(), 1u);
        uint8_t type = 0;
        Bytes plain;
        ASSERT_TRUE(kernel_open(rx, recs[0], &type, &plain));
        EXPECT_EQ(type, 21);
        EXPECT_EQ(plain, (Bytes{1, 0}));
    }

    // The kernel's close_notify (an alert record, TLS_SET_RECORD_TYPE 21)
    // ends the client's reading cleanly.
    p.feed_client(kernel_seal(tx, 21, Bytes{1, 0}));
    int error = 0;
    p.read_client(&error);
    EXPECT_EQ(error, SSL_ERROR_ZERO_RETURN);
    OPENSSL_cleanse(&keys, sizeof(keys));
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
    auto [version, suite, resumed] = info.param;
    std::string name = version == TLS1_3_VERSION ? "Tls13_" : "Tls12_";
    name += suite.kernel_cipher == TLS_CIPHER_AES_GCM_128   ? "Aes128Gcm"
            : suite.kernel_cipher == TLS_CIPHER_AES_GCM_256 ? "Aes256Gcm"
                                                            : "ChaCha20Poly1305";
    return name + (resumed ? "_Resumed" : "_Full");
}

INSTANTIATE_TEST_SUITE_P(VersionsSuites, KernelKeysHandover,
                         ::testing::Combine(::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION),
                                            ::testing::Values(kAes128, kAes256, kChaCha),
                                            ::testing::Bool()),
                         case_name);

// ---- when a session is not ready: it stays in user space -----------------

TEST(KernelKeysReady, NotWhileRecordsAreQueuedOrHalfRead) {
    TempCertificate cert;
    Pair p(cert, TLS1_3_VERSION, kAes128);
    p.handshake(nullptr);
    ASSERT_TRUE(p.loop().kernel_ready(p.session()));
    // Records gathered but not yet sent: the kernel would send after them.
    p.server_write("queued");
    iovec iov[16];
    io::OutQueue none;
    io::OutQueue plain;
    io::ChunkPool pool;
    plain.append(pool, "abc", 3);
    ASSERT_GT(p.loop().gather(p.session(), plain, false, iov, 16), 0u);
    EXPECT_FALSE(p.loop().kernel_ready(p.session()));
    KernelKeys keys;
    EXPECT_NE(p.loop().kernel_keys(p.session(), &keys), nullptr);
    p.to_client();
    EXPECT_EQ(p.read_client(), "abcqueued");
    EXPECT_TRUE(p.loop().kernel_ready(p.session()));
    // Half a record read: the rest is on its way to the kernel's socket.
    p.client_write("split");
    Bytes rec = p.client_output();
    p.to_server(Bytes(rec.begin(), rec.begin() + 7));
    EXPECT_FALSE(p.loop().kernel_ready(p.session()));
    EXPECT_EQ(p.to_server(Bytes(rec.begin() + 7, rec.end())), "split");
    EXPECT_TRUE(p.loop().kernel_ready(p.session()));
    plain.clear(pool);
}

TEST(KernelKeysReady, NotWithoutPreparation) {
    TempCertificate cert;
    Pair p(cert, TLS1_3_VERSION, kAes128, false);
    p.handshake(nullptr);
    EXPECT_EQ(p.session().kernel, nullptr);
    EXPECT_FALSE(p.loop().kernel_ready(p.session()));
}

TEST(KernelKeysReady, HandedOverSlotIsPlainAndForgottenOnRelease) {
    TempCertificate cert;
    Pair p(cert, TLS1_2_VERSION, kChaCha);
    p.handshake(nullptr);
    EXPECT_FALSE(p.loop().in_kernel(0));
    p.loop().handed_to_kernel(0);
    EXPECT_EQ(p.loop().find(0), nullptr);  // the loop treats it as plain
    EXPECT_TRUE(p.loop().in_kernel(0));
    EXPECT_EQ(p.loop().kernel_connections(), 1u);
    EXPECT_EQ(p.loop().sessions(), 0u);
    EXPECT_TRUE(p.loop().take_kernel_close_notify(0));
    EXPECT_FALSE(p.loop().take_kernel_close_notify(0));  // once
    p.loop().release(0);
    EXPECT_FALSE(p.loop().in_kernel(0));
    EXPECT_EQ(p.loop().kernel_connections(), 0u);
}

// What the handover saves per idle connection: the heap an established,
// swept (record buffers freed) session holds, all given back, against the
// one byte per slot TlsLoop keeps. The crypto_info itself is on the stack
// only for the setsockopt (KernelCryptoInfo: 56 bytes per direction at most).
// mallinfo2 reads glibc's heap, which a sanitizer's allocator replaces.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kOwnAllocator = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kOwnAllocator = true;
#else
constexpr bool kOwnAllocator = false;
#endif
#else
constexpr bool kOwnAllocator = false;
#endif

TEST(KernelKeysReady, HandoverFreesTheIdleSession) {
    if (kOwnAllocator) GTEST_SKIP() << "heap measured with glibc's mallinfo2: not under ASan";
    // Many sessions, so glibc's per-thread cache (which still counts a few
    // freed blocks of each size as in use) does not hide what is freed.
    constexpr size_t kSessions = 48;
    TempCertificate cert;
    std::vector<std::unique_ptr<Pair>> pairs;
    for (size_t i = 0; i < kSessions; ++i) {
        pairs.push_back(std::make_unique<Pair>(cert, TLS1_3_VERSION, kAes128));
        Pair& p = *pairs.back();
        p.handshake(nullptr);
        p.server_write("idle from now on");
        p.to_client();
        EXPECT_EQ(p.read_client(), "idle from now on");
        ASSERT_EQ(SSL_free_buffers(p.session().ssl), 1);  // what the idle sweep does
    }
    auto in_use = [] {
        struct mallinfo2 m = mallinfo2();
        return m.uordblks + m.hblkhd;
    };
    size_t before = in_use();
    for (auto& p : pairs)
        p->loop().handed_to_kernel(0);
    size_t freed = (before - in_use()) / kSessions;
    std::printf(
        "kernel TLS handover frees %zu B per idle session (TLS 1.3, AES-128-GCM); keeps "
        "1 B per slot; crypto_info %zu B per direction (stack)\n",
        freed, sizeof(KernelCryptoInfo));
    EXPECT_GT(freed, size_t{8000});  // the SSL object alone is ~7.6 KB (OpenSSL 3.0)
    EXPECT_EQ(sizeof(KernelCryptoInfo), sizeof(tls12_crypto_info_aes_gcm_256));
}

// ---- the pieces ------------------------------------------------------------

TEST(RecordCounter, CountsRecordsInAnySplitAndRestartsAfterChangeCipherSpec) {
    // handshake (3 body bytes), CCS (1), two protected records (2 and 0).
    Bytes stream = {22, 3,  3, 0, 3, 1, 2, 3, 20, 3, 3, 0, 1,
                    1,  23, 3, 3, 0, 2, 9, 9, 23, 3, 3, 0, 0};
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        RecordCounter c;
        c.feed(stream.data(), cut);
        c.feed(stream.data() + cut, stream.size() - cut);
        EXPECT_EQ(c.next_seq(), 2u) << cut;
        EXPECT_TRUE(c.at_boundary());
    }
    RecordCounter c;
    for (size_t i = 0; i < stream.size(); ++i) {
        c.feed(&stream[i], 1);
        bool boundary = i + 1 == 8 || i + 1 == 14 || i + 1 == 21 || i + 1 == 26;
        EXPECT_EQ(c.at_boundary(), boundary) << i;
    }
    c.mark();
    EXPECT_EQ(c.next_seq(), 0u);
}

TEST(KeyLogLine, KeepsTheApplicationSecretsOnly) {
    std::string random(64, 'a');
    TrafficSecrets s;
    EXPECT_EQ(take_key_log_line(("CLIENT_TRAFFIC_SECRET_0 " + random + " 00ff10").c_str(), &s),
              SecretKind::client_application);
    EXPECT_EQ(s.client_len, 3);
    EXPECT_EQ(s.client[1], 0xff);
    EXPECT_EQ(take_key_log_line(
                  ("SERVER_TRAFFIC_SECRET_0 " + random + " " + std::string(96, 'A')).c_str(), &s),
              SecretKind::server_application);
    EXPECT_EQ(s.server_len, 48);
    EXPECT_EQ(s.server[47], 0xaa);
    // Other labels, bad hex, odd length, too long, missing random: ignored.
    TrafficSecrets none;
    for (std::string line :
         {"CLIENT_HANDSHAKE_TRAFFIC_SECRET " + random + " 00", "CLIENT_RANDOM " + random + " 00",
          "CLIENT_TRAFFIC_SECRET_0 " + random + " 0g", "CLIENT_TRAFFIC_SECRET_0 " + random + " 001",
          "CLIENT_TRAFFIC_SECRET_0 " + random + " " + std::string(98, '0'),
          std::string("CLIENT_TRAFFIC_SECRET_0 00")}) {
        EXPECT_EQ(take_key_log_line(line.c_str(), &none), SecretKind::none) << line;
    }
    EXPECT_EQ(none.client_len, 0);
}

TEST(ControlRecord, WhatEachNonDataRecordMeans) {
    const uint8_t close_notify[] = {1, 0};
    const uint8_t fatal_alert[] = {2, 40};
    const uint8_t warning_other[] = {1, 90};  // user_canceled
    const uint8_t key_update[] = {24, 0, 0, 1, 0};
    const uint8_t ticket[] = {4, 0, 0, 0};
    const uint8_t hello[] = {1, 0, 0, 0};
    const uint8_t finished[] = {20, 0, 0, 0};
    EXPECT_EQ(classify_control_record(kAlertRecord, close_notify, 2), ControlRecord::end);
    EXPECT_EQ(classify_control_record(kAlertRecord, fatal_alert, 2), ControlRecord::fatal);
    EXPECT_EQ(classify_control_record(kAlertRecord, warning_other, 2), ControlRecord::fatal);
    EXPECT_EQ(classify_control_record(kAlertRecord, close_notify, 1), ControlRecord::fatal);
    EXPECT_EQ(classify_control_record(kHandshakeRecord, key_update, 5), ControlRecord::key_update);
    EXPECT_EQ(classify_control_record(kHandshakeRecord, ticket, 4), ControlRecord::ignore);
    EXPECT_EQ(classify_control_record(kHandshakeRecord, hello, 4), ControlRecord::renegotiation);
    EXPECT_EQ(classify_control_record(kHandshakeRecord, finished, 4), ControlRecord::fatal);
    EXPECT_EQ(classify_control_record(kHandshakeRecord, nullptr, 0), ControlRecord::fatal);
    EXPECT_EQ(classify_control_record(kApplicationDataRecord, nullptr, 0), ControlRecord::data);
    EXPECT_EQ(classify_control_record(20, close_notify, 1), ControlRecord::fatal);
}

// The real setsockopt on a loopback TCP connection with a session's keys:
// where the host has no tls ULP it is refused at TCP_ULP and the socket
// still carries bytes as before (the loop then keeps the session in user
// space); where it has one, the kernel takes the keys.
TEST(KernelInstall, RefusedWithoutTheUlpAndTheSocketStillWorks) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(listen(listener, 1), 0);
    socklen_t len = sizeof(addr);
    getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    int server = accept(listener, nullptr, nullptr);
    ASSERT_GE(server, 0);

    TempCertificate cert;
    Pair p(cert, TLS1_3_VERSION, kAes256);
    p.handshake(nullptr);
    KernelKeys keys;
    ASSERT_EQ(p.loop().kernel_keys(p.session(), &keys), nullptr);
    InstallResult r = install_kernel_tls(server, keys);
    if (probe_kernel_tls().available) {
        EXPECT_EQ(r.what, KernelInstall::done) << r.step << ": " << std::strerror(r.error);
    } else {
        EXPECT_EQ(r.what, KernelInstall::refused);
        EXPECT_STREQ(r.step, "TCP_ULP");
        EXPECT_EQ(r.error, ENOENT);
        ASSERT_EQ(write(client, "plain", 5), 5);
        char buf[8] = {};
        EXPECT_EQ(read(server, buf, sizeof(buf)), 5);
        EXPECT_STREQ(buf, "plain");
        // A plain socket has no record types: what it reads is data.
        ASSERT_EQ(write(client, "more", 4), 4);
        uint8_t type = 0;
        uint8_t rec[8];
        EXPECT_EQ(read_control_record(server, rec, sizeof(rec), &type), 4);
        EXPECT_EQ(type, kApplicationDataRecord);
    }
    close(client);
    close(server);
    close(listener);
}

TEST(KernelTlsPlan, WhatEachListenerUses) {
    KernelTlsProbe with{true, "tcp_available_ulp: mptcp tls"};
    KernelTlsProbe without{false, "tcp_available_ulp: mptcp"};
    KernelTlsPlan p = plan_kernel_tls(KernelTlsMode::automatic, with, false);
    EXPECT_TRUE(p.prepare);
    EXPECT_EQ(p.text.rfind("kTLS: tx+rx after the handshake", 0), 0u) << p.text;
    p = plan_kernel_tls(KernelTlsMode::automatic, without, false);
    EXPECT_FALSE(p.prepare);
    EXPECT_EQ(p.text, "user-space TLS (no tls ULP; tcp_available_ulp: mptcp)");
    p = plan_kernel_tls(KernelTlsMode::always, without, false);
    EXPECT_TRUE(p.prepare);  // tried, refused per connection
    p = plan_kernel_tls(KernelTlsMode::off, with, false);
    EXPECT_FALSE(p.prepare);
    EXPECT_EQ(p.text, "user-space TLS (--tls-kernel off)");
    p = plan_kernel_tls(KernelTlsMode::always, with, true);
    EXPECT_FALSE(p.prepare);  // direct descriptors: no fd for setsockopt
}

}  // namespace
}  // namespace wsgate::tls
