// The pid file's writing, in-process on real files (docs/ARCHITECTURE.md#process).
// Two real hosts racing for one pid file are in host_pid_file_test.cc.
#include "host/app/pid_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace nitric::host {
namespace {

std::string Contents(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const std::string kOwnPid = std::to_string(getpid()) + "\n";

TEST(PidFileTest, ASymlinkPlantedAtTheOldPredictableTempNameIsNotFollowed) {
  testing::TempDir dir;
  const auto pid_file = dir.path() / "host.pid";
  const auto victim = dir.path() / "victim";
  std::ofstream(victim) << "precious\n";
  // The name the host used to write through: <pid_file>.tmp.<pid>.
  const auto planted = dir.path() / ("host.pid.tmp." + std::to_string(getpid()));
  std::filesystem::create_symlink(victim, planted);

  auto created = PidFile::Create(pid_file);

  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_EQ(Contents(victim), "precious\n") << "the victim file was written through the symlink";
  EXPECT_EQ(Contents(pid_file), kOwnPid);
  EXPECT_TRUE(std::filesystem::is_symlink(planted)) << "the planted link is left alone";
  EXPECT_FALSE(std::filesystem::is_symlink(pid_file));
}

TEST(PidFileTest, ASymlinkAtThePidFileItselfIsRefusedAndNotFollowed) {
  testing::TempDir dir;
  const auto pid_file = dir.path() / "host.pid";
  const auto victim = dir.path() / "victim";
  std::ofstream(victim) << "precious\n";
  std::filesystem::create_symlink(victim, pid_file);

  auto created = PidFile::Create(pid_file);
  EXPECT_FALSE(created.ok());
  const std::string& error = created.status().message();

  EXPECT_NE(error.find("pid file " + pid_file.string() + " is a symbolic link"), std::string::npos)
      << error;
  EXPECT_EQ(Contents(victim), "precious\n");
}

TEST(PidFileTest, AFileNoHostHoldsIsReplacedWhateverItSays) {
  for (const std::string stale : {"999999999\n", "not a pid at all", ""}) {
    testing::TempDir dir;
    const auto pid_file = dir.path() / "host.pid";
    std::ofstream(pid_file) << stale;

    auto created = PidFile::Create(pid_file);

    ASSERT_TRUE(created.ok()) << "\"" << stale << "\": " << created.status().message();
    EXPECT_EQ(Contents(pid_file), kOwnPid);
  }
}

TEST(PidFileTest, TheFileIsRemovedOnDestructionAndLeavesNoTemporaryBehind) {
  testing::TempDir dir;
  const auto pid_file = dir.path() / "host.pid";
  {
    auto created = PidFile::Create(pid_file);
    ASSERT_TRUE(created.ok()) << created.status().message();
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1)
        << "only the pid file itself";
  }
  EXPECT_FALSE(std::filesystem::exists(pid_file));
}

}  // namespace
}  // namespace nitric::host
