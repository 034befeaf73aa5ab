// What an idle TLS connection holds on the server, counted by OpenSSL's own
// allocator hooks (CRYPTO_set_mem_functions): TLS 1.3 handshakes between
// TlsLoop sessions and OpenSSL clients over memory, a message each way, then
// the idle sweep; the bytes OpenSSL allocated for the server sessions and
// still holds are summed per session (the clients' are not counted), and
// every allocation site is printed so the remainder can be read. With
// OpenSSL 3.0.19 (Debian 12) the remainder is ~14.9 KB, of which the SSL
// object itself is 7.6 KB; the record buffers (~34 KiB) must be gone.
#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/out_queue.hpp"
#include "tls/tls_loop.hpp"
#include "tls/tls_server_context.hpp"

namespace {

// ---- the counter: OpenSSL's allocations through these hooks ----

// Each block carries its size and whether the server side made it, in a
// header in front of what OpenSSL sees (16 bytes keep its alignment).
// Server blocks are also linked in a list, to be summed by site.
struct BlockHeader {
    size_t size;
    const char* file;
    int line;
    bool server;
    BlockHeader* prev;
    BlockHeader* next;
};
constexpr size_t kHeader = 48;  // a multiple of 16: what OpenSSL sees stays aligned
static_assert(sizeof(BlockHeader) <= kHeader);
BlockHeader server_blocks{0, nullptr, 0, false, &server_blocks, &server_blocks};

bool counting_server = false;  // true while the server side runs
size_t server_live_bytes = 0;
size_t server_live_blocks = 0;

BlockHeader* header_of(void* p) {
    return reinterpret_cast<BlockHeader*>(static_cast<char*>(p) - kHeader);
}

void forget(BlockHeader* h) {
    if (!h->server) return;
    server_live_bytes -= h->size;
    --server_live_blocks;
    h->prev->next = h->next;
    h->next->prev = h->prev;
}

void* note(void* raw, size_t size, const char* file, int line) {
    if (raw == nullptr) return nullptr;
    auto* h = static_cast<BlockHeader*>(raw);
    *h = {size, file, line, counting_server, nullptr, nullptr};
    if (h->server) {
        server_live_bytes += size;
        ++server_live_blocks;
        h->prev = server_blocks.prev;
        h->next = &server_blocks;
        server_blocks.prev->next = h;
        server_blocks.prev = h;
    }
    return static_cast<char*>(raw) + kHeader;
}

// Live server bytes by allocation site, largest first.
void print_sites(size_t per) {
    std::map<std::pair<std::string, int>, std::pair<size_t, size_t>> sites;
    for (BlockHeader* h = server_blocks.next; h != &server_blocks; h = h->next) {
        auto& [bytes, blocks] = sites[{h->file != nullptr ? h->file : "?", h->line}];
        bytes += h->size;
        ++blocks;
    }
    std::vector<std::pair<size_t, std::string>> rows;
    for (const auto& [site, v] : sites) {
        char line[256];
        std::snprintf(line, sizeof(line), "%8zu B %5.1f blocks  %s:%d", v.first / per,
                      static_cast<double>(v.second) / static_cast<double>(per), site.first.c_str(),
                      site.second);
        rows.emplace_back(v.first, line);
    }
    std::sort(rows.rbegin(), rows.rend());
    for (const auto& [bytes, text] : rows)
        std::printf("  %s\n", text.c_str());
}

void* counting_malloc(size_t size, const char* file, int line) {
    return note(std::malloc(size + kHeader), size, file, line);
}

void* counting_realloc(void* p, size_t size, const char* file, int line) {
    if (p == nullptr) return counting_malloc(size, file, line);
    BlockHeader* h = header_of(p);
    forget(h);
    return note(std::realloc(h, size + kHeader), size, file, line);
}

void counting_free(void* p, const char*, int) {
    if (p == nullptr) return;
    forget(header_of(p));
    std::free(header_of(p));
}

// Before any OpenSSL allocation (it refuses hooks after the first one).
const bool hooks_installed =
    CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free) == 1;

}  // namespace

namespace wsgate::tls {
namespace {

// A P-256 key and a self-signed certificate for localhost, as PEM files.
struct TestCertificate {
    std::string dir, cert, key;
    TestCertificate() {
        char tmpl[] = "/tmp/wsgate-tls-mem.XXXXXX";
        dir = mkdtemp(tmpl);
        cert = dir + "/cert.pem";
        key = dir + "/key.pem";
        EVP_PKEY* pkey = EVP_EC_gen("P-256");
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, pkey);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(x, name);
        X509_sign(x, pkey, EVP_sha256());
        FILE* f = std::fopen(cert.c_str(), "w");
        PEM_write_X509(f, x);
        std::fclose(f);
        f = std::fopen(key.c_str(), "w");
        PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(f);
        X509_free(x);
        EVP_PKEY_free(pkey);
    }
    ~TestCertificate() {
        unlink(cert.c_str());
        unlink(key.c_str());
        rmdir(dir.c_str());
    }
};

// One OpenSSL client over memory BIOs.
struct Client {
    SSL* ssl = nullptr;
    BIO* to_server = nullptr;    // what the client wrote
    BIO* from_server = nullptr;  // what the server sent it
    explicit Client(SSL_CTX* ctx) {
        ssl = SSL_new(ctx);
        from_server = BIO_new(BIO_s_mem());
        to_server = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl, from_server, to_server);
        SSL_set_connect_state(ssl);
        SSL_set_tlsext_host_name(ssl, "localhost");
    }
    ~Client() { SSL_free(ssl); }
};

