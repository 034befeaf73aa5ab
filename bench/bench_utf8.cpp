// UTF-8 validation kernels beside a plain byte-at-a-time validator, in one
// run, on three 64 KiB texts generated deterministically: ASCII, European
// (German/French/Polish letters, about 10% two-byte characters) and CJK
// (three-byte characters). Names: Utf8_<text>_<kernel>, kernel one of
// bytewise, scalar and every SIMD level this CPU supports.
// Utf8Small_<text>_<kernel>/<bytes>: short messages (16, 64, 125 bytes, cut
// back to whole code points) taken one after another from the same text, a
// different message each iteration; kernel "dispatched" is utf8_valid().
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "proto/utf8.hpp"

namespace wsgate::proto {
namespace {

constexpr size_t kTextBytes = 64 * 1024;
constexpr uint32_t kSeed = 1234;

using Text = std::vector<uint8_t>;

void append(Text& out, std::string_view s) {
    out.insert(out.end(), s.begin(), s.end());
}

// Cuts text back to whole code points no longer than kTextBytes.
void trim_to_size(Text& text) {
    text.resize(kTextBytes);
    while (!text.empty() && (text.back() & 0xC0) == 0x80)
        text.pop_back();
    if (!text.empty() && text.back() >= 0xC0) text.pop_back();
}

Text ascii_text() {
    static constexpr std::string_view kWords[] = {
        "the ",   "quick ",   "brown ",    "fox ",       "jumps ",  "over ",
        "a ",     "lazy ",    "dog, ",     "and ",       "then ",   "it ",
        "sends ", "another ", "message. ", "WebSocket ", "frames\n"};
    std::mt19937 rng(kSeed);
    Text text;
    while (text.size() < kTextBytes)
        append(text, kWords[rng() % std::size(kWords)]);
    trim_to_size(text);
    return text;
}

Text european_text() {
    // Letters from German, French and Polish; every tenth character or so is
    // one of the two-byte ones.
    static constexpr std::string_view kTwoByte[] = {"\xC3\xA4", "\xC3\xB6", "\xC3\xBC", "\xC3\x9F",
                                                    "\xC3\xA9", "\xC3\xA8", "\xC3\xA0", "\xC3\xA7",
                                                    "\xC3\xAA", "\xC5\x82", "\xC5\x9B", "\xC5\xBC",
                                                    "\xC4\x85", "\xC4\x99", "\xC5\x84", "\xC3\xB3"};
    static constexpr std::string_view kAscii = "abcdefghijklmnopqrstuvwxyz     ,.";
    std::mt19937 rng(kSeed);
    Text text;
    while (text.size() < kTextBytes) {
        if (rng() % 10 == 0) {
            append(text, kTwoByte[rng() % std::size(kTwoByte)]);
        } else {
            text.push_back(static_cast<uint8_t>(kAscii[rng() % kAscii.size()]));
        }
    }
    trim_to_size(text);
    return text;
}

Text cjk_text() {
    // CJK Unified Ideographs U+4E00..U+9FFF: three bytes each.
    constexpr uint32_t kFirst = 0x4E00;
    constexpr uint32_t kCount = 0x5200;
    std::mt19937 rng(kSeed);
    Text text;
    while (text.size() < kTextBytes) {
        const uint32_t cp = kFirst + rng() % kCount;
        text.push_back(static_cast<uint8_t>(0xE0 | (cp >> 12)));
        text.push_back(static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F)));
        text.push_back(static_cast<uint8_t>(0x80 | (cp & 0x3F)));
    }
    trim_to_size(text);
    return text;
}

