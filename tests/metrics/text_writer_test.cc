// The text format 0.0.4 as the writer produces it, line by line.
#include "metrics/text_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace nitric::metrics {
namespace {

std::string Number(double value) {
  std::string out;
  AppendNumber(out, value);
  return out;
}

TEST(TextWriterTest, HeaderHasHelpThenType) {
  std::string out;
  TextWriter(out).Header("app_events_total", "Events handled.", Type::kCounter);
  EXPECT_EQ(out,
            "# HELP app_events_total Events handled.\n"
            "# TYPE app_events_total counter\n");
}

TEST(TextWriterTest, HelpEscapesBackslashAndNewlineOnly) {
  std::string out;
  TextWriter(out).Header("g", "a \\ b\nc \"q\"", Type::kGauge);
  EXPECT_EQ(out, "# HELP g a \\\\ b\\nc \"q\"\n# TYPE g gauge\n");
}

TEST(TextWriterTest, LabelValuesEscapeBackslashQuoteAndNewline) {
  std::string out;
  std::vector<Label> labels{{"socket", "a\\b\"c\nd"}, {"event", "message"}};
  TextWriter(out).Sample("x_total", labels, std::uint64_t{3});
  EXPECT_EQ(out, "x_total{socket=\"a\\\\b\\\"c\\nd\",event=\"message\"} 3\n");
}

TEST(TextWriterTest, SampleWithoutLabelsHasNoBraces) {
  std::string out;
  TextWriter writer(out);
  writer.Sample("up", Labels{}, 1.0);
  writer.Sample("neg", Labels{}, std::int64_t{-7});
  EXPECT_EQ(out, "up 1\nneg -7\n");
}

TEST(TextWriterTest, NumbersAreShortestExactOrSpecial) {
  EXPECT_EQ(Number(0.25), "0.25");
  EXPECT_EQ(Number(5e-05), "5e-05");
  EXPECT_EQ(Number(10), "10");
  EXPECT_EQ(Number(0.1), "0.1");
  EXPECT_EQ(Number(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(Number(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(Number(std::nan("")), "NaN");
  std::string big;
  AppendNumber(big, std::uint64_t{18446744073709551615u});
  EXPECT_EQ(big, "18446744073709551615");
}

TEST(TextWriterTest, HistogramIsCumulativeWithInfSumAndCount) {
  std::string out;
  std::vector<double> bounds{0.001, 0.01};
  std::vector<std::uint64_t> counts{2, 0, 5};  // per bucket; the last is +Inf
  std::vector<Label> labels{{"socket", "chat"}};
  TextWriter(out).Histogram("d_seconds", labels, HistogramData{bounds, counts, 12.5});
  EXPECT_EQ(out,
            "d_seconds_bucket{socket=\"chat\",le=\"0.001\"} 2\n"
            "d_seconds_bucket{socket=\"chat\",le=\"0.01\"} 2\n"
            "d_seconds_bucket{socket=\"chat\",le=\"+Inf\"} 7\n"
            "d_seconds_sum{socket=\"chat\"} 12.5\n"
            "d_seconds_count{socket=\"chat\"} 7\n");
}

TEST(TextWriterTest, HistogramWithoutLabelsHasOnlyLe) {
  std::string out;
  std::vector<double> bounds{1};
  std::vector<std::uint64_t> counts{1, 1};
  TextWriter(out).Histogram("h", Labels{}, HistogramData{bounds, counts, 3});
  EXPECT_EQ(out,
            "h_bucket{le=\"1\"} 1\n"
            "h_bucket{le=\"+Inf\"} 2\n"
            "h_sum 3\n"
            "h_count 2\n");
}

}  // namespace
}  // namespace nitric::metrics
