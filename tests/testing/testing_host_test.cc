// The testing kit's contract (nitric/testing.hpp), through the test plugins
// of tests/plugins (ctest.c's contract, which cpptest.cc shares, and
// handover.c's). Linked like a plugin author's test: NitricPlugin::testing
// and GoogleTest, nothing of the host.
#include <nitric/testing.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;
using nitric::testing::Host;

const fs::path kTestPlugins = NITRIC_TEST_PLUGIN_DIR;

// Every line of `logs` containing `part`.
size_t Count(const std::vector<std::string>& logs, std::string_view part) {
  return static_cast<size_t>(std::count_if(logs.begin(), logs.end(), [&](const std::string& l) {
    return l.find(part) != std::string::npos;
  }));
}

std::string All(const std::vector<std::string>& logs) {
  std::string out;
  for (const auto& line : logs) out += line + "\n";
  return out;
}

// ---- loading ----

TEST(TestingHostLoad, GivesThePluginsNameOrTheHostsReasonForRefusingIt) {
  Host host;
  auto loaded = host.Load(kTestPlugins / "cpptest.so");
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_EQ(loaded.name(), "cpptest");
  EXPECT_TRUE(loaded.error().empty());

  auto broken = host.Load(kTestPlugins / "broken" / "noentry.so");
  EXPECT_FALSE(broken.ok());
  EXPECT_NE(broken.error().find("noentry.so has no entry symbol nitric_plugin_entry"),
            std::string::npos)
      << broken.error();

  auto missing = host.Load(kTestPlugins / "no-such-plugin.so");
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("cannot read plugin file"), std::string::npos) << missing.error();

  auto failing = host.Load(kTestPlugins / "broken" / "initfail.so");
  EXPECT_FALSE(failing.ok());
  EXPECT_NE(failing.error().find("failed to initialise"), std::string::npos) << failing.error();
}

TEST(TestingHostLoad, RefusesASecondPluginOfTheSameName) {
  Host host;
  ASSERT_TRUE(host.Load(kTestPlugins / "cpptest.so").ok());
  auto again = host.Load(kTestPlugins / "cpptest.so");
  EXPECT_FALSE(again.ok());
  EXPECT_NE(again.error().find("is named 'cpptest' like the loaded cpptest.so"), std::string::npos)
      << again.error();
  // The first one still serves.
  EXPECT_EQ(host.Message("cpptest", "c1", "hi"), NITRIC_OK);
  EXPECT_EQ(host.Sent("cpptest", "c1"), std::vector<std::string>{"hi"});
}

TEST(TestingHostConfig, HandsEachPluginItsTable) {
  Host host(R"(
    [plugins.cpptest]
    socket = "room"
    store = "members"
  )");
  ASSERT_TRUE(host.Load(kTestPlugins / "cpptest.so").ok());
  EXPECT_EQ(host.Message("room", "c1", R"(kv:set:k:{"v":1})"), NITRIC_OK);
  EXPECT_EQ(host.KvGet("members", "k"), std::optional<std::string>(R"({"v":1})"));
}

TEST(TestingHostConfig, ATextTheHostWouldNotAcceptFailsEveryLoadWithItsReason) {
  Host broken("[plugins.cpptest\nsocket = 1\n");
  auto loaded = broken.Load(kTestPlugins / "cpptest.so");
  EXPECT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().find("testing-config.toml:1:"), std::string::npos) << loaded.error();

  Host typo("[hots]\nworkers = 2\n");
  loaded = typo.Load(kTestPlugins / "cpptest.so");
  EXPECT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().find("unknown key hots"), std::string::npos) << loaded.error();
}

// ---- events ----

TEST(TestingHostEvents, ConnectSeesTheQueryAndAnswersAcceptOrReject) {
  Host host;
  ASSERT_TRUE(host.Load(kTestPlugins / "ctest.so").ok());
  EXPECT_FALSE(host.Connect("ctest", "c1", {{"token", {"bad"}}}));
  EXPECT_TRUE(host.Connect("ctest", "c2", {{"echo_query", {"1"}}, {"b", {"x", "y"}}}));
  EXPECT_EQ(host.Message("ctest", "c2", "hello"), NITRIC_OK);
  EXPECT_EQ(host.Sent("ctest", "c2"),
            (std::vector<std::string>{R"(query:{"b":["x","y"],"echo_query":["1"]})", "hello"}));
}

TEST(TestingHostEvents, MessageReturnsTheFirstFailureAndTheHostLogsIt) {
  Host host;
  ASSERT_TRUE(host.Load(kTestPlugins / "cpptest.so").ok());
  EXPECT_EQ(host.Message("cpptest", "c1", "fail"), NITRIC_ERR_HANDLER);
  const auto logs = host.Logs();
  EXPECT_EQ(Count(logs,
                  "[cpptest] [error] message handler failed on socket cpptest (connection "
                  "c1): HANDLER: fail requested"),
            1u)
      << All(logs);
}

