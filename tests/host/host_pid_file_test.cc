// Two real nitric-host processes started at once on one pid file
// (docs/ARCHITECTURE.md#process): the file's lock decides, so exactly one
// runs and the other
// says which file and which pid hold it.
#include <signal.h>

#include <array>
#include <string>

#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

using PidFileRaceTest = HostTest;

TEST_F(PidFileRaceTest, OfTwoHostsStartedAtOnceOnOnePidFileExactlyOneRuns) {
  const auto pid_file = dir_.path() / "host.pid";
  const std::vector<std::string> args{"--plugins", plugins_.string(), "--pid-file",
                                      pid_file.string()};
  const std::map<std::string, std::string> env{{"SERVICE_ADDRESS", membrane_.grpc_address()}};
  std::array<HostProcess, 2> hosts;
  for (auto& host : hosts) ASSERT_TRUE(host.Start(args, env));

  // Each host either becomes ready or exits without saying so.
  std::array<bool, 2> ready{};
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    ready[i] = hosts[i].WaitForStderr("] ready: ", 60s);
  }
  ASSERT_NE(ready[0], ready[1]) << "exactly one host runs\n--- host 0:\n"
                                << hosts[0].stderr_text() << "--- host 1:\n"
                                << hosts[1].stderr_text();
  HostProcess& winner = ready[0] ? hosts[0] : hosts[1];
  HostProcess& loser = ready[0] ? hosts[1] : hosts[0];

  EXPECT_EQ(loser.Wait(30s), 1);
  EXPECT_NE(loser.stderr_text().find("pid file " + pid_file.string() +
                                     " belongs to another running nitric-host (pid " +
                                     std::to_string(winner.pid()) + ")"),
            std::string::npos)
      << loser.stderr_text();
  EXPECT_EQ(ReadFile(pid_file), std::to_string(winner.pid()) + "\n");

  // The winner is unharmed: it still takes a reload through its pid file.
  HostProcess reload;
  EXPECT_EQ(reload.Run({"reload", "--pid-file", pid_file.string()}), 0) << reload.stderr_text();
  EXPECT_TRUE(winner.WaitForStderr("] reload ("));
  winner.Signal(SIGTERM);
  EXPECT_EQ(winner.Wait(30s), 0);
  EXPECT_FALSE(std::filesystem::exists(pid_file));
}

}  // namespace
}  // namespace nitric::testing
