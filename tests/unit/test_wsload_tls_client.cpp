// wsload's TLS client over memory BIOs, against an OpenSSL server in the same
// process (also over memory BIOs): handshake, verification, records both ways,
// session resumption; and the wss:// / --tls options.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "options.hpp"
#include "tls_client.hpp"

using namespace wsgate::bench;

namespace {

// A self-signed ECDSA P-256 certificate for localhost / 127.0.0.1, its key and
// its PEM in a temporary file (the client's CA).
struct TestCert {
    EVP_PKEY* key = nullptr;
    X509* cert = nullptr;
    std::string pem_path;

    explicit TestCert(const char* common_name) {
        key = EVP_EC_gen("P-256");
        cert = X509_new();
        X509_set_version(cert, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), -60);
        X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
        X509_set_pubkey(cert, key);
        X509_NAME* name = X509_get_subject_name(cert);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
        X509_set_issuer_name(cert, name);
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
        X509_EXTENSION* san =
            X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
        X509_add_ext(cert, san, -1);
        X509_EXTENSION_free(san);
        X509_EXTENSION* basic =
            X509V3_EXT_conf_nid(nullptr, &v3, NID_basic_constraints, "critical,CA:TRUE");
        X509_add_ext(cert, basic, -1);
        X509_EXTENSION_free(basic);
        X509_sign(cert, key, EVP_sha256());
        char path[] = "/tmp/wsload_tls_ca_XXXXXX";
        const int fd = mkstemp(path);
        pem_path = path;
        FILE* f = fdopen(fd, "w");
        PEM_write_X509(f, cert);
        std::fclose(f);
    }
    ~TestCert() {
        X509_free(cert);
        EVP_PKEY_free(key);
        unlink(pem_path.c_str());
    }
};

// Stateless tickets sealed with one fixed key; opening answers 1 ("valid, no
// renewal"), so, as with wsgate's rotating keys, a resumed TLS 1.3 handshake
// brings no new ticket.
int ticket_key(SSL*, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
               EVP_MAC_CTX* mac, int seal) {
    static const unsigned char kName[16] = {'w', 's', 'l', 'o', 'a', 'd'};
    static const unsigned char kAes[16] = {1, 2, 3};
    static unsigned char kHmac[32] = {4, 5, 6};
    static char kSha256[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, kHmac, sizeof kHmac),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, kSha256, 0), OSSL_PARAM_END};
    if (seal) {
        std::memcpy(name, kName, sizeof kName);
        std::memset(iv, 7, 16);
        EVP_EncryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, kAes, iv);
    } else {
        if (std::memcmp(name, kName, sizeof kName) != 0) return 0;
        EVP_DecryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, kAes, iv);
    }
    EVP_MAC_CTX_set_params(mac, params);
    return 1;
}

// The peer: an OpenSSL server over memory BIOs with stateless tickets.
struct Server {
    SSL_CTX* ctx = nullptr;

    explicit Server(const TestCert& c) {
        ctx = SSL_CTX_new(TLS_server_method());
        SSL_CTX_use_certificate(ctx, c.cert);
        SSL_CTX_use_PrivateKey(ctx, c.key);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx, 1);
        static const unsigned char kContext[] = "test";
        SSL_CTX_set_session_id_context(ctx, kContext, sizeof kContext - 1);
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key);
    }
    ~Server() { SSL_CTX_free(ctx); }
};

struct ServerConn {
    SSL* ssl;
    BIO* in;
    BIO* out;
    explicit ServerConn(SSL_CTX* ctx) : ssl(SSL_new(ctx)) {
        in = BIO_new(BIO_s_mem());
        out = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(in, -1);
        SSL_set_bio(ssl, in, out);
        SSL_set_accept_state(ssl);
    }
    ~ServerConn() { SSL_free(ssl); }
    std::string take() {
        char* data = nullptr;
        const long n = BIO_get_mem_data(out, &data);
        std::string s(data, n > 0 ? static_cast<std::size_t>(n) : 0);
        (void)BIO_reset(out);
        return s;
    }
    // Reads what plaintext there is (the handshake advances on the way).
    std::string read_all() {
        std::string got;
        char buf[4096];
        std::size_t n = 0;
        while (SSL_read_ex(ssl, buf, sizeof buf, &n) == 1)
            got.append(buf, n);
        return got;
    }
};

