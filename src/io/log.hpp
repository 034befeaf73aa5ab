// The process's log: one line per event on stderr, as text ("wsgate: ...",
// the shape operators and tests grep) or as JSON lines ({"ts":...,
// "level":...,"msg":...,"conn":...,...}), filtered by level. Every layer
// (io, tls, ws, proxy, pubsub, gateway) logs through it, so it lives here,
// at the bottom of the dependency order.
//
// Events a peer can cause at will (refusals, closes, TLS failures, proxy
// errors for one client) go through log_limited: each kind of event is
// written at most kLimitedLinesPerWindow times per window on each thread
// (each loop is one thread), then counted, and one "(suppressed K similar
// lines ...)" summary ends the window. Nothing is formatted for a line that
// is not written, and a written line is built in a buffer on the stack and
// leaves with one write (no allocation, no interleaving between threads).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string_view>
#include <type_traits>

namespace wsgate::io {

enum class LogLevel : uint8_t { error = 0, warn = 1, info = 2, debug = 3 };
enum class LogFormat : uint8_t { text = 0, json = 1 };

// "error", "warn", "info", "debug" / "text", "json"; false for others.
bool parse_log_level(std::string_view text, LogLevel* out);
bool parse_log_format(std::string_view text, LogFormat* out);
std::string_view log_level_name(LogLevel level);
std::string_view log_format_name(LogFormat format);

namespace detail {
extern std::atomic<uint8_t> g_log_level;
extern std::atomic<uint8_t> g_log_format;
}  // namespace detail

// Process-wide; any thread; takes effect on the next line (a reload sets
// the level while the loops run).
void set_log_level(LogLevel level);
void set_log_format(LogFormat format);
// Where log(), log_limited() and the summaries write: stderr unless a test
// says otherwise (set before any thread logs).
void set_log_output(FILE* out);
inline LogLevel log_level() {
    return static_cast<LogLevel>(detail::g_log_level.load(std::memory_order_relaxed));
}
inline LogFormat log_format() {
    return static_cast<LogFormat>(detail::g_log_format.load(std::memory_order_relaxed));
}
inline bool log_enabled(LogLevel level) {
    return static_cast<uint8_t>(level) <= detail::g_log_level.load(std::memory_order_relaxed);
}

// Names one connection in every line about it: its loop, slot and the
// slot's generation (ws::ConnectionHandle), assigned at accept and unique
// among the process's connections until a slot is reused 2^24 times.
// Rendered "loop.slot.generation" (text: "(conn 0.12.3)" at the end of the
// line; JSON: "conn":"0.12.3").
struct RequestId {
    uint32_t loop = 0;
    uint32_t slot = UINT32_MAX;  // UINT32_MAX: no connection
    uint32_t generation = 0;
    constexpr bool empty() const { return slot == UINT32_MAX; }
};
inline constexpr RequestId kNoConn{};
// "0.12.3" into out (at least kRequestIdChars bytes); returns its length.
inline constexpr size_t kRequestIdChars = 32;
size_t format_request_id(RequestId id, char* out);

// One extra field of a JSON line (text lines carry them in the message).
struct LogField {
    enum class Kind : uint8_t { text, number };
    std::string_view key;
    Kind kind;
    std::string_view text;
    int64_t number = 0;

    LogField(std::string_view k, std::string_view v) : key(k), kind(Kind::text), text(v) {}
    LogField(std::string_view k, const char* v) : key(k), kind(Kind::text), text(v) {}
    template <class N>
    requires std::is_integral_v<N> LogField(std::string_view k, N v)
        : key(k), kind(Kind::number), number(static_cast<int64_t>(v)) {}
};
using LogFields = std::initializer_list<LogField>;

// A kind of event for log_limited: its name (JSON "event", and the summary
// line's) and level. Declared once per call site as a static constant; the
// limiter tells kinds apart by the name's address and a caller's key (an
// HTTP status, a close code), so "refused 400" and "refused 431" have
// windows of their own.
struct LogEvent {
    const char* name;
    LogLevel level;
};

// Writes one line now when `level` is enabled (start-up, shutdown,
// reloads, things a peer cannot repeat). `event` names the kind in JSON
// ("" for none). printf-style message, without the "wsgate: " prefix.
void log(LogLevel level, std::string_view event, RequestId conn, LogFields fields, const char* fmt,
         ...) __attribute__((format(printf, 5, 6)));
// The same to `out` instead of stderr (tests, and FILE*-taking callers).
void log_to(FILE* out, LogLevel level, std::string_view event, RequestId conn, LogFields fields,
            const char* fmt, ...) __attribute__((format(printf, 6, 7)));

// Writes one line for an event a peer can repeat at will, within this
// thread's budget for (event, key); else counts it for the summary.
// Returns whether the line was written.
bool log_limited(const LogEvent& event, int64_t key, RequestId conn, LogFields fields,
                 const char* fmt, ...) __attribute__((format(printf, 5, 6)));

// accept(2) failing for a reason other than a full descriptor table.
inline constexpr LogEvent kAcceptFailedEvent{"accept_failed", LogLevel::error};

inline constexpr int64_t kLogWindowMs = 1000;
inline constexpr uint32_t kLimitedLinesPerWindow = 5;

// Writes the summaries of this thread's windows that have ended (a loop
// calls it once per turn; nothing to do costs one branch).
void log_flush_due();
// Writes every summary this thread holds (at shutdown).
void log_flush_all();
// Milliseconds until log_flush_due has a summary to write on this thread
// (0: now), or -1 when none is held (a loop with nothing else to wait for
// may sleep for ever).
int64_t log_ms_to_next_summary();

// Lines not written because of a rate limit, all threads, since start
// (wsgate_log_lines_suppressed_total): counted as their summary is written,
// here and by the older throttles (ws::RefusalLog, tls::FailureLog, ...).
uint64_t log_lines_suppressed();
void count_suppressed_lines(uint64_t n);

// JSON string escaping (RFC 8259 §7) of `text` into out[0, cap): quotes,
// backslashes and control characters escaped, bytes that are not UTF-8
// replaced with U+FFFD, so every line is valid JSON whatever a peer sent.
// Returns the bytes written (stops short, at a character boundary, when
// out is full). No quotes around.
size_t json_escape(std::string_view text, char* out, size_t cap);

}  // namespace wsgate::io
