// Writes the Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): per metric
// family a `# HELP` line (backslash and newline escaped), a `# TYPE` line,
// then its samples `name{label="value",...} value`, label values escaped
// (backslash, double quote, newline). A histogram's buckets are written
// cumulative, ending with le="+Inf", followed by _sum and _count.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace wsgate::gateway {

struct MetricLabel {
    std::string_view name;
    std::string_view value;
};

class PrometheusText {
  public:
    // Starts a family; type is counter, gauge, histogram or untyped.
    void family(std::string_view name, std::string_view help, std::string_view type);

    // One sample; `name` is the family's name, or the family's name with a
    // suffix for histograms (_bucket/_sum/_count).
    void sample(std::string_view name, std::initializer_list<MetricLabel> labels, uint64_t value);
    void sample(std::string_view name, std::initializer_list<MetricLabel> labels, int64_t value);
    void sample(std::string_view name, std::initializer_list<MetricLabel> labels, double value);

    // A histogram's samples: `counts[i]` observations fell in bucket i alone
    // (upper bound `bounds[i]`; the last count, one more than the bounds, is
    // those above every bound). Written cumulative with le="+Inf" last, then
    // name_sum and name_count.
    void histogram(std::string_view name, std::initializer_list<MetricLabel> labels,
                   std::span<const double> bounds, std::span<const uint64_t> counts, double sum);

    const std::string& text() const { return out_; }

    // Exposed for tests: escaping of HELP text and of label values.
    static void append_help_escaped(std::string& out, std::string_view text);
    static void append_label_escaped(std::string& out, std::string_view value);
    static void append_double(std::string& out, double value);

  private:
    void begin_sample(std::string_view name, std::initializer_list<MetricLabel> labels,
                      const MetricLabel* extra = nullptr);

    std::string out_;
};

}  // namespace wsgate::gateway
