// Handler isolation and the bounded stop (docs/ARCHITECTURE.md#isolation),
// through the real nitric-host binary: a few blocking handlers do not stop
// the other connections, a handler past
// host.handler_timeout_ms is answered by the host and its connection closed,
// a connection that floods its queue is closed, and SIGTERM is bounded by
// host.shutdown_timeout_ms (a second signal ends the host at once), in the
// serving host, in --check and during a reload.
//
// The blocker test plugin (tests/plugins/test_plugins/blocker.cc) blocks a
// handler on a named gate until a message "open:NAME" arrives and logs
// "blocking on NAME" first, so the tests wait for that line instead of
// guessing how long blocking takes. Deadlines only bound a hang, except the
// one the issue sets: the third connection's echoes within 1 s.
#include <signal.h>

#include <fstream>
#include <string>
#include <vector>

#include "host/host_fixture.h"
#include "host/scripted_membrane.h"

namespace nitric::testing {
namespace {

// Generous: only bounds a hang (the host's own deadlines are far shorter).
constexpr auto kExitDeadline = 30s;

class IsolationTest : public HostTest {
 protected:
  void SetUp() override {
    HostTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("blocker")));
  }
};

TEST_F(IsolationTest, TwoBlockedHandlersOnTwoWorkersDoNotStopAThirdConnection) {
  UseConfig("[host]\nworkers = 2\n");
  ASSERT_NO_FATAL_FAILURE(StartHost());
  auto a = Connect("blocker");
  auto b = Connect("blocker");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->SendText("block:a"));
  ASSERT_TRUE(b->SendText("block:b"));
  ASSERT_TRUE(host_.WaitForStderr("blocking on a"));
  ASSERT_TRUE(host_.WaitForStderr("blocking on b"));

  // Both workers of the base pool are blocked now; the connect needs a
  // worker too.
  auto c = Connect("blocker");
  ASSERT_TRUE(c) << "a new connection could not connect while two handlers block";
  for (int i = 0; i < 5; ++i) {
    const std::string text = "echo " + std::to_string(i);
    ASSERT_TRUE(c->SendText(text));
    auto reply = c->Receive(1s);
    ASSERT_TRUE(reply) << "no echo within 1 s while two handlers block (message " << i << ")";
    EXPECT_EQ(reply->data, text);
  }

  // Let them go: both return, and their connections serve again.
  ASSERT_TRUE(c->SendText("open:a"));
  ASSERT_TRUE(c->SendText("open:b"));
  for (auto* client : {a.get(), b.get()}) {
    ASSERT_TRUE(client->SendText("after"));
    auto reply = client->Receive();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->data, "after");
  }
}

TEST_F(IsolationTest, HandlerPastTheTimeoutClosesItsConnectionAndItsLateResultIsDropped) {
  UseConfig("[host]\nworkers = 2\nhandler_timeout_ms = 300\n");
  ASSERT_NO_FATAL_FAILURE(StartHost());
  auto stuck = Connect("blocker");
  ASSERT_TRUE(stuck);
  ASSERT_TRUE(stuck->SendText("block:m"));
  ASSERT_TRUE(host_.WaitForStderr("blocking on m"));
  // The host answers the message and closes the connection through the
  // membrane: the client sees its websocket closed.
  EXPECT_TRUE(stuck->WaitClosed(kExitDeadline).has_value())
      << "the connection of a handler past host.handler_timeout_ms was not closed";
  EXPECT_TRUE(host_.WaitForStderr("handler of plugin blocker has run ", kExitDeadline));
  EXPECT_NE(host_.stderr_text().find("(host.handler_timeout_ms is 300) on the message event of "
                                     "connection "),
            std::string::npos);

  // A connect past the timeout is rejected.
  WsClient::ConnectResult refused =
      WsClient::Connect(Url("blocker", "block=k"), WsClientOptions{.timeout = kExitDeadline});
  EXPECT_FALSE(refused.client) << "a connect past host.handler_timeout_ms was let in";
  EXPECT_NE(refused.http_status, 101);
  EXPECT_TRUE(host_.WaitForStderr("rejecting the connect"));

  // The stuck handlers return: their results are logged and dropped, and the
  // host keeps serving.
  auto other = Connect("blocker");
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->SendText("open:m"));
  ASSERT_TRUE(other->SendText("open:k"));
  ASSERT_TRUE(host_.WaitForStderr("its result (accept) is dropped", kExitDeadline));
  ASSERT_TRUE(other->SendText("still here"));
  auto reply = other->Receive(kExitDeadline);
  // The replies to "open:m", "open:k" come first.
  for (int i = 0; reply && reply->data != "still here" && i < 2; ++i) {
    reply = other->Receive(kExitDeadline);
  }
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "still here");
}

