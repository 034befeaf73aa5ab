// Appends JSON text into a caller-provided buffer: no allocation, no write
// past the end. When a write does not fit, the writer stops writing and
// ok() turns false for good, so a caller checks once at the end and retries
// with a larger buffer (or sizes it beforehand with the bounds below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace wsgate::proto {

class JsonOut {
  public:
    explicit JsonOut(std::span<char> buffer) : begin_(buffer.data()), end_(begin_ + buffer.size()) {
        pos_ = begin_;
    }

    // Bytes as they are: already JSON (a relayed `data` value) or syntax.
    void raw(std::string_view bytes);
    void raw(char c);
    // A JSON value relayed as received (`data` of a publication), with every
    // line feed written as a space: messages of the Centrifugo JSON protocol
    // are newline-separated, and in valid JSON (RFC 8259 §2, §7) a line feed
    // can stand only as whitespace between tokens (inside a string it must
    // be escaped), so a space in its place keeps the size and the meaning.
    void relayed(std::string_view json);
    // `s` as a JSON string, quotes included: '"', '\\' and the control
    // characters U+0000-U+001F escaped (RFC 8259 §7), other bytes as they are
    // (`s` is expected to be UTF-8: strings the parser produced are).
    void string(std::string_view s);
    void number(uint64_t value);
    void number(int64_t value);
    void boolean(bool value) { raw(value ? std::string_view("true") : std::string_view("false")); }

    bool ok() const { return ok_; }
    size_t size() const { return static_cast<size_t>(pos_ - begin_); }
    std::string_view view() const { return {begin_, size()}; }
    // The last byte written, or '\0' when nothing was.
    char last() const { return pos_ == begin_ ? '\0' : pos_[-1]; }

  private:
    char* begin_;
    char* end_;
    char* pos_;
    bool ok_ = true;
};

// The longest JSON string `s` can become: every byte escaped as \u00XX, plus
// the two quotes.
constexpr size_t json_string_bound(std::string_view s) {
    return 6 * s.size() + 2;
}

}  // namespace wsgate::proto