// The baseline: the textbook validator, one byte and one branch at a time,
// no word-at-a-time ASCII skip.
bool bytewise_utf8_valid(const uint8_t* data, size_t len) {
    size_t i = 0;
    while (i < len) {
        const uint8_t b = data[i];
        size_t length;
        uint8_t second_min = 0x80;
        uint8_t second_max = 0xBF;
        if (b < 0x80) {
            ++i;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            length = 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            length = 3;
            if (b == 0xE0) second_min = 0xA0;
            if (b == 0xED) second_max = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            length = 4;
            if (b == 0xF0) second_min = 0x90;
            if (b == 0xF4) second_max = 0x8F;
        } else {
            return false;
        }
        if (len - i < length) return false;
        if (data[i + 1] < second_min || data[i + 1] > second_max) return false;
        for (size_t k = 2; k < length; ++k) {
            if ((data[i + k] & 0xC0) != 0x80) return false;
        }
        i += length;
    }
    return true;
}

void validate(benchmark::State& state, const Text* text, Utf8Kernel kernel) {
    if (!kernel(text->data(), text->size())) {
        state.SkipWithError("benchmark text is not valid UTF-8");
        return;
    }
    for (auto _ : state) {
        bool ok = kernel(text->data(), text->size());
        benchmark::DoNotOptimize(ok);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text->size()));
}

constexpr int64_t kSmallSizes[] = {16, 64, 125};

// The text cut into consecutive messages of at most `size` bytes, each ending
// on a code point boundary.
struct Messages {
    std::vector<const uint8_t*> begin;
    std::vector<size_t> length;
    size_t bytes = 0;
};

Messages cut_messages(const Text& text, size_t size) {
    Messages m;
    size_t at = 0;
    while (at + size <= text.size()) {
        size_t n = size;
        while (n > 0 && (text[at + n] & 0xC0) == 0x80)  // text[at + n] starts the next one
            --n;
        m.begin.push_back(text.data() + at);
        m.length.push_back(n);
        m.bytes += n;
        at += n;
    }
    return m;
}

void validate_small(benchmark::State& state, const Text* text, Utf8Kernel kernel) {
    const Messages m = cut_messages(*text, static_cast<size_t>(state.range(0)));
    for (size_t i = 0; i < m.begin.size(); ++i) {
        if (!kernel(m.begin[i], m.length[i])) {
            state.SkipWithError("benchmark message is not valid UTF-8");
            return;
        }
    }
    size_t i = 0;
    int64_t bytes = 0;
    for (auto _ : state) {
        bool ok = kernel(m.begin[i], m.length[i]);
        benchmark::DoNotOptimize(ok);
        bytes += static_cast<int64_t>(m.length[i]);
        i = i + 1 == m.begin.size() ? 0 : i + 1;
    }
    state.SetBytesProcessed(bytes);
}

bool register_utf8_benchmarks() {
    static const Text ascii = ascii_text();
    static const Text european = european_text();
    static const Text cjk = cjk_text();
    const std::pair<const char*, const Text*> texts[] = {
        {"ascii", &ascii}, {"european", &european}, {"cjk", &cjk}};
    for (const auto& [text_name, text] : texts) {
        const std::string prefix = std::string("Utf8_") + text_name + "_";
        benchmark::RegisterBenchmark((prefix + "bytewise").c_str(), validate, text,
                                     &bytewise_utf8_valid);
        for (SimdLevel level : supported_simd_levels()) {
            benchmark::RegisterBenchmark((prefix + std::string(simd_level_name(level))).c_str(),
                                         validate, text, utf8_kernel(level));
        }
    }
    for (const auto& [text_name, text] : texts) {
        const std::string prefix = std::string("Utf8Small_") + text_name + "_";
        auto add = [&](const std::string& name, Utf8Kernel kernel) {
            auto* b =
                benchmark::RegisterBenchmark((prefix + name).c_str(), validate_small, text, kernel);
            for (int64_t size : kSmallSizes)
                b->Arg(size);
        };
        add("bytewise", &bytewise_utf8_valid);
        for (SimdLevel level : supported_simd_levels())
            add(std::string(simd_level_name(level)), utf8_kernel(level));
        add("dispatched", &utf8_valid);
    }
    return true;
}

// Registered at start-up, like the BENCHMARK macro does, but only for the
// kernels this CPU can run.
const bool registered = register_utf8_benchmarks();

}  // namespace
}  // namespace wsgate::proto
