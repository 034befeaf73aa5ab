#include "gateway/prometheus_text.hpp"

#include <charconv>
#include <cmath>

namespace wsgate::gateway {

void PrometheusText::append_help_escaped(std::string& out, std::string_view text) {
    for (char ch : text) {
        if (ch == '\\') {
            out += "\\\\";
        } else if (ch == '\n') {
            out += "\\n";
        } else {
            out += ch;
        }
    }
}

void PrometheusText::append_label_escaped(std::string& out, std::string_view value) {
    for (char ch : value) {
        if (ch == '\\') {
            out += "\\\\";
        } else if (ch == '"') {
            out += "\\\"";
        } else if (ch == '\n') {
            out += "\\n";
        } else {
            out += ch;
        }
    }
}

// Go's ParseFloat spellings for the special values, which the format uses.
void PrometheusText::append_double(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
    } else if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
    } else {
        char buf[32];  // shortest text that reads back as the same double
        auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
        out.append(buf, ec == std::errc() ? end : buf);
    }
}

void PrometheusText::family(std::string_view name, std::string_view help, std::string_view type) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_help_escaped(out_, help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void PrometheusText::begin_sample(std::string_view name, std::initializer_list<MetricLabel> labels,
                                  const MetricLabel* extra) {
    out_ += name;
    if (labels.size() != 0 || extra != nullptr) {
        out_ += '{';
        bool first = true;
        auto label = [&](const MetricLabel& l) {
            if (!first) out_ += ',';
            first = false;
            out_ += l.name;
            out_ += "=\"";
            append_label_escaped(out_, l.value);
            out_ += '"';
        };
        for (const MetricLabel& l : labels)
            label(l);
        if (extra != nullptr) label(*extra);
        out_ += '}';
    }
    out_ += ' ';
}

void PrometheusText::sample(std::string_view name, std::initializer_list<MetricLabel> labels,
                            uint64_t value) {
    begin_sample(name, labels);
    out_ += std::to_string(value);
    out_ += '\n';
}

void PrometheusText::sample(std::string_view name, std::initializer_list<MetricLabel> labels,
                            int64_t value) {
    begin_sample(name, labels);
    out_ += std::to_string(value);
    out_ += '\n';
}

void PrometheusText::sample(std::string_view name, std::initializer_list<MetricLabel> labels,
                            double value) {
    begin_sample(name, labels);
    append_double(out_, value);
    out_ += '\n';
}

void PrometheusText::histogram(std::string_view name, std::initializer_list<MetricLabel> labels,
                               std::span<const double> bounds, std::span<const uint64_t> counts,
                               double sum) {
    const std::string bucket = std::string(name) + "_bucket";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += i < counts.size() ? counts[i] : 0;
        std::string le;
        append_double(le, i < bounds.size() ? bounds[i] : INFINITY);
        MetricLabel le_label{"le", le};
        begin_sample(bucket, labels, &le_label);
        out_ += std::to_string(cumulative);
        out_ += '\n';
    }
    sample(std::string(name) + "_sum", labels, sum);
    sample(std::string(name) + "_count", labels, cumulative);
}

}  // namespace wsgate::gateway