TEST(TestingHostEvents, AnEventForASocketNoPluginDeclaredIsNotDelivered) {
  Host host;
  ASSERT_TRUE(host.Load(kTestPlugins / "cpptest.so").ok());
  EXPECT_FALSE(host.Connect("lobby", "c1"));
  EXPECT_EQ(host.Message("lobby", "c1", "hi"), NITRIC_ERR_NOT_FOUND);
  EXPECT_EQ(Count(host.Logs(),
                  "[nitric.testing] [error] Message(\"lobby\", \"c1\"): no loaded "
                  "plugin declared websocket 'lobby'"),
            1u)
      << All(host.Logs());
}

TEST(TestingHostEvents, BinaryMessagesArriveByteForByte) {
  Host host;
  ASSERT_TRUE(host.Load(kTestPlugins / "ctest.so").ok());
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(host.Message("ctest", "c1", all), NITRIC_OK);
  EXPECT_EQ(host.Sent("ctest", "c1"), std::vector<std::string>{all});
}

// ---- the membrane ----

TEST(TestingHostMembrane, KvIsSharedBetweenThePluginAndTheTest) {
  Host host;
  ASSERT_TRUE(host.Load(kTestPlugins / "cpptest.so").ok());
  // As on the wire, the value goes through google.protobuf.Struct.
  EXPECT_EQ(host.Message("cpptest", "c1", R"(kv:set:a/1:{ "n" : 3, "s": "x" })"), NITRIC_OK);
  EXPECT_EQ(host.KvGet("cpptest", "a/1"), std::optional<std::string>(R"({"n":3,"s":"x"})"));

  // Keys sorted at every level (a real membrane's order is arbitrary).
  EXPECT_TRUE(
      host.KvSet("cpptest", "nested", R"({"z":[{"b":1,"a":true}],"y":{"d":null,"c":"q"}})"));
  EXPECT_EQ(host.KvGet("cpptest", "nested"),
            std::optional<std::string>(R"({"y":{"c":"q","d":null},"z":[{"a":true,"b":1}]})"));
  host.KvDelete("cpptest", "nested");

  EXPECT_TRUE(host.KvSet("cpptest", "a/2", R"({"n":2})"));
  EXPECT_TRUE(host.KvSet("cpptest", "b/1", R"({})"));
  EXPECT_FALSE(host.KvSet("cpptest", "bad", "[1]")) << "not a JSON object";
  EXPECT_EQ(host.KvKeys("cpptest", "a/"), (std::vector<std::string>{"a/1", "a/2"}));
  EXPECT_EQ(host.KvKeys("cpptest"), (std::vector<std::string>{"a/1", "a/2", "b/1"}));
  EXPECT_EQ(host.Message("cpptest", "c1", "kv:get:a/2"), NITRIC_OK);

  host.KvDelete("cpptest", "a/1");
  EXPECT_EQ(host.KvGet("cpptest", "a/1"), std::nullopt);
  EXPECT_EQ(host.Message("cpptest", "c1", "kv:get:a/1"), NITRIC_OK);
  EXPECT_EQ(host.Message("cpptest", "c1", "kv:keys:"), NITRIC_OK);
  const auto sent = host.Sent("cpptest", "c1");
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[1], R"({"n":2})");
  EXPECT_EQ(sent[2].rfind("error:NOT_FOUND:", 0), 0u) << sent[2];
  EXPECT_EQ(sent[3], R"(["a/2","b/1"])");
}

TEST(TestingHostMembrane, SendsToAConnectionMadeToFailFailTheHandlerUntilCleared) {
  Host host;
  ASSERT_TRUE(host.Load(kTestPlugins / "cpptest.so").ok());
  host.FailSendsTo("cpptest", "c2", NITRIC_ERR_NOT_FOUND);
  EXPECT_EQ(host.Message("cpptest", "c1", "one"), NITRIC_OK);
  EXPECT_EQ(host.Message("cpptest", "c2", "two"), NITRIC_ERR_NOT_FOUND);
  EXPECT_TRUE(host.Sent("cpptest", "c2").empty());
  EXPECT_FALSE(host.Connect("cpptest", "c2", {{"greet", {"1"}}})) << "its welcome failed";
  EXPECT_EQ(Count(host.Logs(), "FailSendsTo"), 2u) << All(host.Logs());

  host.FailSendsTo("cpptest", "c2", NITRIC_OK);
  EXPECT_EQ(host.Message("cpptest", "c2", "three"), NITRIC_OK);
  EXPECT_EQ(host.Sent("cpptest", "c2"), std::vector<std::string>{"three"});
  EXPECT_EQ(host.Sent("cpptest", "c1"), std::vector<std::string>{"one"});
}

