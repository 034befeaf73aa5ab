#include "io/log.hpp"

#include <array>
#include <cstdarg>
#include <cstring>
#include <ctime>
#include <string>

namespace wsgate::io {

namespace detail {
std::atomic<uint8_t> g_log_level{static_cast<uint8_t>(LogLevel::info)};
std::atomic<uint8_t> g_log_format{static_cast<uint8_t>(LogFormat::text)};
}  // namespace detail

namespace {

constexpr std::string_view kLevelNames[] = {"error", "warn", "info", "debug"};
constexpr std::string_view kFormatNames[] = {"text", "json"};
constexpr std::string_view kPrefix = "wsgate: ";

std::atomic<uint64_t> g_suppressed{0};
FILE* g_out = nullptr;  // nullptr: stderr

FILE* output() {
    return g_out != nullptr ? g_out : stderr;
}

int64_t monotonic_ms() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1000000;
}

// Length of the UTF-8 sequence at s[i] (RFC 3629 §4), or 0 if it is not one.
size_t utf8_sequence(std::string_view s, size_t i) {
    const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
    const auto cont = [&](size_t k, uint8_t lo, uint8_t hi) {
        return k < s.size() && byte(k) >= lo && byte(k) <= hi;
    };
    uint8_t b = byte(i);
    if (b >= 0xC2 && b <= 0xDF) return cont(i + 1, 0x80, 0xBF) ? 2 : 0;
    if (b >= 0xE0 && b <= 0xEF) {
        uint8_t lo = b == 0xE0 ? 0xA0 : 0x80;
        uint8_t hi = b == 0xED ? 0x9F : 0xBF;  // no surrogates
        return cont(i + 1, lo, hi) && cont(i + 2, 0x80, 0xBF) ? 3 : 0;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        uint8_t lo = b == 0xF0 ? 0x90 : 0x80;
        uint8_t hi = b == 0xF4 ? 0x8F : 0xBF;  // up to U+10FFFF
        return cont(i + 1, lo, hi) && cont(i + 2, 0x80, 0xBF) && cont(i + 3, 0x80, 0xBF) ? 4 : 0;
    }
    return 0;
}

// Appends to a caller's buffer; never writes past its end.
class LineBuilder {
  public:
    LineBuilder(char* buf, size_t cap) : buf_(buf), cap_(cap) {}
    void raw(std::string_view s) {
        size_t n = std::min(s.size(), cap_ - len_);
        std::memcpy(buf_ + len_, s.data(), n);
        len_ += n;
    }
    void ch(char c) {
        if (len_ < cap_) buf_[len_++] = c;
    }
    void escaped(std::string_view s) { len_ += json_escape(s, buf_ + len_, cap_ - len_); }
    void quoted(std::string_view s) {
        ch('"');
        escaped(s);
        ch('"');
    }
    void number(int64_t v) {
        char digits[24];
        int n = std::snprintf(digits, sizeof(digits), "%lld", static_cast<long long>(v));
        raw({digits, static_cast<size_t>(n)});
    }
    void timestamp() {
        timespec now{};
        clock_gettime(CLOCK_REALTIME, &now);
        tm utc{};
        gmtime_r(&now.tv_sec, &utc);
        char text[40];
        int n = std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
                              utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                              utc.tm_min, utc.tm_sec, now.tv_nsec / 1000000);
        raw({text, static_cast<size_t>(n)});
    }
    size_t size() const { return len_; }

  private:
    char* buf_;
    size_t cap_;
    size_t len_ = 0;
};

// Room a line needs in the worst case (every byte escaped as \u00XX).
size_t line_bound(std::string_view msg, LogFields fields) {
    size_t n = 256 + 6 * msg.size();
    for (const LogField& f : fields)
        n += 32 + 6 * (f.key.size() + f.text.size());
    return n;
}

void build(LineBuilder& out, LogLevel level, std::string_view event, RequestId conn,
           LogFields fields, std::string_view msg) {
    char id[kRequestIdChars];
    size_t id_len = conn.empty() ? 0 : format_request_id(conn, id);
    if (log_format() == LogFormat::text) {
        out.raw(kPrefix);
        out.raw(msg);
        if (id_len != 0) {
            out.raw(" (conn ");
            out.raw({id, id_len});
            out.ch(')');
        }
        out.ch('\n');
        return;
    }
    out.raw("{\"ts\":\"");
    out.timestamp();
    out.raw("\",\"level\":\"");
    out.raw(log_level_name(level));
    out.raw("\",\"msg\":");
    out.quoted(msg);
    if (id_len != 0) {
        out.raw(",\"conn\":\"");
        out.raw({id, id_len});
        out.ch('"');
    }
    if (!event.empty()) {
        out.raw(",\"event\":");
        out.quoted(event);
    }
    for (const LogField& f : fields) {
        out.ch(',');
        out.quoted(f.key);
        out.ch(':');
        if (f.kind == LogField::Kind::number) {
            out.number(f.number);
        } else {
            out.quoted(f.text);
        }
    }
    out.raw("}\n");
}

