// The pieces of the crash quarantine that need no crash: SHA-256 against the
// standard's vectors, the record format, the state folder's resolution and
// the `quarantine` command line.
#include "host/app/quarantine.h"

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "host/app/cli.h"
#include "host/plugins/sha256.h"

namespace nitric::host {
namespace {

TEST(Sha256Test, MatchesTheStandardsTestVectors) {
  // FIPS 180-4 examples (one block, two blocks) and the empty string.
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // A million 'a': many whole blocks, and 55/56/64-byte edges around it.
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(Sha256Hex(std::string(55, 'a')),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(Sha256Hex(std::string(56, 'a')),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(Sha256Hex(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(CrashRecordTest, ParsesWhatTheHandlerWritesAndRejectsAnythingElse) {
  const std::string sha(64, 'a');
  auto r = ParseCrashRecord("nitric-host crash record 1\nsha256 " + sha +
                            "\nfile echo.so\nplugin echo\nevent message handler\nsignal "
                            "SIGSEGV\ntime 1764660000\npid 42\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->sha256, sha);
  EXPECT_EQ(r->file, "echo.so");
  EXPECT_EQ(r->event, "message handler");
  EXPECT_EQ(
      DescribeCrash(*r),
      "crashed the host with SIGSEGV in its message handler at 2025-12-02T07:20:00Z (pid 42)");
  EXPECT_FALSE(ParseCrashRecord("sha256 " + sha + "\n"));  // no header
  EXPECT_FALSE(ParseCrashRecord("nitric-host crash record 1\nsha256 xyz\n"));
}

TEST(StateDirTest, CommandLineThenConfigThenSystemdThenCurrentFolder) {
  ::setenv("STATE_DIRECTORY", "/var/lib/a:/var/lib/b", 1);
  EXPECT_EQ(ResolveStateDir(std::filesystem::path("/cli"), "/conf"), "/cli");
  EXPECT_EQ(ResolveStateDir(std::nullopt, "/conf"), "/conf");
  EXPECT_EQ(ResolveStateDir(std::nullopt, ""), "/var/lib/a");
  ::unsetenv("STATE_DIRECTORY");
  EXPECT_EQ(ResolveStateDir(std::nullopt, ""), ".nitric-host");
}

TEST(QuarantineCliTest, ListOrClearWithAnOptionalFile) {
  CliOptions o;
  ASSERT_TRUE(ParseCli({"quarantine", "--list", "--state-dir", "/s"}, &o).ok());
  EXPECT_TRUE(o.quarantine && o.quarantine_list);
  EXPECT_EQ(o.state_dir, std::filesystem::path("/s"));

  CliOptions c;
  ASSERT_TRUE(ParseCli({"quarantine", "--clear", "x.so", "--state-dir=/s"}, &c).ok());
  EXPECT_TRUE(c.quarantine_clear);
  EXPECT_EQ(c.quarantine_clear_file, "x.so");

  CliOptions all;
  ASSERT_TRUE(ParseCli({"quarantine", "--clear", "--state-dir", "/s"}, &all).ok());
  EXPECT_EQ(all.quarantine_clear_file, "");

  CliOptions bad;
  Status st = ParseCli({"quarantine"}, &bad);
  EXPECT_NE(st.message().find("exactly one of --list or --clear"), std::string::npos);
  CliOptions both;
  EXPECT_FALSE(ParseCli({"quarantine", "--list", "--clear"}, &both).ok());
  CliOptions outside;
  EXPECT_FALSE(ParseCli({"--list"}, &outside).ok()) << "--list outside quarantine";
}

}  // namespace
}  // namespace nitric::host