TEST_F(IsolationTest, SigtermWithAStuckHandlerExitsOneAtItsDeadlineAndNamesTheHandler) {
  UseConfig("[host]\nhandler_timeout_ms = 0\nshutdown_timeout_ms = 500\n");
  ASSERT_NO_FATAL_FAILURE(StartHost());
  auto stuck = Connect("blocker");
  ASSERT_TRUE(stuck);
  ASSERT_TRUE(stuck->SendText("block:forever"));
  ASSERT_TRUE(host_.WaitForStderr("blocking on forever"));
  host_.Signal(SIGTERM);
  EXPECT_EQ(host_.Wait(kExitDeadline), 1) << "SIGTERM with a stuck handler did not exit 1";
  const std::string log = host_.stderr_text();
  EXPECT_NE(log.find("stopping took longer than host.shutdown_timeout_ms (500 ms)"),
            std::string::npos);
  EXPECT_NE(log.find("still running: handler of plugin blocker for the message event of "
                     "connection "),
            std::string::npos);
  EXPECT_NE(log.find(" on socket blocker, for at least "), std::string::npos);
}

TEST_F(IsolationTest, SecondSigtermExitsAtOnce) {
  UseConfig("[host]\nhandler_timeout_ms = 0\nshutdown_timeout_ms = 3600000\n");
  ASSERT_NO_FATAL_FAILURE(StartHost());
  auto stuck = Connect("blocker");
  ASSERT_TRUE(stuck);
  ASSERT_TRUE(stuck->SendText("block:forever"));
  ASSERT_TRUE(host_.WaitForStderr("blocking on forever"));
  host_.Signal(SIGTERM);
  ASSERT_TRUE(host_.WaitForStderr("SIGTERM: stopping"));
  host_.Signal(SIGTERM);
  EXPECT_EQ(host_.Wait(kExitDeadline), 1) << "a second SIGTERM did not end the host";
  EXPECT_NE(host_.stderr_text().find("SIGTERM while stopping: exiting 1 at once"),
            std::string::npos);
}

TEST_F(IsolationTest, CheckWithAnInitThatHangsStopsAtTheDeadline) {
  UseConfig("[host]\nshutdown_timeout_ms = 300\n[plugins.blocker]\ninit = \"hang\"\n");
  ASSERT_TRUE(
      host_.Start({"--check", "--plugins", plugins_.string(), "--config", config_->string()}));
  ASSERT_TRUE(host_.WaitForStderr("init hangs"));
  host_.Signal(SIGTERM);
  EXPECT_EQ(host_.Wait(kExitDeadline), 1);
  EXPECT_NE(host_.stderr_text().find(
                "check interrupted: plugin file blocker.so is still loading; its init() has not "
                "returned"),
            std::string::npos);
}

TEST_F(IsolationTest, CheckWithAnInitThatHangsEndsAtASecondSigint) {
  UseConfig("[host]\nshutdown_timeout_ms = 3600000\n[plugins.blocker]\ninit = \"hang\"\n");
  ASSERT_TRUE(
      host_.Start({"--check", "--plugins", plugins_.string(), "--config", config_->string()}));
  ASSERT_TRUE(host_.WaitForStderr("init hangs"));
  host_.Signal(SIGINT);
  // Signals of one kind do not queue: the second must come after the first
  // was taken.
  ASSERT_TRUE(host_.WaitForStderr("SIGINT: stopping within host.shutdown_timeout_ms"));
  host_.Signal(SIGINT);
  EXPECT_EQ(host_.Wait(kExitDeadline), 1);
  EXPECT_NE(host_.stderr_text().find("SIGINT while stopping: exiting 1 at once"),
            std::string::npos);
}

