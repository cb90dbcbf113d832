// The gateway's connection lifecycle (docs/PROTOCOL.md#dev-gateway),
// observed through real websocket clients and the events a scripted sink
// receives.
#include <future>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gateway_test_support.h"

namespace nitric::devserver::testing {
namespace {

using nitric::testing::HttpRequest;
using nitric::testing::WsClientOptions;

// "xxxxxxxx-xxxx-4xxx-Yxxx-xxxxxxxxxxxx", lower-case hex, Y in 8..b (RFC 4122
// version 4, variant 1). Hand-written: <regex> trips GCC 12 warnings under
// the sanitizers.
bool IsUuidV4(const std::string& id) {
  if (id.size() != 36) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return id[14] == '4' && std::string_view("89ab").find(id[19]) != std::string_view::npos;
}

std::string Numbered(const std::string& prefix, int i) { return prefix + std::to_string(i); }

uint16_t PortOf(const std::string& url) {
  return static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
}

TEST_F(GatewayTest, AcceptedConnectCompletesTheUpgradeWithAFreshUuid) {
  StartGateway();
  auto result = WsClient::Connect(url_);

  ASSERT_TRUE(result.client) << result.error;
  EXPECT_EQ(result.http_status, 101);
  const auto events = sink_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::Connect);
  EXPECT_EQ(events[0].request.socket_name(), "public");
  EXPECT_TRUE(events[0].request.has_connection());
  EXPECT_TRUE(IsUuidV4(events[0].request.connection_id())) << events[0].request.connection_id();
  EXPECT_TRUE(WaitForConnectionCount(1));
}

TEST_F(GatewayTest, EveryConnectionGetsItsOwnId) {
  StartGateway();
  std::vector<Connected> clients;
  for (int i = 0; i < 5; ++i) clients.push_back(ConnectClient());
  const auto ids = sink_.ConnectIds();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 5u);
}

TEST_F(GatewayTest, RejectedConnectIsRefusedWith403AndNeverOpens) {
  sink_.SetRejectConnectIf([](const wsproto::WebsocketEventRequest& event) {
    auto it = event.connection().query_params().find("token");
    return it != event.connection().query_params().end() && it->second.value(0) == "bad";
  });
  StartGateway();

  auto refused = WsClient::Connect(url_ + "/?token=bad");
  auto accepted = WsClient::Connect(url_ + "/?token=good");

  EXPECT_FALSE(refused.client);
  EXPECT_EQ(refused.http_status, 403);
  EXPECT_TRUE(accepted.client);
  EXPECT_TRUE(WaitForConnectionCount(1));
  EXPECT_EQ(sink_.Count(EventType::Disconnect), 0u);
}

TEST_F(GatewayTest, ConnectWithoutAConnectHandlerIsRefusedWith503SayingSo) {
  sink_.SetRegistered({EventType::Message, EventType::Disconnect});
  StartGateway();

  auto result = WsClient::Connect(url_);

  EXPECT_FALSE(result.client);
  EXPECT_EQ(result.http_status, 503);
  EXPECT_NE(result.body.find("no connect handler registered for socket 'public'"),
            std::string::npos)
      << result.body;
}

TEST_F(GatewayTest, ConnectWhoseDeliveryFailsIsRefusedWith502AndTheReason) {
  sink_.SetDeliveryFailure(EventType::Connect, "stream ended before answering");
  StartGateway();

  auto result = WsClient::Connect(url_);

  EXPECT_FALSE(result.client);
  EXPECT_EQ(result.http_status, 502);
  EXPECT_NE(result.body.find("stream ended before answering"), std::string::npos) << result.body;
}

// The answer is held until the Connect event has surely arrived, and it is a
// reject: a gateway that completed the upgrade without waiting would have
// answered 101 already; one that waits answers 403. No clock involved.
TEST_F(GatewayTest, UpgradeWaitsForTheConnectAnswer) {
  sink_.HoldAnswers(EventType::Connect);
  sink_.SetRejectConnectIf([](const wsproto::WebsocketEventRequest&) { return true; });
  StartGateway();

  auto connecting = std::async(std::launch::async, [&] { return WsClient::Connect(url_); });
  ASSERT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Connect) == 1; }));
  sink_.ReleaseAnswers(EventType::Connect);
  const auto result = connecting.get();

  EXPECT_FALSE(result.client) << "upgraded before the answer";
  EXPECT_EQ(result.http_status, 403);
}

