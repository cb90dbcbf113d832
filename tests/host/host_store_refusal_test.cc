// Issue 10 deliverable 7 (stores), through the real nitric-host binary, the
// in-process dev membrane and real websocket clients: a KV store whose file is
// corrupt makes the membrane refuse that store's declaration (DATA_LOSS naming
// the file). Only the plugin that declared the store is refused, with the
// membrane's error in the log; the other plugin's socket registers and serves.
// After the file is moved away, a reload (SIGHUP) declares the store again and
// the refused plugin serves.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

class StoreRefusalTest : public HostTest {};

TEST_F(StoreRefusalTest, ACorruptStoreRefusesOnlyItsPluginUntilAReloadFindsItFixed) {
  // ctest uses store "broken"; cpptest keeps its own store "cpptest".
  const std::filesystem::path kv = membrane_.data_dir() / "kv";
  std::filesystem::create_directories(kv);
  const std::filesystem::path broken = kv / "broken.sqlite";
  {
    std::ofstream out(broken, std::ios::binary);
    for (int i = 0; i < 256; ++i) out << "this is not a SQLite database. ";
  }
  std::filesystem::permissions(
      broken, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  UseConfig("[plugins.ctest]\nstore = \"broken\"\n");
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("cpptest")));
  ASSERT_NO_FATAL_FAILURE(StartHost());

  // The refusal names the plugin, the store and carries the membrane's error.
  ASSERT_TRUE(host_.WaitForStderr("plugin ctest refused"));
  const std::string log = host_.stderr_text();
  EXPECT_NE(log.find("declare KeyValueStore \"broken\""), std::string::npos);
  EXPECT_NE(log.find(broken.string() + " is corrupt or not a SQLite database"), std::string::npos)
      << "the membrane's error (naming the file) is not in the log";
  EXPECT_NE(log.find("reload"), std::string::npos) << "the log does not say what to do";
  EXPECT_EQ(log.find("plugin cpptest refused"), std::string::npos);
  EXPECT_NE(log.find("] ready: 1 socket(s) registered (3 streams), generation 1; 1 plugin(s) "
                     "refused"),
            std::string::npos);

  // The other plugin's socket serves real clients, two at once.
  auto a = Connect("cpptest");
  auto b = Connect("cpptest");
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 3; ++i) {
    for (WsClient* client : {a.get(), b.get()}) {
      const std::string text = "hello " + std::to_string(i);
      ASSERT_TRUE(client->SendText(text));
      auto reply = client->Receive();
      ASSERT_TRUE(reply) << "no echo on cpptest while ctest is refused";
      EXPECT_EQ(reply->data, text);
    }
  }
  ASSERT_TRUE(a->SendText("kv:set:k:{\"v\":1}"));
  auto stored = a->Receive();
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->data, "ok") << "cpptest's own store does not serve";

  // The refused plugin's socket has no stream: the gateway refuses upgrades.
  WsClient::ConnectResult refused = WsClient::Connect(Url("ctest"));
  EXPECT_EQ(refused.http_status, 503) << refused.error << " " << refused.body;

  // Fixed: the file moved away, then a reload declares the store again.
  std::filesystem::rename(broken, kv / "broken.sqlite.corrupt");
  host_.Signal(SIGHUP);
  ASSERT_TRUE(host_.WaitForStderr("plugin ctest: the membrane accepted its declarations"));
  ASSERT_TRUE(host_.WaitForStderr("] ready: 2 socket(s) registered (6 streams), generation 2"));
  auto c = Connect("ctest");
  ASSERT_TRUE(c) << "ctest does not serve after the reload";
  ASSERT_TRUE(c->SendText("kv:set:k:{\"v\":2}"));
  auto set = c->Receive();
  ASSERT_TRUE(set);
  EXPECT_EQ(set->data, "ok") << "ctest's store does not serve after the reload";
  ASSERT_TRUE(c->SendText("echo me"));
  auto echo = c->Receive();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->data, "echo me");

  // cpptest's clients were never dropped.
  ASSERT_TRUE(a->SendText("still here"));
  auto still = a->Receive();
  ASSERT_TRUE(still);
  EXPECT_EQ(still->data, "still here");
  host_.Signal(SIGTERM);
  EXPECT_EQ(host_.Wait(), 0);
}

// A refused plugin that shares a socket with a serving one: the socket is
// registered (the serving plugin uses it), the refused plugin's handlers are
// not called, and since it cannot have vetted a connect, connects it would
// see are rejected (failing closed, as for a failing connect handler).
TEST_F(StoreRefusalTest, ARefusedPluginOnASharedSocketRejectsConnectsUntilItServes) {
  const std::filesystem::path kv = membrane_.data_dir() / "kv";
  std::filesystem::create_directories(kv);
  const std::filesystem::path broken = kv / "broken.sqlite";
  std::ofstream(broken, std::ios::binary) << std::string(4096, 'x');
  UseConfig("[plugins.ctest]\nsocket = \"cpptest\"\nstore = \"broken\"\n");
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("ctest")));
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("cpptest")));
  ASSERT_NO_FATAL_FAILURE(StartHost());
  ASSERT_TRUE(host_.WaitForStderr("plugin ctest refused"));
  EXPECT_NE(host_.stderr_text().find("] ready: 1 socket(s) registered (3 streams), generation 1"),
            std::string::npos);

  WsClient::ConnectResult refused = WsClient::Connect(Url("cpptest"));
  EXPECT_EQ(refused.http_status, 403) << refused.error << " " << refused.body;

  std::filesystem::remove(broken);
  host_.Signal(SIGHUP);
  ASSERT_TRUE(host_.WaitForStderr("plugin ctest: the membrane accepted its declarations"));
  ASSERT_TRUE(host_.WaitForStderr("] ready: 1 socket(s) registered (3 streams), generation 2"));
  auto client = Connect("cpptest");
  ASSERT_TRUE(client);
  // Both plugins echo now: two replies, one from each.
  ASSERT_TRUE(client->SendText("twice"));
  for (int i = 0; i < 2; ++i) {
    auto reply = client->Receive();
    ASSERT_TRUE(reply) << "reply " << i << " missing";
    EXPECT_EQ(reply->data, "twice");
  }
}

}  // namespace
}  // namespace nitric::testing