// Formats and writes one line (one fwrite: stderr is unbuffered, so one
// write(2), whole, even with other threads logging).
void emit(FILE* out, LogLevel level, std::string_view event, RequestId conn, LogFields fields,
          const char* fmt, va_list args) {
    char msg_stack[2048];
    std::string msg_heap;
    va_list again;
    va_copy(again, args);
    int n = std::vsnprintf(msg_stack, sizeof(msg_stack), fmt, args);
    std::string_view msg;
    if (n < 0) {
        msg = "(unformattable log line)";
    } else if (static_cast<size_t>(n) < sizeof(msg_stack)) {
        msg = {msg_stack, static_cast<size_t>(n)};
    } else {
        // Long lines (--trace of a whole request head) only.
        msg_heap.resize(static_cast<size_t>(n) + 1);
        std::vsnprintf(msg_heap.data(), msg_heap.size(), fmt, again);
        msg_heap.pop_back();
        msg = msg_heap;
    }
    va_end(again);
    char line_stack[8192];
    std::string line_heap;
    char* buf = line_stack;
    size_t cap = sizeof(line_stack);
    if (size_t bound = line_bound(msg, fields); bound > cap) {
        line_heap.resize(bound);
        buf = line_heap.data();
        cap = bound;
    }
    LineBuilder b(buf, cap);
    build(b, level, event, conn, fields, msg);
    std::fwrite(buf, 1, b.size(), out);
}

void emit_formatted(FILE* out, LogLevel level, std::string_view event, RequestId conn,
                    LogFields fields, const char* fmt, ...) __attribute__((format(printf, 6, 7)));
void emit_formatted(FILE* out, LogLevel level, std::string_view event, RequestId conn,
                    LogFields fields, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    emit(out, level, event, conn, fields, fmt, args);
    va_end(args);
}

// This thread's windows for log_limited.
struct Window {
    const char* name = nullptr;  // nullptr: unused
    int64_t key = 0;
    LogLevel level = LogLevel::info;
    int64_t start_ms = 0;
    uint32_t written = 0;
    uint64_t suppressed = 0;
};
constexpr size_t kWindows = 32;
struct Windows {
    std::array<Window, kWindows> table{};
    uint32_t holding = 0;  // windows with suppressed lines
};
thread_local Windows t_windows;

void summarize(Window& w, int64_t now_ms) {
    if (w.suppressed == 0) return;
    const uint64_t n = w.suppressed;
    w.suppressed = 0;
    --t_windows.holding;
    count_suppressed_lines(n);
    if (!log_enabled(w.level)) return;  // the level was lowered meanwhile
    char head[64];
    int k = w.key != 0 ? std::snprintf(head, sizeof(head), "%s %lld", w.name,
                                       static_cast<long long>(w.key))
                       : std::snprintf(head, sizeof(head), "%s", w.name);
    const double seconds = static_cast<double>(now_ms - w.start_ms) / 1000.0;
    if (log_format() == LogFormat::text) {
        emit_formatted(output(), w.level, w.name, kNoConn, {},
                       "%.*s: (suppressed %llu similar lines in the last %.1f s)", k, head,
                       static_cast<unsigned long long>(n), seconds);
    } else if (w.key != 0) {
        emit_formatted(output(), w.level, w.name, kNoConn, {{"key", w.key}, {"suppressed", n}},
                       "%.*s: (suppressed %llu similar lines in the last %.1f s)", k, head,
                       static_cast<unsigned long long>(n), seconds);
    } else {
        emit_formatted(output(), w.level, w.name, kNoConn, {{"suppressed", n}},
                       "%.*s: (suppressed %llu similar lines in the last %.1f s)", k, head,
                       static_cast<unsigned long long>(n), seconds);
    }
}

Window& window_for(const LogEvent& event, int64_t key, int64_t now_ms) {
    Window* spare = nullptr;
    for (Window& w : t_windows.table) {
        if (w.name == event.name && w.key == key) return w;
        if (w.name == nullptr) {
            if (spare == nullptr || spare->name != nullptr) spare = &w;
        } else if (spare == nullptr || (spare->name != nullptr && w.start_ms < spare->start_ms)) {
            spare = &w;  // the oldest, unless an unused one turns up
        }
    }
    summarize(*spare, now_ms);
    *spare = Window{event.name, key, event.level, now_ms - kLogWindowMs, 0, 0};
    return *spare;
}

}  // namespace

bool parse_log_level(std::string_view text, LogLevel* out) {
    for (size_t i = 0; i < std::size(kLevelNames); ++i) {
        if (kLevelNames[i] == text) {
            *out = static_cast<LogLevel>(i);
            return true;
        }
    }
    return false;
}