TEST_F(GatewayTest, QueryParamsAreDecodedAndKeepEveryValueInArrivalOrder) {
  StartGateway();

  ConnectClient("?a=1&b=x%20y&a=2&c=%E2%9C%93&d=p+q&flag&a=3&bad=%zz");

  const auto events = sink_.Events();
  ASSERT_FALSE(events.empty());
  const auto& params = events[0].request.connection().query_params();
  ASSERT_TRUE(params.contains("a"));
  EXPECT_EQ(std::vector<std::string>(params.at("a").value().begin(), params.at("a").value().end()),
            (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(params.at("b").value(0), "x y");
  EXPECT_EQ(params.at("c").value(0), "\u2713");
  EXPECT_EQ(params.at("d").value(0), "p q");
  EXPECT_EQ(params.at("flag").value(0), "");
  EXPECT_FALSE(params.contains("bad"));  // malformed escape: dropped, as Go's parser does
}

TEST_F(GatewayTest, MessagesOfAConnectionArriveInOrderOneAtATimeWhileConnectionsOverlap) {
  sink_.SetAnswerDelay(EventType::Message, 5ms);
  StartGateway();
  auto a = ConnectClient();
  auto b = ConnectClient();

  constexpr int kMessages = 30;
  auto send_all = [](WsClient& client, const std::string& prefix) {
    for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(client.SendText(Numbered(prefix, i)));
  };
  std::thread sender_a([&] { send_all(*a.client, "a"); });
  std::thread sender_b([&] { send_all(*b.client, "b"); });
  sender_a.join();
  sender_b.join();
  ASSERT_TRUE(
      TestSink::WaitUntil([&] { return sink_.Count(EventType::Message) == 2 * kMessages; }));

  std::vector<std::string> expected_a;
  std::vector<std::string> expected_b;
  for (int i = 0; i < kMessages; ++i) {
    expected_a.push_back(Numbered("a", i));
    expected_b.push_back(Numbered("b", i));
  }
  EXPECT_EQ(sink_.Messages(a.id), expected_a);
  EXPECT_EQ(sink_.Messages(b.id), expected_b);
  EXPECT_FALSE(sink_.OverlapOnOneConnection());
  EXPECT_GE(sink_.MaxMessagesInFlight(), 2);  // the two connections did run concurrently
}

TEST_F(GatewayTest, MessageBodiesAreCarriedByteForByte) {
  StartGateway();
  auto client = ConnectClient();
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));

  ASSERT_TRUE(client.client->SendBinary(all_bytes));

  ASSERT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Message) == 1; }));
  EXPECT_EQ(sink_.Messages(client.id), std::vector<std::string>{all_bytes});
}

TEST_F(GatewayTest, DisconnectIsDeliveredOnceWhenTheClientCloses) {
  StartGateway();
  auto client = ConnectClient();
  ASSERT_TRUE(WaitForConnectionCount(1));

  ASSERT_TRUE(client.client->Close(1000));

  ASSERT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Disconnect) == 1; }));
  EXPECT_TRUE(WaitForConnectionCount(0));
  // Once the gateway is shut down no event can come any more: a second
  // Disconnect would be in the sink now.
  gateway_->Shutdown();
  EXPECT_EQ(sink_.Count(EventType::Disconnect, client.id), 1u);
}

TEST_F(GatewayTest, DisconnectIsDeliveredOnceWhenTheTcpConnectionDrops) {
  StartGateway();
  auto client = ConnectClient();
  ASSERT_TRUE(WaitForConnectionCount(1));

  client.client->Abort();

  ASSERT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Disconnect) == 1; }));
  EXPECT_TRUE(WaitForConnectionCount(0));
  gateway_->Shutdown();  // no event after this: a second Disconnect would be in
  EXPECT_EQ(sink_.Count(EventType::Disconnect, client.id), 1u);
  EXPECT_EQ(sink_.Events().back().request.socket_name(), "public");
}

TEST_F(GatewayTest, SendOfUtf8ArrivesAsATextFrame) {
  StartGateway();
  auto client = ConnectClient();

  ASSERT_TRUE(gateway_->Send("public", client.id, "h\u00e9llo \u2713").ok());

  auto message = client.client->Receive();
  ASSERT_TRUE(message);
  EXPECT_FALSE(message->binary);
  EXPECT_EQ(message->data, "h\u00e9llo \u2713");
}

TEST_F(GatewayTest, SendOfOtherBytesArrivesAsABinaryFrameIntact) {
  StartGateway();
  auto client = ConnectClient();
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));

  ASSERT_TRUE(gateway_->Send("public", client.id, all_bytes).ok());

  auto message = client.client->Receive();
  ASSERT_TRUE(message);
  EXPECT_TRUE(message->binary);
  EXPECT_EQ(message->data, all_bytes);
}

