// A slow, obviously-correct JSON validator for tests and fuzzers, written
// from the grammar of RFC 8259 (§2 values and whitespace, §4 objects, §5
// arrays, §6 numbers, §7 strings) and independent of simdjson: numbers of
// any magnitude and any \u escape the grammar allows are accepted, so it
// answers "is this JSON text", not "can this parser represent it".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "utf8_reference.hpp"

namespace wsgate::test {

class JsonReference {
  public:
    // True when `text` is exactly one JSON value, with optional whitespace
    // around it, in valid UTF-8.
    static bool valid(std::string_view text) {
        if (!reference_utf8_valid(reinterpret_cast<const uint8_t*>(text.data()), text.size())) {
            return false;
        }
        JsonReference r(text);
        r.ws();
        if (!r.value(0)) return false;
        r.ws();
        return r.pos_ == text.size();
    }

  private:
    explicit JsonReference(std::string_view text) : s_(text) {}

    static constexpr int kMaxDepth = 10000;

    bool at(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
    bool eat(char c) {
        if (!at(c)) return false;
        ++pos_;
        return true;
    }
    bool digit() const { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; }
    void ws() {
        while (at(' ') || at('\t') || at('\n') || at('\r'))
            ++pos_;
    }
    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    bool value(int depth) {
        if (depth > kMaxDepth || pos_ >= s_.size()) return false;
        switch (s_[pos_]) {
            case '{':
                return object(depth);
            case '[':
                return array(depth);
            case '"':
                return string();
            case 't':
                return literal("true");
            case 'f':
                return literal("false");
            case 'n':
                return literal("null");
            default:
                return number();
        }
    }

    bool object(int depth) {
        eat('{');
        ws();
        if (eat('}')) return true;
        for (;;) {
            ws();
            if (!string()) return false;
            ws();
            if (!eat(':')) return false;
            ws();
            if (!value(depth + 1)) return false;
            ws();
            if (eat('}')) return true;
            if (!eat(',')) return false;
        }
    }

    bool array(int depth) {
        eat('[');
        ws();
        if (eat(']')) return true;
        for (;;) {
            ws();
            if (!value(depth + 1)) return false;
            ws();
            if (eat(']')) return true;
            if (!eat(',')) return false;
        }
    }

    bool string() {
        if (!eat('"')) return false;
        while (pos_ < s_.size()) {
            unsigned char c = static_cast<unsigned char>(s_[pos_++]);
            if (c == '"') return true;
            if (c < 0x20) return false;
            if (c != '\\') continue;
            if (pos_ >= s_.size()) return false;
            char e = s_[pos_++];
            if (e == 'u') {
                for (int i = 0; i < 4; ++i) {
                    if (pos_ >= s_.size()) return false;
                    char h = s_[pos_++];
                    bool hex =
                        (h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F');
                    if (!hex) return false;
                }
            } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
                return false;
            }
        }
        return false;
    }

    bool number() {
        eat('-');
        if (eat('0')) {
        } else if (digit()) {
            while (digit())
                ++pos_;
        } else {
            return false;
        }
        if (eat('.')) {
            if (!digit()) return false;
            while (digit())
                ++pos_;
        }
        if (eat('e') || eat('E')) {
            if (!eat('+')) eat('-');
            if (!digit()) return false;
            while (digit())
                ++pos_;
        }
        return true;
    }

    std::string_view s_;
    size_t pos_ = 0;
};

}  // namespace wsgate::test