std::span<const std::uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Shuttles records both ways until neither side has anything to say; the
// plaintext the client decrypted on the way is appended to `client_got`.
void pump(TlsClientConn& client, ServerConn& server, std::string* client_got = nullptr,
          std::string* server_got = nullptr) {
    for (int round = 0; round < 32; ++round) {
        std::string to_server;
        client.take_output(to_server);
        if (!to_server.empty()) BIO_write(server.in, to_server.data(), int(to_server.size()));
        std::string plain = server.read_all();
        if (server_got) *server_got += plain;
        if (!SSL_is_init_finished(server.ssl)) SSL_do_handshake(server.ssl);
        const std::string to_client = server.take();
        if (to_server.empty() && to_client.empty()) return;
        client.feed(bytes(to_client));
        if (!client.handshake_done() && client.handshake() == TlsClientConn::Step::kFailed) return;
        std::vector<std::uint8_t> buf(16384);
        long n = 0;
        while (client.handshake_done() && (n = client.read(buf)) > 0)
            if (client_got) client_got->append(reinterpret_cast<const char*>(buf.data()), n);
    }
}

TlsClientSettings verified(const TestCert& ca, const char* name = "localhost") {
    TlsClientSettings s;
    s.ca_file = ca.pem_path;
    s.server_name = name;
    return s;
}

}  // namespace

TEST(WsloadTlsClient, HandshakeThenRecordsBothWays) {
    TestCert cert("localhost");
    Server server(cert);
    TlsClientContext context;
    std::string error;
    ASSERT_TRUE(context.init(verified(cert), error)) << error;
    TlsClientConn client;
    ASSERT_TRUE(client.start(context));
    EXPECT_TRUE(client.has_output());  // the ClientHello, waiting for the loop to send it
    ServerConn peer(server.ctx);
    pump(client, peer);
    ASSERT_TRUE(client.handshake_done());
    EXPECT_FALSE(client.resumed());
    // SNI went out with the host name.
    EXPECT_STREQ(SSL_get_servername(peer.ssl, TLSEXT_NAMETYPE_host_name), "localhost");

    // 64 KiB: several records, reassembled on the other side.
    std::string big(65536, '\0');
    for (std::size_t k = 0; k < big.size(); ++k)
        big[k] = static_cast<char>(k * 7 + 3);
    ASSERT_TRUE(client.write(bytes(big)));
    std::string server_got;
    pump(client, peer, nullptr, &server_got);
    EXPECT_EQ(server_got, big);

    const std::string reply = "echo back";
    std::size_t written = 0;
    ASSERT_EQ(SSL_write_ex(peer.ssl, reply.data(), reply.size(), &written), 1);
    std::string client_got;
    pump(client, peer, &client_got);
    EXPECT_EQ(client_got, reply);
}

TEST(WsloadTlsClient, IpLiteralIsVerifiedButNotSentAsSni) {
    TestCert cert("localhost");
    Server server(cert);
    TlsClientContext context;
    std::string error;
    ASSERT_TRUE(context.init(verified(cert, "127.0.0.1"), error)) << error;
    TlsClientConn client;
    ASSERT_TRUE(client.start(context));
    ServerConn peer(server.ctx);
    pump(client, peer);
    EXPECT_TRUE(client.handshake_done());
    EXPECT_EQ(SSL_get_servername(peer.ssl, TLSEXT_NAMETYPE_host_name), nullptr);
}

TEST(WsloadTlsClient, UntrustedOrMisnamedCertificateFailsUnlessInsecure) {
    TestCert cert("localhost"), other("other CA");
    Server server(cert);
    {
        TlsClientContext context;
        std::string error;
        ASSERT_TRUE(context.init(verified(other), error)) << error;
        TlsClientConn client;
        ASSERT_TRUE(client.start(context));
        ServerConn peer(server.ctx);
        pump(client, peer);
        EXPECT_FALSE(client.handshake_done());
        EXPECT_EQ(client.handshake(), TlsClientConn::Step::kFailed);
    }
    {
        TlsClientContext context;
        std::string error;
        ASSERT_TRUE(context.init(verified(cert, "wrong.example"), error)) << error;
        TlsClientConn client;
        ASSERT_TRUE(client.start(context));
        ServerConn peer(server.ctx);
        pump(client, peer);
        EXPECT_FALSE(client.handshake_done());
    }
    {
        TlsClientSettings insecure;
        insecure.insecure = true;
        insecure.server_name = "wrong.example";
        TlsClientContext context;
        std::string error;
        ASSERT_TRUE(context.init(insecure, error)) << error;
        TlsClientConn client;
        ASSERT_TRUE(client.start(context));
        ServerConn peer(server.ctx);
        pump(client, peer);
        EXPECT_TRUE(client.handshake_done());
    }
}