TEST_F(GatewayTest, ManySendsFromManyThreadsAllArriveAndEachThreadsOrderHolds) {
  StartGateway();
  auto client = ConnectClient();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;

  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        EXPECT_TRUE(
            gateway_->Send("public", client.id, std::to_string(t) + ":" + std::to_string(i)).ok());
      }
    });
  }
  for (auto& sender : senders) sender.join();

  std::vector<int> next(kThreads, 0);
  for (int n = 0; n < kThreads * kPerThread; ++n) {
    auto message = client.client->Receive();
    ASSERT_TRUE(message) << "after " << n << " messages";
    const int t = std::stoi(message->data.substr(0, message->data.find(':')));
    const int i = std::stoi(message->data.substr(message->data.find(':') + 1));
    EXPECT_EQ(i, next[t]) << "thread " << t;
    next[t] = i + 1;
  }
}

TEST_F(GatewayTest, SendAndCloseOfAnUnknownConnectionAreNotFound) {
  StartGateway();

  EXPECT_EQ(gateway_->Send("public", "no-such-id", "x").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(gateway_->Send("nope", "no-such-id", "x").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(gateway_->Close("public", "no-such-id").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GatewayTest, CloseFlushesQueuedSendsThenSendsClose1000) {
  StartGateway();
  auto client = ConnectClient();

  ASSERT_TRUE(gateway_->Send("public", client.id, "bye").ok());
  ASSERT_TRUE(gateway_->Close("public", client.id).ok());

  auto message = client.client->Receive();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->data, "bye");
  EXPECT_EQ(client.client->WaitClosed(), 1000);
  EXPECT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Disconnect) == 1; }));
  EXPECT_TRUE(TestSink::WaitUntil([&] {
    return gateway_->Send("public", client.id, "late").error_code() == grpc::StatusCode::NOT_FOUND;
  }));
}

TEST_F(GatewayTest, StatusPageReportsSocketHandlersAndLiveConnections) {
  sink_.SetRegistered({EventType::Connect, EventType::Message});
  StartGateway();
  auto a = ConnectClient();
  auto b = ConnectClient();
  ASSERT_TRUE(WaitForConnectionCount(2));

  auto reply = HttpRequest(url_ + "/");

  EXPECT_EQ(reply.status, 200) << reply.error;
  EXPECT_EQ(reply.content_type, "application/json");
  EXPECT_EQ(reply.body,
            "{\"socket\":\"public\",\"registered\":[\"connect\",\"message\"],\"connections\":2}\n");
}

TEST_F(GatewayTest, EnsureSocketIsIdempotentAndGivesEachSocketItsOwnListener) {
  StartGateway();
  std::vector<std::string> urls(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { EXPECT_TRUE(gateway_->EnsureSocket("other", &urls[i]).ok()); });
  }
  for (auto& thread : threads) thread.join();

  for (const auto& url : urls) EXPECT_EQ(url, urls[0]);
  EXPECT_EQ(gateway_->Url("other"), urls[0]);
  EXPECT_EQ(gateway_->Url("public"), url_);
  EXPECT_NE(urls[0], url_);
  EXPECT_FALSE(gateway_->Url("never-declared"));
  std::string untouched = "unchanged";
  EXPECT_EQ(gateway_->EnsureSocket("", &untouched).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(untouched, "unchanged");
  EXPECT_TRUE(url_.starts_with("ws://127.0.0.1:")) << url_;
}

TEST_F(GatewayTest, EventsCarryTheSocketOfTheListenerTheClientUsed) {
  StartGateway();
  std::string other_url;
  ASSERT_TRUE(gateway_->EnsureSocket("other", &other_url).ok());

  auto client = WsClient::Connect(other_url);

  ASSERT_TRUE(client.client) << client.error;
  ASSERT_EQ(sink_.Events().size(), 1u);
  EXPECT_EQ(sink_.Events()[0].request.socket_name(), "other");
  EXPECT_TRUE(WaitForConnectionCount(0));  // "public" has none
  EXPECT_TRUE(TestSink::WaitUntil([&] { return gateway_->ConnectionCount("other") == 1; }));
}