TEST_F(IsolationTest, ReloadWhoseInitHangsIsStoppedBySigtermAndTheOldVersionServesMeanwhile) {
  UseConfig("[host]\nshutdown_timeout_ms = 300\n");
  ASSERT_NO_FATAL_FAILURE(StartHost());
  auto client = Connect("blocker");
  ASSERT_TRUE(client);
  // Same file, new config: the reload loads and initialises it again.
  UseConfig("[host]\nshutdown_timeout_ms = 300\n[plugins.blocker]\ninit = \"hang\"\n");
  host_.Signal(SIGHUP);
  ASSERT_TRUE(host_.WaitForStderr("init hangs"));
  ASSERT_TRUE(client->SendText("served"));
  auto reply = client->Receive();
  ASSERT_TRUE(reply) << "the old version stopped serving while the reload hangs";
  EXPECT_EQ(reply->data, "served");

  host_.Signal(SIGTERM);
  EXPECT_EQ(host_.Wait(kExitDeadline), 1);
  const std::string log = host_.stderr_text();
  EXPECT_NE(log.find("the host was reloading the plugins when the deadline passed"),
            std::string::npos);
  EXPECT_NE(log.find("plugin file blocker.so: still loading; its init() has not returned"),
            std::string::npos);
}

// The dev gateway delivers one frame of a connection at a time, so a full
// connection queue needs a membrane that sends many at once.
TEST(IsolationQueueTest, ConnectionPastItsQueueLimitIsClosedAndTheOthersServe) {
  ScriptedMembrane membrane;
  ASSERT_TRUE(membrane.Start());
  TempDir dir;
  const auto plugins = dir.path() / "plugins";
  std::filesystem::create_directories(plugins);
  std::filesystem::copy_file(TestPlugin("blocker"), plugins / "blocker.so");
  const auto config = dir.path() / "nitric-host.toml";
  std::ofstream(config) << "[host]\nworkers = 2\nmax_queued_events_per_connection = 4\n";
  HostProcess host;
  ASSERT_TRUE(host.Start({"--plugins", plugins.string(), "--config", config.string()},
                         {{"SERVICE_ADDRESS", membrane.address()}}));
  ASSERT_TRUE(membrane.WaitRegistered("blocker", kExitDeadline)) << host.stderr_text();
  using Type = ScriptedMembrane::EventType;

  ASSERT_TRUE(membrane.Send(Type::Connect, "blocker", "c1", "k1"));
  ASSERT_TRUE(membrane.WaitAnswered({"k1"}, kExitDeadline));
  ASSERT_TRUE(membrane.Send(Type::Message, "blocker", "c1", "m0", "block:q"));
  ASSERT_TRUE(host.WaitForStderr("blocking on q"));
  // m0 runs; m1..m3 fill the queue to 4; m4..m6 are past it.
  for (const char* id : {"m1", "m2", "m3", "m4", "m5", "m6"}) {
    ASSERT_TRUE(membrane.Send(Type::Message, "blocker", "c1", id, std::string("x") + id));
  }
  EXPECT_TRUE(membrane.WaitClosed("blocker", "c1", kExitDeadline))
      << "a connection past its queue limit was not closed\n"
      << host.stderr_text();
  EXPECT_TRUE(membrane.WaitAnswered({"m4", "m5", "m6"}, kExitDeadline))
      << "events past the limit were not answered";
  EXPECT_TRUE(host.WaitForStderr(
      "connection c1 on socket blocker has 4 events queued (host.max_queued_events_per_connection)"
      ": closing it"));
  for (const char* id : {"m1", "m2", "m3"}) {
    EXPECT_EQ(membrane.answers().count(id), 0u) << id << " overtook the blocked m0";
  }

  // Another connection is served, and lets m0 go; the queue behind it runs.
  ASSERT_TRUE(membrane.Send(Type::Connect, "blocker", "c2", "k2"));
  ASSERT_TRUE(membrane.Send(Type::Message, "blocker", "c2", "o1", "open:q"));
  ASSERT_TRUE(membrane.WaitAnswered({"k2", "o1", "m0", "m1", "m2", "m3"}, kExitDeadline));
  const auto answers = membrane.answers();
  for (const char* id : {"k1", "m0", "m1", "m2", "m3", "m4", "m5", "m6", "k2", "o1"}) {
    ASSERT_EQ(answers.count(id), 1u) << id;
    EXPECT_EQ(answers.at(id).size(), 1u) << id << " answered more than once";
  }
  EXPECT_EQ(membrane.closed().size(), 1u) << "only the flooding connection is closed";
  host.Signal(SIGTERM);
  EXPECT_EQ(host.Wait(kExitDeadline), 0) << host.stderr_text();
}

}  // namespace
}  // namespace nitric::testing
