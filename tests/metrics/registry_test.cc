// The registry: families, children by label values, callbacks, the order of
// a scrape, and the names it refuses.
#include "metrics/registry.h"

#include <gtest/gtest.h>

namespace nitric::metrics {
namespace {

TEST(RegistryTest, ExposesFamiliesInRegistrationOrderChildrenByLabelValue) {
  Registry registry;
  auto& events = registry.AddCounter("app_events_total", "Events.", {"socket", "outcome"});
  auto& open = registry.AddGauge("app_open", "Open things.");
  events.With({"chat", "rejected"}).Add(2);
  events.With({"chat", "ok"}).Add(3);
  open.With({}).Set(4);
  EXPECT_EQ(registry.Expose(),
            "# HELP app_events_total Events.\n"
            "# TYPE app_events_total counter\n"
            "app_events_total{socket=\"chat\",outcome=\"ok\"} 3\n"
            "app_events_total{socket=\"chat\",outcome=\"rejected\"} 2\n"
            "# HELP app_open Open things.\n"
            "# TYPE app_open gauge\n"
            "app_open 4\n");
}

TEST(RegistryTest, WithReturnsTheSameChildForTheSameValues) {
  Registry registry;
  auto& family = registry.AddCounter("c_total", "C.", {"a"});
  Counter& first = family.With({"x"});
  Counter& again = family.With({"x"});
  Counter& other = family.With({"y"});
  EXPECT_EQ(&first, &again);
  EXPECT_NE(&first, &other);
}

TEST(RegistryTest, HistogramFamilyWritesBucketsSumAndCount) {
  Registry registry;
  auto& family = registry.AddHistogram("d_seconds", "D.", {"socket"}, {0.1, 1});
  family.With({"chat"}).Observe(0.5);
  EXPECT_EQ(registry.Expose(),
            "# HELP d_seconds D.\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{socket=\"chat\",le=\"0.1\"} 0\n"
            "d_seconds_bucket{socket=\"chat\",le=\"1\"} 1\n"
            "d_seconds_bucket{socket=\"chat\",le=\"+Inf\"} 1\n"
            "d_seconds_sum{socket=\"chat\"} 0.5\n"
            "d_seconds_count{socket=\"chat\"} 1\n");
}

TEST(RegistryTest, CallbacksRunAtEachScrape) {
  Registry registry;
  int scrapes = 0;
  registry.AddCallback("scrapes", "Scrapes so far.", Type::kGauge, [&](TextWriter& writer) {
    writer.Sample("scrapes", Labels{}, static_cast<double>(++scrapes));
  });
  registry.AddCollector([](TextWriter& writer) {
    writer.Header("free", "Free-form.", Type::kUntyped);
    writer.Sample("free", {{"k", "v"}}, 1.0);
  });
  EXPECT_EQ(registry.Expose(),
            "# HELP scrapes Scrapes so far.\n# TYPE scrapes gauge\nscrapes 1\n"
            "# HELP free Free-form.\n# TYPE free untyped\nfree{k=\"v\"} 1\n");
  EXPECT_NE(registry.Expose().find("scrapes 2\n"), std::string::npos);
}

TEST(RegistryTest, NameChecks) {
  EXPECT_TRUE(IsValidMetricName("nitric_host:events_total"));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_TRUE(IsValidLabelName("socket"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("__name"));
}

using RegistryDeathTest = ::testing::Test;

TEST_F(RegistryDeathTest, BadNamesAbortWithTheReason) {
  EXPECT_DEATH(Registry().AddCounter("bad-name", "x"), "invalid metric name \"bad-name\"");
  EXPECT_DEATH(Registry().AddGauge("g", "x", {"__x"}), "invalid label name \"__x\"");
  EXPECT_DEATH(Registry().AddHistogram("h", "x", {"le"}, {1}), "may not have a label \"le\"");
  EXPECT_DEATH(Registry().AddHistogram("h", "x", {}, {2, 1}), "strictly increasing");
  EXPECT_DEATH(
      {
        Registry registry;
        registry.AddCounter("c_total", "x");
        registry.AddGauge("c_total", "y");
      },
      "registered twice");
}

TEST_F(RegistryDeathTest, WrongNumberOfLabelValuesAborts) {
  EXPECT_DEATH(Registry().AddCounter("c_total", "x", {"a", "b"}).With({"only"}),
               "has 2 label\\(s\\), With\\(\\) was given 1");
}

}  // namespace
}  // namespace nitric::metrics
