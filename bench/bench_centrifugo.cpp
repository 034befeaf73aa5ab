// Centrifugo client protocol: parsing the SDK's publish command (100 B and
// 4 KiB of data) next to memcpy of the same bytes and simdjson's DOM parse
// (full validation, no raw passthrough), encoding a publication push, and
// verifying an HS256 connection token.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <cstring>
#include <string>
#include <vector>

#include "proto/centrifugo_command_parser.hpp"
#include "proto/centrifugo_reply_writer.hpp"
#include "proto/jwt_hs256.hpp"

namespace {

using namespace wsgate::proto;
using namespace wsgate::proto::centrifugo;

// The SDK's publish command (as captured from centrifuge 5.8.0) with a
// string payload of about `data_bytes`.
std::string publish_command(size_t data_bytes) {
    std::string data = "{\"text\":\"" + std::string(data_bytes, 'x') + "\",\"n\":1500}";
    return "{\"publish\":{\"channel\":\"news:sport\",\"data\":" + data + "},\"id\":3}";
}

void BM_CentrifugoMemcpyCommand(benchmark::State& state) {
    std::string cmd = publish_command(static_cast<size_t>(state.range(0)));
    std::vector<char> dst(cmd.size());
    for (auto _ : state) {
        benchmark::DoNotOptimize(cmd.data());
        std::memcpy(dst.data(), cmd.data(), cmd.size());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * cmd.size()));
}
BENCHMARK(BM_CentrifugoMemcpyCommand)->Arg(100)->Arg(4096);

void BM_CentrifugoSimdjsonDom(benchmark::State& state) {
    std::string cmd = publish_command(static_cast<size_t>(state.range(0)));
    simdjson::padded_string padded(cmd);
    simdjson::dom::parser parser;
    for (auto _ : state) {
        simdjson::dom::element e;
        benchmark::DoNotOptimize(parser.parse(padded).get(e));
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * cmd.size()));
}
BENCHMARK(BM_CentrifugoSimdjsonDom)->Arg(100)->Arg(4096);

void BM_CentrifugoParseCommand(benchmark::State& state) {
    std::string cmd = publish_command(static_cast<size_t>(state.range(0)));
    std::string frame = cmd + std::string(kCommandPadding, ' ');
    CommandParser parser(1 << 20);
    Command c;
    for (auto _ : state) {
        parser.start_padded(std::string_view(frame.data(), cmd.size()), frame.size());
        if (parser.next(c) != ParseStatus::command) state.SkipWithError("parse failed");
        benchmark::DoNotOptimize(c.data.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * cmd.size()));
}
BENCHMARK(BM_CentrifugoParseCommand)->Arg(100)->Arg(4096);

void BM_CentrifugoEncodePublicationPush(benchmark::State& state) {
    std::string data =
        "{\"text\":\"" + std::string(static_cast<size_t>(state.range(0)), 'x') + "\"}";
    std::vector<char> buffer(data.size() + 256);
    uint64_t offset = 1;
    size_t bytes = 0;
    for (auto _ : state) {
        JsonOut out(buffer);
        write_publication_push(out, "news:sport", Publication{data, offset++, nullptr});
        bytes += out.size();
        benchmark::DoNotOptimize(buffer.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_CentrifugoEncodePublicationPush)->Arg(100)->Arg(4096);

void BM_JwtVerifyHs256(benchmark::State& state) {
    // {"sub":"42","exp":2000000000,"iat":1700000000,"info":{"name":"Alice"}}
    constexpr std::string_view kToken =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiI0MiIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxNzAwMDAwMDAwLCJpbmZvIjp7Im5hbWUiOiJBbGlj"
        "ZSJ9fQ.v4pCZ3KFpVL5L-qS7jkcAAGSWePO4aYbA84T6O4CaBk";
    jwt::TokenVerifier verifier("wsgate-test-secret");
    jwt::Claims claims;
    for (auto _ : state) {
        if (verifier.verify(kToken, 1800000000, claims) != jwt::JwtError::none) {
            state.SkipWithError("verify failed");
        }
        benchmark::DoNotOptimize(claims.sub.data());
    }
}
BENCHMARK(BM_JwtVerifyHs256);

}  // namespace
