// The gateway under bad input and load (docs/PROTOCOL.md#dev-gateway): each
// misbehaving client is dealt with alone, and a well-behaved client on the
// same socket keeps being served.
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>

#include "gateway_test_support.h"
#include "log_capture.h"
#include "raw_client.h"

namespace nitric::devserver::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using nitric::testing::HttpRequest;
using nitric::testing::kAbnormalClosure;
using nitric::testing::WsClientOptions;

constexpr std::string_view kUpgradeRequest =
    "GET / HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

TEST_F(GatewayTest, FrameOverTheLimitClosesThatClientWith1009AndOthersKeepBeingServed) {
  GatewayOptions options = TestOptions();
  options.profile.max_message_bytes = 64 * 1024;
  StartGateway(options);
  auto big = ConnectClient();
  auto normal = ConnectClient();

  ASSERT_TRUE(normal.client->SendBinary(std::string(64 * 1024, 'a')));  // exactly the limit
  big.client->SendBinary(std::string(64 * 1024 + 1, 'b'));

  EXPECT_EQ(big.client->WaitClosed(), 1009);
  EXPECT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Disconnect, big.id) == 1; }));
  ASSERT_TRUE(normal.client->SendText("still here"));
  EXPECT_TRUE(TestSink::WaitUntil([&] { return sink_.Messages(normal.id).size() == 2; }));
  EXPECT_EQ(sink_.Messages(normal.id).back(), "still here");
  EXPECT_TRUE(sink_.Messages(big.id).empty());
  ASSERT_TRUE(gateway_->Send("public", normal.id, "pong").ok());
  auto reply = normal.client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "pong");
}

TEST_F(GatewayTest, NonUpgradeRequestsOtherThanTheStatusPageGet426WithAOneLineReason) {
  StartGateway();

  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/"}, {"GET", "/chat"}, {"PUT", "/?x=1"}, {"DELETE", "/"}}) {
    auto reply = HttpRequest(url_ + path, method);
    EXPECT_EQ(reply.status, 426) << method << " " << path << ": " << reply.error;
    ASSERT_FALSE(reply.body.empty());
    EXPECT_EQ(reply.body.find('\n'), reply.body.size() - 1) << reply.body;
  }
  EXPECT_TRUE(sink_.Events().empty());
}

TEST_F(GatewayTest, UpgradeWithoutAKeyIsRefusedBeforeAnyConnectEvent) {
  StartGateway();
  RawClient raw;
  ASSERT_TRUE(raw.Connect(url_));

  ASSERT_TRUE(raw.Write(
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));

  EXPECT_TRUE(raw.ReadUntil("\r\n\r\n").starts_with("HTTP/1.1 426"));
  EXPECT_TRUE(sink_.Events().empty());
}

TEST_F(GatewayTest, GarbageInsteadOfHttpGets400) {
  StartGateway();
  RawClient raw;
  ASSERT_TRUE(raw.Connect(url_));

  ASSERT_TRUE(raw.Write("\x16\x03\x01 this is not http\r\n\r\n"));

  EXPECT_TRUE(raw.ReadUntil("\r\n\r\n").starts_with("HTTP/1.1 400"));
}

TEST_F(GatewayTest, MessageThatCannotBeDeliveredClosesThatClientWith1011) {
  sink_.SetRegistered({EventType::Connect, EventType::Disconnect});
  StartGateway();
  auto client = ConnectClient();

  ASSERT_TRUE(client.client->SendText("anyone?"));

  EXPECT_EQ(client.client->WaitClosed(), 1011);
  EXPECT_NE(client.client->close_reason().find("message not delivered"), std::string::npos)
      << client.client->close_reason();
  EXPECT_TRUE(
      TestSink::WaitUntil([&] { return sink_.Count(EventType::Disconnect, client.id) == 1; }));
}

