#include "metrics/registry.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace nitric::metrics {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "nitric metrics: %s (a programming error; see metrics/registry.h)\n",
               what.c_str());
  std::abort();
}

bool IsNameChar(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool IsValidName(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, colon)) return false;
  }
  return true;
}

void CheckNames(const std::string& name, const std::vector<std::string>& label_names,
                bool histogram) {
  if (!IsValidMetricName(name)) Fail("invalid metric name \"" + name + "\"");
  std::set<std::string_view> seen;
  for (const std::string& label : label_names) {
    if (!IsValidLabelName(label)) {
      Fail("metric " + name + ": invalid label name \"" + label + "\"");
    }
    if (histogram && label == "le") Fail("histogram " + name + " may not have a label \"le\"");
    if (!seen.insert(label).second) Fail("metric " + name + ": label \"" + label + "\" twice");
  }
}

std::vector<Label> LabelsOf(const std::vector<std::string>& names,
                            const std::vector<std::string>& values) {
  std::vector<Label> labels;
  labels.reserve(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) labels.push_back({names[i], values[i]});
  return labels;
}

void WriteChild(TextWriter& writer, const std::string& name, Labels labels, const Counter& c) {
  writer.Sample(name, labels, c.Value());
}
void WriteChild(TextWriter& writer, const std::string& name, Labels labels, const Gauge& g) {
  writer.Sample(name, labels, g.Value());
}
void WriteChild(TextWriter& writer, const std::string& name, Labels labels, const Histogram& h) {
  Histogram::Snapshot snapshot = h.Read();
  writer.Histogram(name, labels, HistogramData{h.bounds(), snapshot.counts, snapshot.sum});
}

class CallbackFamily final : public Family {
 public:
  CallbackFamily(std::string name, std::string help, Type type,
                 std::function<void(TextWriter&)> collect, bool header)
      : Family(std::move(name), std::move(help), type, {}),
        collect_(std::move(collect)),
        header_(header) {}
  void Write(TextWriter& writer) const override {
    if (header_) writer.Header(name(), help(), type());
    collect_(writer);
  }

 private:
  std::function<void(TextWriter&)> collect_;
  bool header_;
};

}  // namespace

bool IsValidMetricName(std::string_view name) { return IsValidName(name, /*colon=*/true); }

bool IsValidLabelName(std::string_view name) {
  return IsValidName(name, /*colon=*/false) && !name.starts_with("__");
}

template <typename T>
T& MetricFamily<T>::With(std::vector<std::string> values) {
  if (values.size() != label_names().size()) {
    Fail("metric " + name() + " has " + std::to_string(label_names().size()) +
         " label(s), With() was given " + std::to_string(values.size()) + " value(s)");
  }
  std::lock_guard lock(mu_);
  auto [it, inserted] = children_.try_emplace(std::move(values));
  if (inserted) it->second = make_();
  return *it->second;
}

template <typename T>
void MetricFamily<T>::Write(TextWriter& writer) const {
  writer.Header(name(), help(), type());
  std::lock_guard lock(mu_);
  for (const auto& [values, child] : children_) {
    std::vector<Label> labels = LabelsOf(label_names(), values);
    WriteChild(writer, name(), labels, *child);
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

Registry::Registry() = default;
Registry::~Registry() = default;

void Registry::Register(std::unique_ptr<Family> family) {
  std::lock_guard lock(mu_);
  if (!family->name().empty()) {
    for (const auto& existing : families_) {
      if (existing->name() == family->name()) {
        Fail("metric " + family->name() + " registered twice");
      }
    }
  }
  families_.push_back(std::move(family));
}

CounterFamily& Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  CheckNames(name, label_names, false);
  auto family = std::make_unique<CounterFamily>(std::move(name), std::move(help), Type::kCounter,
                                                std::move(label_names),
                                                [] { return std::make_unique<Counter>(); });
  CounterFamily& ref = *family;
  Register(std::move(family));
  return ref;
}

GaugeFamily& Registry::AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names) {
  CheckNames(name, label_names, false);
  auto family = std::make_unique<GaugeFamily>(std::move(name), std::move(help), Type::kGauge,
                                              std::move(label_names),
                                              [] { return std::make_unique<Gauge>(); });
  GaugeFamily& ref = *family;
  Register(std::move(family));
  return ref;
}

HistogramFamily& Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds) {
  CheckNames(name, label_names, true);
  if (bounds.empty()) Fail("histogram " + name + " has no buckets");
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      Fail("histogram " + name + ": bucket bounds must be finite and strictly increasing");
    }
  }
  auto shared = std::make_shared<const std::vector<double>>(std::move(bounds));
  auto family = std::make_unique<HistogramFamily>(
      std::move(name), std::move(help), Type::kHistogram, std::move(label_names),
      [shared] { return std::make_unique<Histogram>(shared); });
  HistogramFamily& ref = *family;
  Register(std::move(family));
  return ref;
}

void Registry::AddCallback(std::string name, std::string help, Type type,
                           std::function<void(TextWriter&)> collect) {
  CheckNames(name, {}, false);
  Register(std::make_unique<CallbackFamily>(std::move(name), std::move(help), type,
                                            std::move(collect), /*header=*/true));
}

void Registry::AddCollector(std::function<void(TextWriter&)> collect) {
  Register(std::make_unique<CallbackFamily>("", "", Type::kUntyped, std::move(collect),
                                            /*header=*/false));
}

void Registry::ExposeTo(std::string& out) const {
  std::lock_guard scrape(scrape_mu_);
  std::vector<const Family*> families;
  {
    std::lock_guard lock(mu_);
    families.reserve(families_.size());
    for (const auto& family : families_) families.push_back(family.get());
  }
  TextWriter writer(out);
  for (const Family* family : families) family->Write(writer);
}

std::string Registry::Expose() const {
  std::string out;
  ExposeTo(out);
  return out;
}

}  // namespace nitric::metrics
