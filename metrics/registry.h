// Named metric families and the scrape that writes them all.
//
//   metrics::Registry registry;
//   auto& events = registry.AddCounter("app_events_total", "Events handled.",
//                                      {"socket", "outcome"});
//   metrics::Counter& ok = events.With({"chat", "ok"});  // once, off the hot path
//   ok.Add();                                            // on the hot path
//   std::string text = registry.Expose();                // GET /metrics
//
// A family is one metric name with its HELP text, type and label names; each
// set of label values is one child (a Counter, Gauge or Histogram of
// metrics/metric.h). With() looks the child up under the family's mutex and
// creates it on first use: resolve children once (per socket, per plugin) and
// keep the reference, so the hot path never takes that mutex. Children are
// never removed, and references stay valid as long as the registry.
//
// Numbers that are cheaper to read when scraped than to keep up to date (a
// pool's size, the loaded plugins) are written by callbacks at scrape time:
// AddCallback() for one family, AddCollector() for a free-form writer of
// several (metrics/process.h adds the process_* families that way).
//
// Names are checked when registered: a metric name matches
// [a-zA-Z_:][a-zA-Z0-9_:]*, a label name [a-zA-Z_][a-zA-Z0-9_]* and does not
// start with "__", a histogram has no "le" label, and no two families share a
// name. A bad name, or With() given the wrong number of label values, is a
// programming error: the process prints why and aborts.
//
// Output order: families in registration order; children of a family in
// label-value order (so a scrape is stable).
//
// Thread-safety: every method may be called concurrently; registering while a
// scrape runs is allowed. Callbacks run on the scraping thread, one scrape at a
// time (Expose() serialises scrapes).
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/metric.h"
#include "metrics/text_writer.h"

namespace nitric::metrics {

class Family {
 public:
  virtual ~Family() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Writes the family's HELP, TYPE and samples.
  virtual void Write(TextWriter& writer) const = 0;

 protected:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)) {}

 private:
  std::string name_;
  std::string help_;
  Type type_;
  std::vector<std::string> label_names_;
};

// A family of children of type T (Counter, Gauge or Histogram).
template <typename T>
class MetricFamily final : public Family {
 public:
  using Factory = std::function<std::unique_ptr<T>()>;
  MetricFamily(std::string name, std::string help, Type type, std::vector<std::string> label_names,
               Factory make)
      : Family(std::move(name), std::move(help), type, std::move(label_names)),
        make_(std::move(make)) {}

  // The child for these label values (in label-name order), created on first
  // use. Takes the family's mutex: not for the hot path.
  T& With(std::initializer_list<std::string_view> values) {
    return With(std::vector<std::string>(values.begin(), values.end()));
  }
  T& With(std::vector<std::string> values);

  void Write(TextWriter& writer) const override;

 private:
  Factory make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;  // guarded by mu_
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {});
  // REQUIRES: `bounds` non-empty, finite, strictly increasing (else aborts).
  HistogramFamily& AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names, std::vector<double> bounds);

  // A family whose samples `collect` writes at scrape time (the registry
  // writes HELP and TYPE first). `collect` must write samples of `name` only
  // (for a histogram: TextWriter::Histogram with `name`).
  void AddCallback(std::string name, std::string help, Type type,
                   std::function<void(TextWriter&)> collect);
  // A free-form writer of whole families (HELP, TYPE and samples); their
  // names must not clash with registered ones (not checked).
  void AddCollector(std::function<void(TextWriter&)> collect);

  // Every family, in the text format (metrics/text_writer.h).
  std::string Expose() const;
  void ExposeTo(std::string& out) const;

 private:
  void Register(std::unique_ptr<Family> family);

  mutable std::mutex mu_;                          // registration and scrapes
  mutable std::mutex scrape_mu_;                   // one scrape at a time
  std::vector<std::unique_ptr<Family>> families_;  // guarded by mu_
};

// Name checks, exposed for collectors and tests.
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);

}  // namespace nitric::metrics
