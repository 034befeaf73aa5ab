#include "report.hpp"

#include <algorithm>
#include <cstdio>

namespace wsgate::bench {
namespace {

constexpr double kNsPerUs = 1e3;
constexpr double kBytesPerMB = 1e6;

double per_second(std::uint64_t n, double seconds) {
    return seconds > 0 ? static_cast<double>(n) / seconds : 0;
}

struct Latencies {
    double p50, p90, p99, p999, max;
};
Latencies latencies_us(const HistogramSnapshot& h) {
    return {static_cast<double>(h.percentile(0.50)) / kNsPerUs,
            static_cast<double>(h.percentile(0.90)) / kNsPerUs,
            static_cast<double>(h.percentile(0.99)) / kNsPerUs,
            static_cast<double>(h.percentile(0.999)) / kNsPerUs,
            static_cast<double>(h.max) / kNsPerUs};
}

// Wire bytes per payload byte (1 without compression; 0 when nothing was sent).
double wire_fraction(std::uint64_t wire, std::uint64_t payload) {
    return payload ? static_cast<double>(wire) / static_cast<double>(payload) : 0;
}

std::string json_escape(const std::string& s) {
    std::string out;
    for (const char ch : s) {
        if (ch == '"' || ch == '\\') out += '\\';
        if (static_cast<unsigned char>(ch) < 0x20) continue;
        out += ch;
    }
    return out;
}

}  // namespace

void add_worker(Summary& s, const WorkerStats& w) {
    auto get = [](const std::atomic<std::uint64_t>& a) {
        return a.load(std::memory_order_relaxed);
    };
    s.peak_up += get(w.peak_up);
    s.messages += get(w.messages);
    s.payload_bytes += get(w.payload_bytes);
    s.sent_wire_bytes += get(w.sent_wire_bytes);
    s.recv_wire_bytes += get(w.recv_wire_bytes);
    s.sent_compressed += get(w.sent_compressed);
    s.recv_compressed += get(w.recv_compressed);
    s.deflate_up += get(w.deflate_up);
    s.handshakes += get(w.handshakes);
    s.tls_full += get(w.tls_full);
    s.tls_resumed += get(w.tls_resumed);
    s.tls_handshake_ns += get(w.tls_handshake_ns);
    s.pings_sent += get(w.pings_sent);
    s.pongs_received += get(w.pongs_received);
    s.server_pings += get(w.server_pings);
    s.publications += get(w.publications);
    s.publications_all += get(w.publications_all);
    s.publish_errors += get(w.publish_errors);
    s.publish_missed += get(w.publish_missed);
    s.subscriptions_up += get(w.subscriptions_up);
    s.lost += get(w.lost);
    s.duplicates += get(w.duplicates);
    s.reordered += get(w.reordered);
    s.offset_errors += get(w.offset_errors);
    s.offsets_checked += get(w.offsets_checked);
    for (std::size_t k = 0; k < s.errors.size(); ++k)
        s.errors[k] += get(w.errors[k]);
    s.latency.add(w.latency);
    s.cpu_measure_s += static_cast<double>(get(w.cpu_measure_ns)) / 1e9;
}

namespace {

struct ServerFigures {
    bool valid = false;
    double cpu_s = 0, cpu_percent = 0;
    long long rss_before_kb = 0, rss_up_kb = 0, rss_end_kb = 0;
    double rss_per_conn_up_b = 0, rss_per_conn_end_b = 0;
    long long tcp_mem_delta_pages = 0;
    double tcp_mem_per_conn_b = 0;
};

ServerFigures server_figures(const Summary& s) {
    ServerFigures f;
    if (!s.server_before.valid) return f;
    f.valid = true;
    if (s.server_window_start.valid && s.server_window_end.valid) {
        f.cpu_s = s.server_window_end.cpu_s - s.server_window_start.cpu_s;
        f.cpu_percent = s.window_s > 0 ? 100.0 * f.cpu_s / s.window_s : 0;
    }
    f.rss_before_kb = static_cast<long long>(s.server_before.rss_kb);
    f.rss_up_kb = static_cast<long long>(s.server_up.rss_kb);
    f.rss_end_kb = static_cast<long long>(s.server_window_end.rss_kb);
    const double up = static_cast<double>(s.peak_up ? s.peak_up : 1);
    constexpr double kKiB = 1024, kPage = 4096;
    if (s.server_up.valid)
        f.rss_per_conn_up_b = static_cast<double>(f.rss_up_kb - f.rss_before_kb) * kKiB / up;
    if (s.server_window_end.valid)
        f.rss_per_conn_end_b = static_cast<double>(f.rss_end_kb - f.rss_before_kb) * kKiB / up;
    // Kernel socket buffers of both ends (client and server sockets share the
    // machine-wide count), so per connection this is per pair of sockets.
    if (s.server_up.valid) {
        f.tcp_mem_delta_pages = static_cast<long long>(s.server_up.tcp_mem_pages) -
                                static_cast<long long>(s.server_before.tcp_mem_pages);
        f.tcp_mem_per_conn_b = static_cast<double>(f.tcp_mem_delta_pages) * kPage / up;
    }
    return f;
}

}  // namespace

void print_summary(const Options& o, const Summary& s) {
    const Latencies l = latencies_us(s.latency);
    std::printf(
        "wsload %s: %u connections (%llu up at end, peak %llu), %u worker(s), %u source "
        "address(es)\n",
        mode_name(o.mode), o.connections, static_cast<unsigned long long>(s.up_at_end),
        static_cast<unsigned long long>(s.peak_up), s.workers, s.sources);
    std::printf("  bring-up %.2f s, window %.2f s\n", s.bringup_s, s.window_s);
    if (o.mode == Mode::kEcho || o.mode == Mode::kRaw) {
        std::printf("  %u B %s, %u in flight: %.0f msg/s, %.2f MB/s each way (%llu messages)\n",
                    o.payload_bytes,
                    o.mode == Mode::kRaw ? "raw"
                    : o.binary           ? "binary"
                                         : "text",
                    o.in_flight, per_second(s.messages, s.window_s),
                    per_second(s.payload_bytes, s.window_s) / kBytesPerMB,
                    static_cast<unsigned long long>(s.messages));
    } else if (o.mode == Mode::kPubsub) {
        std::printf(
            "  %u publisher(s) via %s, %u channel(s), %u subscription(s) per subscriber (%llu "
            "up), %u B data, %s\n",
            o.publishers, publish_via_name(o.publish_via), o.channels, o.subscriptions,
            static_cast<unsigned long long>(s.subscriptions_up),
            std::max<std::uint32_t>(o.payload_bytes, 73),
            o.publish_rate > 0 ? "open loop" : "closed loop");
        std::printf(
            "  %.0f deliveries/s (%llu), %.0f publications/s (%llu; %llu in all, %llu refused, "
            "%llu missed by the open-loop schedule)\n",
            per_second(s.messages, s.window_s), static_cast<unsigned long long>(s.messages),
            per_second(s.publications, s.window_s), static_cast<unsigned long long>(s.publications),
            static_cast<unsigned long long>(s.publications_all),
            static_cast<unsigned long long>(s.publish_errors),
            static_cast<unsigned long long>(s.publish_missed));
        std::printf(
            "  whole run, per subscriber stream: lost %llu, duplicate %llu, reordered %llu; "
            "offsets checked %llu, not +1: %llu\n",
            static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(s.duplicates),
            static_cast<unsigned long long>(s.reordered),
            static_cast<unsigned long long>(s.offsets_checked),
            static_cast<unsigned long long>(s.offset_errors));
    } else if (o.mode == Mode::kConnect) {
        std::printf("  %.0f handshakes/s (%llu full open-close cycles)\n",
                    per_second(s.handshakes, s.window_s),
                    static_cast<unsigned long long>(s.handshakes));
    } else {
        std::printf("  pings sent %llu, pongs %llu, server pings answered %llu\n",
                    static_cast<unsigned long long>(s.pings_sent),
                    static_cast<unsigned long long>(s.pongs_received),
                    static_cast<unsigned long long>(s.server_pings));
    }
    if (o.tls) {
        const std::uint64_t n = s.tls_full + s.tls_resumed;
        std::printf(
            "  TLS handshakes: %llu full, %llu resumed; mean %.1f us each\n",
            static_cast<unsigned long long>(s.tls_full),
            static_cast<unsigned long long>(s.tls_resumed),
            n ? static_cast<double>(s.tls_handshake_ns) / 1e3 / static_cast<double>(n) : 0.0);
    }
    if (o.deflate) {
        std::printf("  permessage-deflate offered (%s): negotiated on %llu connection(s)\n",
                    deflate_offer_value(o.deflate_offer).c_str(),
                    static_cast<unsigned long long>(s.deflate_up));
    }
    if (s.messages && (o.deflate || o.payload_kind != PayloadKind::kRandom)) {
        std::printf(
            "  %s payload on the wire: sent %.3f of %llu B (%llu compressed msgs), echoed %.3f "
            "(%llu compressed msgs)\n",
            payload_kind_name(o.payload_kind), wire_fraction(s.sent_wire_bytes, s.payload_bytes),
            static_cast<unsigned long long>(s.payload_bytes),
            static_cast<unsigned long long>(s.sent_compressed),
            wire_fraction(s.recv_wire_bytes, s.payload_bytes),
            static_cast<unsigned long long>(s.recv_compressed));
    }
    std::printf(
        "  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%llu samples)\n", l.p50,
        l.p90, l.p99, l.p999, l.max, static_cast<unsigned long long>(s.latency.total));
    std::printf(
        "  wsload CPU in window: %.2f s = %.0f%% of one core; whole run user %.2f s sys %.2f s\n",
        s.cpu_measure_s, s.window_s > 0 ? 100.0 * s.cpu_measure_s / s.window_s : 0.0, s.cpu_user_s,
        s.cpu_sys_s);
    if (const ServerFigures f = server_figures(s); f.valid) {
        std::printf("  server pid %d: CPU in window %.2f s (%.0f%% of one core)", o.server_pid,
                    f.cpu_s, f.cpu_percent);
        if (s.messages)
            std::printf(", %.2f s per million %s", f.cpu_s * 1e6 / static_cast<double>(s.messages),
                        o.mode == Mode::kPubsub ? "deliveries" : "messages");
        if (s.messages && o.mode == Mode::kPubsub && f.cpu_s > 0)
            std::printf(", %.0f deliveries per CPU-second",
                        static_cast<double>(s.messages) / f.cpu_s);
        std::printf("\n");
        if (s.server_up.valid)
            std::printf(
                "  server RSS kB: before %lld, all up %lld, end %lld -> %.0f B per connection "
                "(all up), %.0f B (end); kernel TCP buffer mem %+lld pages = %.0f B per "
                "connection pair\n",
                f.rss_before_kb, f.rss_up_kb, f.rss_end_kb, f.rss_per_conn_up_b,
                f.rss_per_conn_end_b, f.tcp_mem_delta_pages, f.tcp_mem_per_conn_b);
    }
    std::uint64_t total_errors = 0;
    std::printf("  errors:");
    for (std::size_t k = 0; k < s.errors.size(); ++k) {
        total_errors += s.errors[k];
        if (s.errors[k])
            std::printf(" %s=%llu", kErrorNames[k], static_cast<unsigned long long>(s.errors[k]));
    }
    std::printf("%s\n", total_errors ? "" : " none");
}

bool write_json(const Options& o, const Summary& s, const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr) {
        std::perror(path.c_str());
        return false;
    }
    const Latencies l = latencies_us(s.latency);
    std::fprintf(f, "{\n  \"label\": \"%s\",\n  \"mode\": \"%s\",\n", json_escape(o.label).c_str(),
                 mode_name(o.mode));
    std::fprintf(f, "  \"target\": \"%s%s\",\n", json_escape(o.host_header).c_str(),
                 json_escape(o.path).c_str());
    std::fprintf(f,
                 "  \"connections\": %u,\n  \"up_at_end\": %llu,\n  \"peak_up\": %llu,\n"
                 "  \"payload_bytes\": %u,\n  \"in_flight\": %u,\n  \"type\": \"%s\",\n",
                 o.connections, static_cast<unsigned long long>(s.up_at_end),
                 static_cast<unsigned long long>(s.peak_up), o.payload_bytes, o.in_flight,
                 o.mode == Mode::kRaw ? "raw"
                 : o.binary           ? "binary"
                                      : "text");
    std::fprintf(
        f,
        "  \"workers\": %u,\n  \"sources\": %u,\n  \"bringup_s\": %.3f,\n  \"window_s\": %.3f,\n",
        s.workers, s.sources, s.bringup_s, s.window_s);
    std::fprintf(f,
                 "  \"messages\": %llu,\n  \"msg_per_s\": %.1f,\n  \"mb_per_s\": %.3f,\n"
                 "  \"handshakes\": %llu,\n  \"handshakes_per_s\": %.1f,\n",
                 static_cast<unsigned long long>(s.messages), per_second(s.messages, s.window_s),
                 per_second(s.payload_bytes, s.window_s) / kBytesPerMB,
                 static_cast<unsigned long long>(s.handshakes),
                 per_second(s.handshakes, s.window_s));
    const std::uint64_t tls_n = s.tls_full + s.tls_resumed;
    std::fprintf(
        f,
        "  \"tls\": {\"enabled\": %s, \"resume\": %s, \"full_handshakes\": %llu, "
        "\"resumed_handshakes\": %llu, \"handshake_mean_us\": %.1f},\n",
        o.tls ? "true" : "false", o.tls_resume ? "true" : "false",
        static_cast<unsigned long long>(s.tls_full), static_cast<unsigned long long>(s.tls_resumed),
        tls_n ? static_cast<double>(s.tls_handshake_ns) / 1e3 / static_cast<double>(tls_n) : 0.0);
    std::fprintf(f,
                 "  \"payload_kind\": \"%s\",\n  \"deflate\": {\"offered\": %s, \"offer\": \"%s\", "
                 "\"negotiated_connections\": %llu},\n",
                 payload_kind_name(o.payload_kind), o.deflate ? "true" : "false",
                 o.deflate ? json_escape(deflate_offer_value(o.deflate_offer)).c_str() : "",
                 static_cast<unsigned long long>(s.deflate_up));
    std::fprintf(f,
                 "  \"wire\": {\"payload_bytes\": %llu, \"sent_wire_bytes\": %llu, "
                 "\"recv_wire_bytes\": %llu, \"sent_wire_fraction\": %.4f, "
                 "\"recv_wire_fraction\": %.4f, \"sent_compressed_messages\": %llu, "
                 "\"recv_compressed_messages\": %llu},\n",
                 static_cast<unsigned long long>(s.payload_bytes),
                 static_cast<unsigned long long>(s.sent_wire_bytes),
                 static_cast<unsigned long long>(s.recv_wire_bytes),
                 wire_fraction(s.sent_wire_bytes, s.payload_bytes),
                 wire_fraction(s.recv_wire_bytes, s.payload_bytes),
                 static_cast<unsigned long long>(s.sent_compressed),
                 static_cast<unsigned long long>(s.recv_compressed));
    std::fprintf(
        f, "  \"pings_sent\": %llu,\n  \"pongs_received\": %llu,\n  \"server_pings\": %llu,\n",
        static_cast<unsigned long long>(s.pings_sent),
        static_cast<unsigned long long>(s.pongs_received),
        static_cast<unsigned long long>(s.server_pings));
    std::fprintf(f,
                 "  \"latency_us\": {\"p50\": %.2f, \"p90\": %.2f, \"p99\": %.2f, \"p999\": %.2f, "
                 "\"max\": %.2f, \"samples\": %llu},\n",
                 l.p50, l.p90, l.p99, l.p999, l.max,
                 static_cast<unsigned long long>(s.latency.total));
    // The CDF for plots: cumulative fraction at each non-empty bucket's upper bound.
    std::fprintf(f, "  \"latency_cdf\": [");
    std::uint64_t seen = 0;
    bool first = true;
    for (std::size_t i = 0; i < Histogram::kBuckets; ++i) {
        if (s.latency.counts[i] == 0) continue;
        seen += s.latency.counts[i];
        std::fprintf(f, "%s[%.2f, %.6f]", first ? "" : ", ",
                     static_cast<double>(Histogram::upper_bound_of(i)) / kNsPerUs,
                     static_cast<double>(seen) / static_cast<double>(s.latency.total));
        first = false;
    }
    std::fprintf(f, "],\n  \"errors\": {");
    std::uint64_t total_errors = 0;
    for (std::size_t k = 0; k < s.errors.size(); ++k) {
        total_errors += s.errors[k];
        std::fprintf(f, "%s\"%s\": %llu", k ? ", " : "", kErrorNames[k],
                     static_cast<unsigned long long>(s.errors[k]));
    }
    std::fprintf(f, "},\n  \"errors_total\": %llu,\n",
                 static_cast<unsigned long long>(total_errors));
    if (o.mode == Mode::kPubsub) {
        std::fprintf(
            f,
            "  \"pubsub\": {\"subscribers\": %u, \"publishers\": %u, \"publish_via\": \"%s\", "
            "\"channels\": %u, \"subscriptions_per_subscriber\": %u, \"subscriptions_up\": %llu, "
            "\"open_loop_rate\": %.1f, \"deliveries\": %llu, \"deliveries_per_s\": %.1f, "
            "\"publications\": %llu, \"publications_per_s\": %.1f, \"publications_all\": %llu, "
            "\"publish_errors\": %llu, \"publish_missed\": %llu, \"lost\": %llu, "
            "\"duplicates\": %llu, \"reordered\": %llu, \"offsets_checked\": %llu, "
            "\"offset_errors\": %llu},\n",
            o.connections, o.publishers, publish_via_name(o.publish_via), o.channels,
            o.subscriptions, static_cast<unsigned long long>(s.subscriptions_up), o.publish_rate,
            static_cast<unsigned long long>(s.messages), per_second(s.messages, s.window_s),
            static_cast<unsigned long long>(s.publications), per_second(s.publications, s.window_s),
            static_cast<unsigned long long>(s.publications_all),
            static_cast<unsigned long long>(s.publish_errors),
            static_cast<unsigned long long>(s.publish_missed),
            static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(s.duplicates),
            static_cast<unsigned long long>(s.reordered),
            static_cast<unsigned long long>(s.offsets_checked),
            static_cast<unsigned long long>(s.offset_errors));
    }
    if (const ServerFigures sf = server_figures(s); sf.valid) {
        std::fprintf(
            f,
            "  \"server\": {\"pid\": %d, \"cpu_window_s\": %.4f, \"cpu_percent_of_core\": %.1f, "
            "\"cpu_s_per_million_messages\": %.4f, \"rss_before_kb\": %lld, \"rss_up_kb\": %lld, "
            "\"rss_end_kb\": %lld, \"rss_per_connection_up_b\": %.1f, "
            "\"rss_per_connection_end_b\": %.1f, \"tcp_mem_delta_pages\": %lld, "
            "\"tcp_mem_per_connection_pair_b\": %.1f},\n",
            o.server_pid, sf.cpu_s, sf.cpu_percent,
            s.messages ? sf.cpu_s * 1e6 / static_cast<double>(s.messages) : 0.0, sf.rss_before_kb,
            sf.rss_up_kb, sf.rss_end_kb, sf.rss_per_conn_up_b, sf.rss_per_conn_end_b,
            sf.tcp_mem_delta_pages, sf.tcp_mem_per_conn_b);
    }
    std::fprintf(
        f,
        "  \"cpu\": {\"window_s\": %.4f, \"window_percent_of_core\": %.1f, \"user_s\": %.3f, "
        "\"sys_s\": %.3f}\n}\n",
        s.cpu_measure_s, s.window_s > 0 ? 100.0 * s.cpu_measure_s / s.window_s : 0.0, s.cpu_user_s,
        s.cpu_sys_s);
    return std::fclose(f) == 0;
}

}  // namespace wsgate::bench
