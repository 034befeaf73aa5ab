// RESP commands (arrays of bulk strings, redis.io "RESP protocol spec")
// appended to a buffer that keeps its capacity: encoding a command
// allocates nothing once the buffer has grown to a turn's worth.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace wsgate::broker {

class RespWriter {
  public:
    // Appends one command; arguments are string views or integers.
    template <class... Args>
    void command(const Args&... args) {
        header('*', sizeof...(Args));
        (argument(args), ...);
        ++commands_;
    }

    // A command whose argument count is known only at run time: begin(n),
    // then n argument() calls.
    void begin(size_t arguments) {
        header('*', arguments);
        ++commands_;
    }
    void argument(std::string_view s) {
        header('$', s.size());
        out_.append(s);
        out_.append("\r\n", 2);
    }
    template <class I>
    requires std::is_integral_v<I>
    void argument(I value) {
        char digits[24];
        auto r = std::to_chars(digits, digits + sizeof(digits), value);
        argument(std::string_view(digits, static_cast<size_t>(r.ptr - digits)));
    }
    void argument(const char* s) { argument(std::string_view(s)); }
    void argument(const std::string& s) { argument(std::string_view(s)); }

    std::string_view bytes() const { return out_; }
    size_t size() const { return out_.size(); }
    size_t commands() const { return commands_; }
    bool empty() const { return out_.empty(); }
    // Everything was sent (or dropped with the connection): capacity is kept.
    void clear() {
        out_.clear();
        commands_ = 0;
    }

  private:
    void header(char kind, size_t n) {
        char digits[24];
        digits[0] = kind;
        auto r = std::to_chars(digits + 1, digits + sizeof(digits) - 2, n);
        *r.ptr++ = '\r';
        *r.ptr++ = '\n';
        out_.append(digits, static_cast<size_t>(r.ptr - digits));
    }

    std::string out_;
    size_t commands_ = 0;
};

}  // namespace wsgate::broker