bool parse_log_format(std::string_view text, LogFormat* out) {
    for (size_t i = 0; i < std::size(kFormatNames); ++i) {
        if (kFormatNames[i] == text) {
            *out = static_cast<LogFormat>(i);
            return true;
        }
    }
    return false;
}

std::string_view log_level_name(LogLevel level) {
    return kLevelNames[static_cast<size_t>(level) & 3];
}

std::string_view log_format_name(LogFormat format) {
    return kFormatNames[static_cast<size_t>(format) & 1];
}

void set_log_level(LogLevel level) {
    detail::g_log_level.store(static_cast<uint8_t>(level), std::memory_order_relaxed);
}

void set_log_format(LogFormat format) {
    detail::g_log_format.store(static_cast<uint8_t>(format), std::memory_order_relaxed);
}

void set_log_output(FILE* out) {
    g_out = out;
}

size_t format_request_id(RequestId id, char* out) {
    int n = std::snprintf(out, kRequestIdChars, "%u.%u.%u", id.loop, id.slot, id.generation);
    return static_cast<size_t>(n);
}

void log(LogLevel level, std::string_view event, RequestId conn, LogFields fields, const char* fmt,
         ...) {
    if (!log_enabled(level)) return;
    va_list args;
    va_start(args, fmt);
    emit(output(), level, event, conn, fields, fmt, args);
    va_end(args);
}

void log_to(FILE* out, LogLevel level, std::string_view event, RequestId conn, LogFields fields,
            const char* fmt, ...) {
    if (!log_enabled(level)) return;
    va_list args;
    va_start(args, fmt);
    emit(out, level, event, conn, fields, fmt, args);
    va_end(args);
}

bool log_limited(const LogEvent& event, int64_t key, RequestId conn, LogFields fields,
                 const char* fmt, ...) {
    if (!log_enabled(event.level)) return false;
    const int64_t now = monotonic_ms();
    Window& w = window_for(event, key, now);
    if (now - w.start_ms >= kLogWindowMs) {
        summarize(w, now);
        w.start_ms = now;
        w.written = 0;
    }
    if (w.written >= kLimitedLinesPerWindow) {
        if (w.suppressed++ == 0) ++t_windows.holding;
        return false;
    }
    ++w.written;
    va_list args;
    va_start(args, fmt);
    emit(output(), event.level, event.name, conn, fields, fmt, args);
    va_end(args);
    return true;
}

void log_flush_due() {
    if (t_windows.holding == 0) return;
    const int64_t now = monotonic_ms();
    for (Window& w : t_windows.table) {
        if (w.suppressed != 0 && now - w.start_ms >= kLogWindowMs) summarize(w, now);
    }
}

void log_flush_all() {
    if (t_windows.holding == 0) return;
    const int64_t now = monotonic_ms();
    for (Window& w : t_windows.table)
        summarize(w, now);
}

int64_t log_ms_to_next_summary() {
    if (t_windows.holding == 0) return -1;
    const int64_t now = monotonic_ms();
    int64_t due = INT64_MAX;
    for (const Window& w : t_windows.table) {
        if (w.suppressed != 0) due = std::min(due, w.start_ms + kLogWindowMs - now);
    }
    return std::max<int64_t>(due, 0);
}

uint64_t log_lines_suppressed() {
    return g_suppressed.load(std::memory_order_relaxed);
}

void count_suppressed_lines(uint64_t n) {
    g_suppressed.fetch_add(n, std::memory_order_relaxed);
}

size_t json_escape(std::string_view text, char* out, size_t cap) {
    static constexpr char kHex[] = "0123456789abcdef";
    size_t len = 0;
    for (size_t i = 0; i < text.size();) {
        const auto b = static_cast<uint8_t>(text[i]);
        char esc[8];
        size_t esc_len = 0;
        size_t step = 1;
        const char* src = esc;
        if (b == '"' || b == '\\') {
            esc[0] = '\\';
            esc[1] = static_cast<char>(b);
            esc_len = 2;
        } else if (b < 0x20) {
            const char* named = b == '\n' ? "\\n" : b == '\r' ? "\\r" : b == '\t' ? "\\t" : nullptr;
            if (named != nullptr) {
                std::memcpy(esc, named, 2);
                esc_len = 2;
            } else {
                std::memcpy(esc, "\\u00", 4);
                esc[4] = kHex[b >> 4];
                esc[5] = kHex[b & 15];
                esc_len = 6;
            }
        } else if (b < 0x80) {
            esc[0] = static_cast<char>(b);
            esc_len = 1;
        } else if (size_t seq = utf8_sequence(text, i); seq != 0) {
            src = text.data() + i;
            esc_len = seq;
            step = seq;
        } else {
            std::memcpy(esc, "\\ufffd", 6);
            esc_len = 6;
        }
        if (len + esc_len > cap) break;
        std::memcpy(out + len, src, esc_len);
        len += esc_len;
        i += step;
    }
    return len;
}

}  // namespace wsgate::io
