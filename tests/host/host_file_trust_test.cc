// Plugin file permissions, like sshd's StrictModes (docs/ARCHITECTURE.md#reload-failures): each
// insecure layout is refused with the file, its mode, its owner and the fix,
// by the serving host and by --check (non-zero exit), and
// host.insecure_plugins = true loads it with a warning. Real binary, real
// .so files, real files and modes.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

namespace fs = std::filesystem;

class FileTrustTest : public HostTest {
 protected:
  // `nitric-host --check` on the plugins folder: exit code; output in *out.
  int Check(std::string* out, const std::vector<std::string>& extra = {}) {
    HostProcess check;
    std::vector<std::string> args{"--check", "--plugins", plugins_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const int code = check.Run(args);
    *out = check.stdout_text() + check.stderr_text();
    return code;
  }
  void Chmod(const fs::path& path, mode_t mode) { ASSERT_EQ(::chmod(path.c_str(), mode), 0); }
};

TEST_F(FileTrustTest, AGroupAndOtherWritablePluginIsRefusedWithItsModeOwnerAndFix) {
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("build")));
  ASSERT_NO_FATAL_FAILURE(Chmod(plugins_ / "build.so", 0666));
  const std::string want = "plugin " + (plugins_ / "build.so").string() +
                           " is writable by group and others (mode 0666, owner ";
  const std::string fix = "fix: chmod go-w " + (plugins_ / "build.so").string();

  std::string out;
  EXPECT_EQ(Check(&out), 1);
  EXPECT_NE(out.find("FAILED  build.so: " + want), std::string::npos) << out;
  EXPECT_NE(out.find(fix), std::string::npos) << out;
  EXPECT_NE(out.find("ok      ctest.so"), std::string::npos) << out;

  // The serving host: refused, the other plugin serves.
  ASSERT_NO_FATAL_FAILURE(StartHost());
  EXPECT_NE(host_.stderr_text().find("plugin build.so: refused: " + want), std::string::npos);
  auto client = Connect("ctest");
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("served"));
  auto reply = client->Receive(10s);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "served");
}

TEST_F(FileTrustTest, AGroupWritablePluginsFolderRefusesEveryPlugin) {
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(Chmod(plugins_, 0775));
  std::string out;
  EXPECT_EQ(Check(&out), 1);
  EXPECT_NE(
      out.find("plugins folder " + plugins_.string() + " is writable by group (mode 0775, owner "),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("fix: chmod go-w " + plugins_.string()), std::string::npos) << out;
  EXPECT_EQ(out.find("ok      ctest.so"), std::string::npos) << out;
}

TEST_F(FileTrustTest, ASymlinkLeavingTheFolderIsRefusedAndOneInsideItIsFollowed) {
  fs::create_symlink(TestPlugin("ctest"), plugins_ / "ctest.so");  // outside
  fs::create_directories(plugins_ / "builds");
  fs::copy_file(TestPlugin("build"), plugins_ / "builds" / "build-7.so");
  fs::create_symlink("builds/build-7.so", plugins_ / "build.so");  // inside
  std::string out;
  EXPECT_EQ(Check(&out), 1);
  EXPECT_NE(out.find("FAILED  ctest.so: plugin " + (plugins_ / "ctest.so").string() +
                     " is a symlink to " + fs::canonical(TestPlugin("ctest")).string() +
                     ", outside the plugins folder"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("ok      build.so"), std::string::npos) << out;

  // A symlink inside the folder to a file others can write is refused too.
  ASSERT_NO_FATAL_FAILURE(Chmod(plugins_ / "builds" / "build-7.so", 0646));
  EXPECT_EQ(Check(&out), 1);
  EXPECT_NE(out.find("FAILED  build.so: plugin " + (plugins_ / "builds" / "build-7.so").string() +
                     " is writable by others (mode 0646"),
            std::string::npos)
      << out;
}

TEST_F(FileTrustTest, APluginOwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user";
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_EQ(::chown((plugins_ / "ctest.so").c_str(), 65534, 65534), 0);
  std::string out;
  EXPECT_EQ(Check(&out), 1);
  EXPECT_NE(
      out.find("FAILED  ctest.so: plugin " + (plugins_ / "ctest.so").string() + " is owned by "),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("uid 65534"), std::string::npos) << out;
  EXPECT_NE(out.find("fix: chown 0 " + (plugins_ / "ctest.so").string()), std::string::npos) << out;
}

TEST_F(FileTrustTest, InsecurePluginsTurnsEveryRefusalIntoAWarning) {
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(Chmod(plugins_ / "ctest.so", 0666));
  ASSERT_NO_FATAL_FAILURE(Chmod(plugins_, 0777));
  UseConfig("[host]\ninsecure_plugins = true\n");
  std::string out;
  EXPECT_EQ(Check(&out, {"--config", config_->string()}), 0) << out;
  EXPECT_NE(out.find("ok      ctest.so"), std::string::npos) << out;
  EXPECT_NE(out.find("is writable by group and others (mode 0666"), std::string::npos) << out;
  EXPECT_NE(out.find("(loaded anyway: host.insecure_plugins = true)"), std::string::npos) << out;
}

}  // namespace
}  // namespace nitric::testing