TEST_F(GatewayTest, SlowReaderIsDroppedWithAWarningWhileOthersKeepReceiving) {
  LogCapture log;
  GatewayOptions options = TestOptions();
  options.max_send_queue_bytes = 256 * 1024;
  StartGateway(options);
  auto slow = ConnectClient("", {.read = false, .receive_buffer_bytes = 4096});
  auto fast = ConnectClient();
  const std::string chunk(16 * 1024, 'x');

  int ticks = 0;
  bool dropped = false;
  for (int i = 0; i < 20000 && !dropped; ++i) {
    gateway_->Send("public", slow.id, chunk);
    if (i % 50 == 0) {
      ASSERT_TRUE(gateway_->Send("public", fast.id, "tick").ok());
      ++ticks;
    }
    dropped = sink_.Count(EventType::Disconnect, slow.id) == 1;
  }
  ASSERT_TRUE(dropped || TestSink::WaitUntil(
                             [&] { return sink_.Count(EventType::Disconnect, slow.id) == 1; }));

  ASSERT_TRUE(gateway_->Send("public", fast.id, "after").ok());
  for (int i = 0; i < ticks; ++i) {
    auto tick = fast.client->Receive();
    ASSERT_TRUE(tick) << "tick " << i << " of " << ticks;
    EXPECT_EQ(tick->data, "tick");
  }
  auto after = fast.client->Receive();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->data, "after");
  EXPECT_NE(log.Text().find("slow reader"), std::string::npos) << log.Text();
  // The slow client's TCP connection was cut: no close frame, once it reads.
  slow.client->StartReading();
  EXPECT_EQ(slow.client->WaitClosed(10s), kAbnormalClosure);
}

TEST_F(GatewayTest, ClientVanishingMidFrameCostsNothingToOthers) {
  StartGateway();
  auto other = ConnectClient();
  RawClient raw;
  ASSERT_TRUE(raw.Connect(url_));
  ASSERT_TRUE(raw.Write(kUpgradeRequest));
  ASSERT_TRUE(raw.ReadUntil("\r\n\r\n").starts_with("HTTP/1.1 101"));
  const std::string raw_id = sink_.ConnectIds().back();
  ASSERT_TRUE(WaitForConnectionCount(2));

  // A masked binary frame whose 16-bit length never arrives, then gone.
  ASSERT_TRUE(raw.Write(std::string("\x82\xFE\x01", 3)));
  raw.Close();

  EXPECT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Disconnect, raw_id) == 1; }));
  EXPECT_TRUE(WaitForConnectionCount(1));
  EXPECT_TRUE(sink_.Messages(raw_id).empty());
  ASSERT_TRUE(other.client->SendText("hello"));
  EXPECT_TRUE(TestSink::WaitUntil([&] { return sink_.Messages(other.id).size() == 1; }));
  ASSERT_TRUE(gateway_->Send("public", other.id, "hi").ok());
  auto reply = other.client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "hi");
}

TEST_F(GatewayTest, ClientVanishingMidRequestCostsNothingToOthers) {
  StartGateway();
  RawClient raw;
  ASSERT_TRUE(raw.Connect(url_));

  ASSERT_TRUE(raw.Write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs"));
  raw.Close();

  auto client = ConnectClient();
  EXPECT_TRUE(client.client);
  EXPECT_EQ(sink_.Count(EventType::Connect), 1u);
}

TEST_F(GatewayTest, IdleTcpConnectionsDoNotHoldUpOthers) {
  StartGateway();
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 20; ++i) {
    idle.push_back(std::make_unique<RawClient>());
    ASSERT_TRUE(idle.back()->Connect(url_));
  }

  // A gateway that served connections one at a time would still be reading
  // the first idle one: this client would only get through after the idle
  // ones were dropped, and they would no longer be answered below.
  auto client = ConnectClient();

  ASSERT_TRUE(client.client);
  ASSERT_TRUE(client.client->SendText("served"));
  EXPECT_TRUE(TestSink::WaitUntil([&] { return sink_.Messages(client.id).size() == 1; }));
  for (size_t i = 0; i < idle.size(); ++i) {
    ASSERT_TRUE(idle[i]->Write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) << "idle " << i;
    EXPECT_TRUE(idle[i]->ReadUntil("\r\n\r\n").starts_with("HTTP/1.1 200"))
        << "idle connection " << i << " was dropped while the client was served";
  }
}

}  // namespace
}  // namespace nitric::devserver::testing
