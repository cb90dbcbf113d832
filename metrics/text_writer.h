// The Prometheus text exposition format, version 0.0.4: what a scraper reads
// at GET /metrics. One writer appends to one string; it knows nothing of where
// the numbers come from (metrics/registry.h collects them).
//
// Format rules it follows (and tests/metrics/ checks with promtool):
//   # HELP <name> <help, with \ and newline escaped>
//   # TYPE <name> counter|gauge|histogram|untyped
//   <name>{<label>="<value, with \ " and newline escaped>",...} <value>
// Values: integers exactly, other numbers in the shortest form that reads back
// the same (std::to_chars), and +Inf, -Inf, NaN. A histogram is written as
// cumulative <name>_bucket{...,le="<bound>"} samples ending with le="+Inf",
// then <name>_sum and <name>_count.
//
// Names are not checked here (metrics/registry.h checks them when a family is
// registered); a hand-written collector must pass valid names.
//
// Thread-safety: one writer per thread; it holds no shared state.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace nitric::metrics {

// The Content-Type of an exposition in this format.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class Type { kCounter, kGauge, kHistogram, kUntyped };

// "counter", "gauge", "histogram", "untyped".
std::string_view TypeName(Type type);

struct Label {
  std::string_view name;
  std::string_view value;
};
using Labels = std::span<const Label>;

// One histogram's numbers as a scrape sees them. `counts[i]` is the number of
// observations in bucket i alone (not cumulative): bucket i holds values
// <= bounds[i] and > bounds[i-1]; counts[bounds.size()] is the +Inf bucket
// (values above the last bound, and NaN). The writer makes them cumulative.
struct HistogramData {
  std::span<const double> bounds;
  std::span<const std::uint64_t> counts;  // bounds.size() + 1 entries
  double sum = 0;
};

class TextWriter {
 public:
  // Appends to `out`, which must outlive the writer.
  explicit TextWriter(std::string& out) : out_(out) {}

  // The # HELP and # TYPE lines that open a family. Write them once per name,
  // before its samples.
  void Header(std::string_view name, std::string_view help, Type type);

  // One sample line.
  void Sample(std::string_view name, Labels labels, double value);
  void Sample(std::string_view name, Labels labels, std::uint64_t value);
  void Sample(std::string_view name, Labels labels, std::int64_t value);
  void Sample(std::string_view name, std::initializer_list<Label> labels, double value) {
    Sample(name, Labels(labels.begin(), labels.size()), value);
  }

  // A histogram's _bucket, _sum and _count lines. `labels` must not contain
  // "le".
  void Histogram(std::string_view name, Labels labels, const HistogramData& data);

 private:
  void Series(std::string_view name, std::string_view suffix, Labels labels,
              const Label* extra = nullptr);

  std::string& out_;
};

// Formatting pieces, exposed for tests and for hand-written collectors.
void AppendNumber(std::string& out, double value);
void AppendNumber(std::string& out, std::uint64_t value);
void AppendNumber(std::string& out, std::int64_t value);
void AppendEscapedLabelValue(std::string& out, std::string_view value);  // \\ \" \n
void AppendEscapedHelp(std::string& out, std::string_view help);         // \\ \n

}  // namespace nitric::metrics