TEST(TestingHostMembrane, WhileDownEveryMembraneCallIsUnavailable) {
  Host host;
  ASSERT_TRUE(host.Load(kTestPlugins / "cpptest.so").ok());
  ASSERT_TRUE(host.KvSet("cpptest", "k", R"({"v":1})"));
  host.SetMembraneDown(true);
  // kv:get fails, and so does the send of its error text.
  EXPECT_EQ(host.Message("cpptest", "c1", "kv:get:k"), NITRIC_ERR_UNAVAILABLE);
  EXPECT_EQ(host.Message("cpptest", "c1", "close"), NITRIC_ERR_UNAVAILABLE);
  EXPECT_FALSE(host.Closed("cpptest", "c1"));
  EXPECT_TRUE(host.Sent("cpptest", "c1").empty());
  EXPECT_EQ(host.KvGet("cpptest", "k"), std::optional<std::string>(R"({"v":1})"))
      << "the test's own view of the store does not go through the membrane";

  host.SetMembraneDown(false);
  EXPECT_EQ(host.Message("cpptest", "c1", "kv:get:k"), NITRIC_OK);
  EXPECT_EQ(host.Sent("cpptest", "c1"), std::vector<std::string>{R"({"v":1})"});
}

TEST(TestingHostMembrane, RecordsCloses) {
  Host host;
  ASSERT_TRUE(host.Load(kTestPlugins / "ctest.so").ok());
  EXPECT_EQ(host.Message("ctest", "c1", "close"), NITRIC_OK);
  EXPECT_TRUE(host.Closed("ctest", "c1"));
  EXPECT_FALSE(host.Closed("ctest", "c2"));
  EXPECT_FALSE(host.Closed("other", "c1"));
}

// ---- reload ----

TEST(TestingHostReload, HandsTheOldVersionsStateToTheNewOne) {
  Host host;
  ASSERT_TRUE(host.Load(kTestPlugins / "handover.so").ok());
  ASSERT_EQ(host.Message("handover", "c1", "set:kept"), NITRIC_OK);

  auto reloaded = host.Reload(kTestPlugins / "handover.so");
  ASSERT_TRUE(reloaded.ok()) << reloaded.error();
  EXPECT_EQ(reloaded.name(), "handover");
  EXPECT_EQ(host.Message("handover", "c1", "state?"), NITRIC_OK);
  EXPECT_EQ(host.Sent("handover", "c1"), (std::vector<std::string>{"ok", "kept"}));
  EXPECT_EQ(Count(host.Logs(), "[handover] [info] exporting kept"), 1u) << All(host.Logs());
  EXPECT_EQ(Count(host.Logs(), "[handover] [info] importing kept"), 1u) << All(host.Logs());
}

TEST(TestingHostReload, ANewVersionWithoutImportStartsFresh) {
  Host host;
  ASSERT_TRUE(host.Load(kTestPlugins / "handover.so").ok());
  ASSERT_EQ(host.Message("handover", "c1", "set:kept"), NITRIC_OK);
  ASSERT_TRUE(host.Reload(kTestPlugins / "handover_noimport.so").ok());
  EXPECT_EQ(host.Message("handover", "c1", "state?"), NITRIC_OK);
  EXPECT_EQ(host.Sent("handover", "c1"), (std::vector<std::string>{"ok", "fresh"}));
}

TEST(TestingHostReload, ABrokenNewVersionLeavesTheOldOneServing) {
  Host host("[plugins.handover]\nimport = \"ok\"\n");
  ASSERT_TRUE(host.Load(kTestPlugins / "handover.so").ok());
  ASSERT_EQ(host.Message("handover", "c1", "set:kept"), NITRIC_OK);
  auto broken = host.Reload(kTestPlugins / "broken" / "badabi.so");
  EXPECT_FALSE(broken.ok());
  EXPECT_NE(broken.error().find("badabi.so"), std::string::npos) << broken.error();
  auto other = host.Reload(kTestPlugins / "cpptest.so");
  EXPECT_FALSE(other.ok());
  EXPECT_NE(other.error().find("no loaded plugin is named 'cpptest'"), std::string::npos)
      << other.error();
  EXPECT_EQ(host.Message("handover", "c1", "state?"), NITRIC_OK);
  EXPECT_EQ(host.Sent("handover", "c1"), (std::vector<std::string>{"ok", "kept"}));
}

// The staged plugin files this process has mapped (the host stages every
// load under "nitric-host-<pid>-XXXXXX", docs/ARCHITECTURE.md#ownership).
size_t MappedStagedFiles() {
  std::ifstream maps("/proc/self/maps");
  const std::string folder = "/nitric-host-" + std::to_string(::getpid()) + "-";
  std::set<std::string> files;
  for (std::string line; std::getline(maps, line);) {
    if (line.find(folder) != std::string::npos) files.insert(line.substr(line.find('/')));
  }
  return files.size();
}

TEST(TestingHostShutdown, UnloadsEveryPluginWhenTheHostGoes) {
  ASSERT_EQ(MappedStagedFiles(), 0u);
  {
    Host host;
    ASSERT_TRUE(host.Load(kTestPlugins / "handover.so").ok());
    ASSERT_TRUE(host.Load(kTestPlugins / "cpptest.so").ok());
    ASSERT_TRUE(host.Reload(kTestPlugins / "handover.so").ok());
    EXPECT_EQ(MappedStagedFiles(), 2u) << "the old handover.so went at the reload";
  }
  EXPECT_EQ(MappedStagedFiles(), 0u);
}

}  // namespace