class TlsIdleMemory : public ::testing::Test {
  protected:
    static constexpr uint32_t kSessions = 64;
    static constexpr size_t kIdleBound = 16 * 1024;

    void SetUp() override {
        ASSERT_TRUE(hooks_installed) << "OpenSSL allocated before the hooks were set";
        TlsSettings settings;
        settings.certificates.push_back({cert_.cert, cert_.key});
        std::string error;
        server_ = TlsServerContext::create(settings, &error);
        ASSERT_NE(server_, nullptr) << error;
        client_ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(client_ctx_, SSL_VERIFY_NONE, nullptr);
        static const unsigned char kAlpn[] = "\x08http/1.1";
        SSL_CTX_set_alpn_protos(client_ctx_, kAlpn, sizeof(kAlpn) - 1);
    }
    void TearDown() override { SSL_CTX_free(client_ctx_); }

    // Moves what the client wrote into the server session (plaintext into
    // *plain_in), then the server's records to the client.
    void pump(TlsLoop& loop, TlsSession& s, Client& c, std::string* plain_in) {
        char buf[32 * 1024];
        for (int round = 0; round < 8; ++round) {
            bool moved = false;
            int n;
            while ((n = BIO_read(c.to_server, buf, sizeof(buf))) > 0) {
                moved = true;
                counting_server = true;
                ReceiveResult r = loop.receive(s, reinterpret_cast<const uint8_t*>(buf),
                                               static_cast<size_t>(n), [&](uint8_t* p, size_t k) {
                                                   plain_in->append(reinterpret_cast<char*>(p), k);
                                                   return true;
                                               });
                counting_server = false;
                ASSERT_NE(r.what, Received::failed) << r.reason;
            }
            iovec iov[64];
            counting_server = true;
            size_t count = loop.gather(s, out_, false, iov, 64);
            counting_server = false;
            size_t bytes = 0;
            for (size_t i = 0; i < count; ++i) {
                BIO_write(c.from_server, iov[i].iov_base, static_cast<int>(iov[i].iov_len));
                bytes += iov[i].iov_len;
            }
            counting_server = true;
            loop.sent(s, bytes);
            counting_server = false;
            if (bytes > 0) moved = true;
            SSL_do_handshake(c.ssl);  // the client's side of the handshake
            char sink[4096];
            while (SSL_read(c.ssl, sink, sizeof(sink)) > 0) {
                client_plain_.append(sink, sizeof(sink));  // not checked: the count is the point
            }
            ERR_clear_error();
            if (!moved) break;
        }
    }

    // A handshake and a message each way, as a WebSocket echo would.
    void open_session(TlsLoop& loop, uint32_t index,
                      std::vector<std::unique_ptr<Client>>* clients) {
        counting_server = true;
        ASSERT_TRUE(loop.attach(index));
        counting_server = false;
        clients->push_back(std::make_unique<Client>(client_ctx_));
        Client& c = *clients->back();
        TlsSession& s = *loop.find(index);
        std::string plain;
        SSL_do_handshake(c.ssl);
        pump(loop, s, c, &plain);
        ASSERT_TRUE(s.established) << "session " << index;
        ASSERT_EQ(SSL_version(s.ssl), TLS1_3_VERSION);
        ASSERT_EQ(SSL_write(c.ssl, "hello", 5), 5);
        pump(loop, s, c, &plain);
        ASSERT_EQ(plain, "hello");
        out_.append(pool_, "world", 5);
        pump(loop, s, c, &plain);
        ASSERT_TRUE(out_.empty());
    }

    void release(TlsLoop& loop, uint32_t index) {
        counting_server = true;
        loop.release(index);
        counting_server = false;
    }

    TestCertificate cert_;
    std::unique_ptr<TlsServerContext> server_;
    SSL_CTX* client_ctx_ = nullptr;
    io::ChunkPool pool_;
    io::OutQueue out_;  // the server's plaintext queue (shared: drained each pump)
    std::string client_plain_;
};

TEST_F(TlsIdleMemory, IdleSessionHoldsLittle) {
    std::vector<std::unique_ptr<Client>> clients;
    TlsLoop loop(server_.get(), {true}, pool_);
    // One session first: OpenSSL's process-wide caches (fetched algorithms,
    // names) are made by the first handshake and stay.
    open_session(loop, kSessions, &clients);
    release(loop, kSessions);
    size_t before = server_live_bytes;
    for (uint32_t i = 0; i < kSessions; ++i) {
        open_session(loop, i, &clients);
        if (HasFatalFailure()) return;
    }
    // Two sweeps: the first marks the sessions quiet, the second frees
    // their record buffers.
    counting_server = true;
    loop.after_turn(stdout, 10'000);
    loop.after_turn(stdout, 20'000);
    counting_server = false;
    size_t held = server_live_bytes - before;
    print_sites(kSessions);
    std::printf("OpenSSL bytes held per idle server session: %zu (%zu blocks)\n", held / kSessions,
                (server_live_blocks) / kSessions);
    // What OpenSSL 3.0 keeps for a live connection, with room for another
    // 3.0.x; a record buffer left behind is 16.7 KiB more.
    EXPECT_LT(held / kSessions, kIdleBound);
    EXPECT_EQ(pool_.outstanding(), 0u) << "an idle session holds no loop chunk";
    for (uint32_t i = 0; i < kSessions; ++i)
        release(loop, i);
    EXPECT_LE(server_live_bytes, before + 1024) << "released sessions left memory behind";
}

}  // namespace
}  // namespace wsgate::tls
