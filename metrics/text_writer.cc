#include "metrics/text_writer.h"

#include <charconv>
#include <cmath>

namespace nitric::metrics {

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
    case Type::kUntyped:
      break;
  }
  return "untyped";
}

void AppendNumber(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buffer[64];
  // Shortest text that reads back as the same double: 0.25, 5e-05, 1e+100.
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

void AppendNumber(std::string& out, std::uint64_t value) {
  char buffer[24];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

void AppendNumber(std::string& out, std::int64_t value) {
  char buffer[24];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void AppendEscapedHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void TextWriter::Header(std::string_view name, std::string_view help, Type type) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  AppendEscapedHelp(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += TypeName(type);
  out_ += '\n';
}

void TextWriter::Series(std::string_view name, std::string_view suffix, Labels labels,
                        const Label* extra) {
  out_ += name;
  out_ += suffix;
  if (labels.empty() && extra == nullptr) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  auto append = [&](const Label& label) {
    if (!first) out_ += ',';
    first = false;
    out_ += label.name;
    out_ += "=\"";
    AppendEscapedLabelValue(out_, label.value);
    out_ += '"';
  };
  for (const Label& label : labels) append(label);
  if (extra != nullptr) append(*extra);
  out_ += "} ";
}

void TextWriter::Sample(std::string_view name, Labels labels, double value) {
  Series(name, "", labels);
  AppendNumber(out_, value);
  out_ += '\n';
}

void TextWriter::Sample(std::string_view name, Labels labels, std::uint64_t value) {
  Series(name, "", labels);
  AppendNumber(out_, value);
  out_ += '\n';
}

void TextWriter::Sample(std::string_view name, Labels labels, std::int64_t value) {
  Series(name, "", labels);
  AppendNumber(out_, value);
  out_ += '\n';
}

void TextWriter::Histogram(std::string_view name, Labels labels, const HistogramData& data) {
  std::uint64_t cumulative = 0;
  std::string bound;
  for (std::size_t i = 0; i <= data.bounds.size(); ++i) {
    if (i < data.counts.size()) cumulative += data.counts[i];
    bound.clear();
    if (i < data.bounds.size()) {
      AppendNumber(bound, data.bounds[i]);
    } else {
      bound = "+Inf";
    }
    Label le{"le", bound};
    Series(name, "_bucket", labels, &le);
    AppendNumber(out_, cumulative);
    out_ += '\n';
  }
  Series(name, "_sum", labels);
  AppendNumber(out_, data.sum);
  out_ += '\n';
  Series(name, "_count", labels);
  AppendNumber(out_, cumulative);
  out_ += '\n';
}

}  // namespace nitric::metrics
