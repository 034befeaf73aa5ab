// Opening handshake: parse + validate the recorded Chromium request, the
// accept key (SHA-1 + base64, both base64 variants side by side) and the 101
// writer, next to memcpy of the same bytes and the scalar head scan.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "proto/accept_key.hpp"
#include "proto/http_request.hpp"
#include "proto/http_response.hpp"
#include "proto/http_scan.hpp"
#include "proto/upgrade_request.hpp"

namespace {

using namespace wsgate::proto;

const std::string& chromium_request() {
    static const std::string bytes = [] {
        std::ifstream in(std::string(WSGATE_TEST_DATA) + "/chromium-156-upgrade-request.bin",
                         std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }();
    return bytes;
}

constexpr std::string_view kKey = "EibSFDGYNGf4NOFS0ZrIaw==";

void BM_MemcpyRequest(benchmark::State& state) {
    const std::string& req = chromium_request();
    char dst[1024];
    for (auto _ : state) {
        benchmark::DoNotOptimize(req.data());
        std::memcpy(dst, req.data(), req.size());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * req.size()));
}
BENCHMARK(BM_MemcpyRequest);

void BM_ScanHeadScalar(benchmark::State& state) {
    const std::string& req = chromium_request();
    for (auto _ : state) {
        benchmark::DoNotOptimize(req.data());
        benchmark::DoNotOptimize(scan_request_head_scalar(req.data(), 0, req.size()));
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * req.size()));
}
BENCHMARK(BM_ScanHeadScalar);

void BM_ScanHeadSse2(benchmark::State& state) {
    const std::string& req = chromium_request();
    for (auto _ : state) {
        benchmark::DoNotOptimize(req.data());
        benchmark::DoNotOptimize(scan_request_head(req.data(), 0, req.size()));
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * req.size()));
}
BENCHMARK(BM_ScanHeadSse2);

void BM_ParseChromiumRequest(benchmark::State& state) {
    const std::string& req = chromium_request();
    HttpRequest out;
    for (auto _ : state) {
        benchmark::DoNotOptimize(req.data());
        HttpParseResult r = parse_http_request(req.data(), req.size(), 0, out);
        benchmark::DoNotOptimize(r);
        benchmark::DoNotOptimize(out);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * req.size()));
}
BENCHMARK(BM_ParseChromiumRequest);

// Target: <= 300 ns.
void BM_ParseAndValidateChromiumRequest(benchmark::State& state) {
    const std::string& req = chromium_request();
    HttpRequest out;
    UpgradeRequest up;
    for (auto _ : state) {
        benchmark::DoNotOptimize(req.data());
        HttpParseResult r = parse_http_request(req.data(), req.size(), 0, out);
        HandshakeError e = validate_upgrade(out, up);
        if (r.status != ParseStatus::complete || e.status != 0) state.SkipWithError("invalid");
        benchmark::DoNotOptimize(up);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * req.size()));
}
BENCHMARK(BM_ParseAndValidateChromiumRequest);

void BM_Sha1Only(benchmark::State& state) {
    std::string input = std::string(kKey) + std::string(kWebSocketGuid);
    unsigned char digest[kSha1DigestLength];
    for (auto _ : state) {
        benchmark::DoNotOptimize(input.data());
        SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
        benchmark::DoNotOptimize(digest);
    }
}
BENCHMARK(BM_Sha1Only);

// Target: <= 500 ns.
void BM_ComputeAcceptKey(benchmark::State& state) {
    char out[kAcceptKeyLength];
    for (auto _ : state) {
        benchmark::DoNotOptimize(kKey.data());
        compute_accept_key(kKey, out);
        benchmark::DoNotOptimize(out);
    }
}
BENCHMARK(BM_ComputeAcceptKey);

template <void (*Encode)(const uint8_t*, char*)>
void BM_Base64Digest(benchmark::State& state) {
    uint8_t digest[kSha1DigestLength];
    for (size_t i = 0; i < kSha1DigestLength; ++i)
        digest[i] = static_cast<uint8_t>(i * 37 + 11);
    char out[kAcceptKeyLength];
    for (auto _ : state) {
        benchmark::DoNotOptimize(digest);
        Encode(digest, out);
        benchmark::DoNotOptimize(out);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kSha1DigestLength));
}
BENCHMARK(BM_Base64Digest<base64_digest>)->Name("BM_Base64Digest/handwritten");
BENCHMARK(BM_Base64Digest<base64_digest_evp>)->Name("BM_Base64Digest/EVP_EncodeBlock");

void BM_WriteUpgradeResponse(benchmark::State& state) {
    char out[512];
    for (auto _ : state) {
        benchmark::DoNotOptimize(kKey.data());
        size_t n = write_upgrade_response(out, sizeof(out), kKey);
        benchmark::DoNotOptimize(n);
        benchmark::DoNotOptimize(out);
    }
}
BENCHMARK(BM_WriteUpgradeResponse);

void BM_WriteHttpError(benchmark::State& state) {
    char out[512];
    for (auto _ : state) {
        size_t n = write_http_error(out, sizeof(out), 426, "unsupported Sec-WebSocket-Version");
        benchmark::DoNotOptimize(n);
        benchmark::DoNotOptimize(out);
    }
}
BENCHMARK(BM_WriteHttpError);

}  // namespace

namespace {

void BM_ValidateOnly(benchmark::State& state) {
    const std::string& req = chromium_request();
    HttpRequest out;
    parse_http_request(req.data(), req.size(), 0, out);
    UpgradeRequest up;
    for (auto _ : state) {
        benchmark::DoNotOptimize(out);
        HandshakeError e = validate_upgrade(out, up);
        benchmark::DoNotOptimize(e);
        benchmark::DoNotOptimize(up);
    }
}
BENCHMARK(BM_ValidateOnly);

}  // namespace

namespace {

// SHA-1 through a reused EVP context and a digest fetched once, to compare
// with the one-shot SHA1() (which looks the algorithm up on every call in
// OpenSSL 3).
void BM_Sha1EvpReusedContext(benchmark::State& state) {
    std::string input = std::string(kKey) + std::string(kWebSocketGuid);
    unsigned char digest[kSha1DigestLength];
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    for (auto _ : state) {
        benchmark::DoNotOptimize(input.data());
        EVP_DigestInit_ex2(ctx, md, nullptr);
        EVP_DigestUpdate(ctx, input.data(), input.size());
        EVP_DigestFinal_ex(ctx, digest, nullptr);
        benchmark::DoNotOptimize(digest);
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
}
BENCHMARK(BM_Sha1EvpReusedContext);

}  // namespace