TEST(WsloadTlsClient, MissingCaFileIsRefusedWithItsName) {
    TlsClientSettings s;
    s.ca_file = "/nonexistent/ca.pem";
    TlsClientContext context;
    std::string error;
    EXPECT_FALSE(context.init(s, error));
    EXPECT_NE(error.find("/nonexistent/ca.pem"), std::string::npos) << error;
}

// With --tls-resume every connection after the first resumes the newest ticket,
// also after that ticket was already resumed once (a server that sends no new
// ticket on resumption, as wsgate, still sees resumed handshakes only).
TEST(WsloadTlsClient, ResumeOffersTheNewestTicketAgainAndAgain) {
    TestCert cert("localhost");
    Server server(cert);
    TlsClientSettings s = verified(cert);
    s.resume = true;
    TlsClientContext context;
    std::string error;
    ASSERT_TRUE(context.init(s, error)) << error;
    for (int k = 0; k < 4; ++k) {
        TlsClientConn client;
        ASSERT_TRUE(client.start(context));
        ServerConn peer(server.ctx);
        pump(client, peer);  // the TLS 1.3 ticket comes after the handshake
        ASSERT_TRUE(client.handshake_done());
        EXPECT_EQ(client.resumed(), k > 0) << "connection " << k;
        EXPECT_NE(context.latest_session(), nullptr);
        client.closed_cleanly();
    }
}

TEST(WsloadTlsClient, NoResumptionWithoutTheFlag) {
    TestCert cert("localhost");
    Server server(cert);
    TlsClientContext context;
    std::string error;
    ASSERT_TRUE(context.init(verified(cert), error)) << error;
    for (int k = 0; k < 2; ++k) {
        TlsClientConn client;
        ASSERT_TRUE(client.start(context));
        ServerConn peer(server.ctx);
        pump(client, peer);
        ASSERT_TRUE(client.handshake_done());
        EXPECT_FALSE(client.resumed());
        client.closed_cleanly();
    }
    EXPECT_EQ(context.latest_session(), nullptr);
}

namespace {

std::optional<Options> parse(std::vector<std::string> args) {
    std::vector<char*> argv{const_cast<char*>("wsload")};
    for (auto& a : args)
        argv.push_back(a.data());
    return parse_options(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST(WsloadTlsOptions, WssUrlTurnsTlsOnAndKeepsTheHostName) {
    const auto o = parse({"--url", "wss://localhost:8443/x", "--tls-ca", "/tmp/ca.pem"});
    ASSERT_TRUE(o);
    EXPECT_TRUE(o->tls);
    EXPECT_EQ(o->server_name, "localhost");
    EXPECT_EQ(o->target_ip, 0x7F000001u);
    EXPECT_EQ(o->target_port, 8443);
    EXPECT_EQ(o->path, "/x");
    const auto plain = parse({"--url", "ws://127.0.0.1:8080/"});
    ASSERT_TRUE(plain);
    EXPECT_FALSE(plain->tls);
}

TEST(WsloadTlsOptions, TlsNeedsACaOrInsecureAndIsNotForPubsub) {
    EXPECT_FALSE(parse({"--url", "wss://127.0.0.1:8443/"}));
    EXPECT_TRUE(parse({"--url", "wss://127.0.0.1:8443/", "--tls-insecure"}));
    const auto resume = parse({"--url", "ws://127.0.0.1:8443/", "--tls-resume", "--tls-insecure"});
    ASSERT_TRUE(resume);
    EXPECT_TRUE(resume->tls);
    EXPECT_TRUE(resume->tls_resume);
    EXPECT_FALSE(parse({"--mode", "pubsub", "--url", "wss://127.0.0.1:8443/", "--tls-insecure"}));
}
