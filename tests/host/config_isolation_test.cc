// The config keys of handler isolation (docs/ARCHITECTURE.md#isolation: pool,
// handler deadline, queue bound, stop deadline): defaults, values, ranges, and
// max_workers below workers.
#include <gtest/gtest.h>

#include "host/config/config.h"

namespace nitric::host {
namespace {

ConfigResult Parse(const std::string& text) { return ParseConfig(text, "/etc/nitric-host.toml"); }

TEST(IsolationConfigTest, DefaultsAreTheIssuesValues) {
  ConfigResult r = Parse("");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.config.max_workers, 256);
  EXPECT_EQ(r.config.handler_timeout.count(), 30000);
  EXPECT_EQ(r.config.max_queued_events_per_connection, 1024);
  EXPECT_EQ(r.config.shutdown_timeout.count(), 30000);
}

TEST(IsolationConfigTest, KeysAreRead) {
  ConfigResult r = Parse(
      "[host]\nworkers = 8\nmax_workers = 64\nhandler_timeout_ms = 0\n"
      "max_queued_events_per_connection = 5\nshutdown_timeout_ms = 250\n");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.config.workers, 8);
  EXPECT_EQ(r.config.max_workers, 64);
  EXPECT_EQ(r.config.handler_timeout.count(), 0);
  EXPECT_EQ(r.config.max_queued_events_per_connection, 5);
  EXPECT_EQ(r.config.shutdown_timeout.count(), 250);
}

TEST(IsolationConfigTest, MaxWorkersBelowWorkersIsRaisedWithAWarning) {
  ConfigResult r = Parse("[host]\nworkers = 8\nmax_workers = 2\n");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.config.max_workers, 8);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("host.max_workers (2) is below host.workers (8); using 8"),
            std::string::npos)
      << r.warnings[0];
}

TEST(IsolationConfigTest, OutOfRangeValuesAreErrorsNamingTheKey) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c : {
           Case{"[host]\nhandler_timeout_ms = -1\n",
                "host.handler_timeout_ms: expected 0..86400000; got -1"},
           Case{"[host]\nshutdown_timeout_ms = 0\n",
                "host.shutdown_timeout_ms: expected 1..86400000; got 0"},
           Case{"[host]\nmax_queued_events_per_connection = 0\n",
                "host.max_queued_events_per_connection: expected 1..1000000; got 0"},
           Case{"[host]\nmax_workers = 0\n", "host.max_workers: expected 1..4096; got 0"},
           Case{"[host]\nmax_workers = \"many\"\n",
                "host.max_workers: expected an integer, got a string"},
       }) {
    ConfigResult r = Parse(c.text);
    EXPECT_FALSE(r.status.ok()) << c.text;
    EXPECT_NE(r.status.message().find(c.error), std::string::npos) << r.status.message();
    EXPECT_NE(r.status.message().find("/etc/nitric-host.toml:2:"), std::string::npos)
        << r.status.message();
  }
}

}  // namespace
}  // namespace nitric::host