TEST_F(GatewayTest, PortsAreTakenFromTheBasePortUpwardAndPinnedPortsAreHonoured) {
  // Find two free ports by binding to port 0 and letting go. Another process
  // could take one in between; the assertions allow for "the next free port".
  boost::asio::io_context io;
  auto free_port = [&io] {
    boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return probe.local_endpoint().port();
  };
  const uint16_t base = free_port();
  const uint16_t pinned = free_port();
  GatewayOptions options = TestOptions();
  options.base_port = base;
  options.pinned_ports = {{"pinned", pinned}};
  StartGateway(options);
  std::string second;
  std::string pinned_url;
  ASSERT_TRUE(gateway_->EnsureSocket("second", &second).ok());
  ASSERT_TRUE(gateway_->EnsureSocket("pinned", &pinned_url).ok());

  EXPECT_GE(PortOf(url_), base);
  EXPECT_GT(PortOf(second), PortOf(url_));
  EXPECT_NE(PortOf(second), pinned);
  EXPECT_EQ(PortOf(pinned_url), pinned);
}

TEST_F(GatewayTest, ABusyPinnedPortIsAnErrorForThatSocket) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor busy(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  GatewayOptions options = TestOptions();
  options.pinned_ports = {{"pinned", busy.local_endpoint().port()}};
  StartGateway(options);

  std::string url = "untouched";
  const grpc::Status status = gateway_->EnsureSocket("pinned", &url);

  EXPECT_FALSE(status.ok());
  EXPECT_EQ(url, "untouched");
  EXPECT_FALSE(gateway_->Url("pinned"));
}

TEST_F(GatewayTest, ShutdownClosesEveryClientWith1001AndIsIdempotent) {
  StartGateway();
  auto a = ConnectClient();
  auto b = ConnectClient();
  ASSERT_TRUE(WaitForConnectionCount(2));

  gateway_->Shutdown();

  EXPECT_EQ(a.client->WaitClosed(), 1001);
  EXPECT_EQ(b.client->WaitClosed(), 1001);
  gateway_->Shutdown();
  EXPECT_EQ(gateway_->ConnectionCount("public"), 0u);
  EXPECT_EQ(gateway_->Send("public", a.id, "x").error_code(), grpc::StatusCode::NOT_FOUND);
  std::string url;
  EXPECT_FALSE(gateway_->EnsureSocket("later", &url).ok());
  EXPECT_FALSE(WsClient::Connect(url_, {.timeout = 1s}).client);
}

TEST_F(GatewayTest, AnswersArrivingAfterTheGatewayIsGoneAreIgnored) {
  sink_.HoldAnswers(EventType::Message);
  StartGateway();
  auto client = ConnectClient();
  ASSERT_TRUE(client.client->SendText("pending"));
  ASSERT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Message) == 1; }));
  const std::size_t answered_before = sink_.AnswersGiven();  // the Connect's

  gateway_.reset();  // the message's answer is held back: it comes after

  EXPECT_EQ(client.client->WaitClosed(), 1001);
  const std::size_t events = sink_.Events().size();
  sink_.ReleaseAnswers(EventType::Message);
  // The late answer's callback ran (into the gateway that is gone) and
  // returned; the Disconnect of the shutdown is answered too.
  ASSERT_TRUE(TestSink::WaitUntil([&] { return sink_.AnswersGiven() == events; }))
      << sink_.AnswersGiven() << " of " << events << " answers given, " << answered_before
      << " before the gateway went";
  EXPECT_EQ(sink_.Count(EventType::Message, client.id), 1u);
  EXPECT_EQ(sink_.Count(EventType::Disconnect, client.id), 1u);
  EXPECT_EQ(sink_.Events().size(), events) << "the late answer caused another event";
}

TEST_F(GatewayTest, ConnectAcceptedDuringShutdownStillGetsItsDisconnect) {
  sink_.SetAnswerDelay(EventType::Connect, 300ms);
  StartGateway();
  auto connecting = std::async(std::launch::async, [&] { return WsClient::Connect(url_); });
  ASSERT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Connect) == 1; }));

  gateway_->Shutdown();

  EXPECT_FALSE(connecting.get().client);
  const std::string id = sink_.ConnectIds().at(0);
  EXPECT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Disconnect, id) == 1; }));
}

// README (the dev membrane): one loopback listener per socket, "from the base
// port upward", and `nitric-host --dev` prints "from port 4001 up, skipping
// ports that are taken".
TEST_F(GatewayTest, SkipsABasePortThatIsTaken) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor taken(
      io, {boost::asio::ip::make_address("127.0.0.1"), 0});  // listening: the port is taken
  const uint16_t base = taken.local_endpoint().port();
  GatewayOptions options = TestOptions();
  options.base_port = base;
  ASSERT_NO_FATAL_FAILURE(StartGateway(options));
  EXPECT_GT(PortOf(url_), base) << url_;
  auto client = ConnectClient();
  EXPECT_TRUE(client.client) << "the socket is served on the next free port";
}

}  // namespace
}  // namespace nitric::devserver::testing
