// GET /metrics on a socket's port (docs/PROTOCOL.md#dev-gateway): after a
// known sequence of real websocket clients against a real Gateway, every
// counter holds exactly what happened, the connections gauge follows the
// clients, the delivery histogram counts the answered events, each port
// serves only its own socket, and promtool accepts the exposition.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "devserver/gateway_profile.h"
#include "gateway_test_support.h"
#include "metrics_text.h"
#include "raw_client.h"

namespace nitric::devserver::testing {
namespace {

using nitric::testing::HttpRequest;
using nitric::testing::PromtoolCheckMetrics;
using nitric::testing::PromtoolResult;
using nitric::testing::SampleValue;
using nitric::testing::WsClientOptions;

// Every `reason` label value of nitric_dev_gateway_refusals_total.
const std::vector<std::string> kReasons = {"origin",
                                           "bad_request",
                                           "bad_query",
                                           "max_connections",
                                           "shutting_down",
                                           "no_connect_handler",
                                           "connect_not_delivered",
                                           "connect_timeout",
                                           "connect_rejected",
                                           "message_too_large",
                                           "binary_frame",
                                           "message_not_delivered",
                                           "slow_reader",
                                           "send_not_utf8",
                                           "send_too_large",
                                           "idle_timeout",
                                           "max_duration"};

std::string Series(std::string_view name, const std::string& socket, std::string_view label = "",
                   std::string_view value = "") {
  std::string series = std::string(name) + "{socket=\"" + socket + "\"";
  if (!label.empty()) series += "," + std::string(label) + "=\"" + std::string(value) + "\"";
  return series + "}";
}
std::string Connections(const std::string& socket = "public") {
  return Series("nitric_dev_gateway_connections", socket);
}
std::string Frames(std::string_view direction, const std::string& socket = "public") {
  return Series("nitric_dev_gateway_frames_total", socket, "direction", direction);
}
std::string Bytes(std::string_view direction, const std::string& socket = "public") {
  return Series("nitric_dev_gateway_frame_bytes_total", socket, "direction", direction);
}
std::string Refusals(std::string_view reason, const std::string& socket = "public") {
  return Series("nitric_dev_gateway_refusals_total", socket, "reason", reason);
}
std::string Delivered(std::string_view event, const std::string& socket = "public") {
  return Series("nitric_dev_gateway_delivery_seconds_count", socket, "event", event);
}

class GatewayMetricsTest : public GatewayTest {
 protected:
  // GET /metrics on the port of `url` (the "public" socket's by default).
  std::string Metrics(const std::string& url = "") {
    const auto reply = HttpRequest((url.empty() ? url_ : url) + "/metrics");
    EXPECT_EQ(reply.status, 200) << reply.error << reply.body;
    return reply.body;
  }
  // A sample's value, or -1 when the series is missing.
  double Value(const std::string& series) { return SampleValue(Metrics(), series).value_or(-1); }
  // Scrapes until `series` reads `value` (counters moved by I/O threads after
  // the client already saw the effect).
  bool WaitForValue(const std::string& series, double value) {
    return TestSink::WaitUntil([&] { return Value(series) == value; });
  }
  // Every refusal reason reads `expected[reason]`, or 0 when not listed.
  void ExpectRefusals(const std::map<std::string, double>& expected) {
    const std::string text = Metrics();
    for (const auto& reason : kReasons) {
      const auto it = expected.find(reason);
      EXPECT_EQ(SampleValue(text, Refusals(reason)), it == expected.end() ? 0 : it->second)
          << reason << " in\n"
          << text;
    }
  }
};

TEST_F(GatewayMetricsTest, CountsConnectionsFramesBytesAndDeliveriesExactly) {
  StartGateway();
  std::string text = Metrics();
  EXPECT_EQ(SampleValue(text, Connections()), 0);
  EXPECT_EQ(SampleValue(text, Frames("in")), 0);
  EXPECT_EQ(SampleValue(text, Frames("out")), 0);
  EXPECT_EQ(SampleValue(text, Delivered("connect")), 0);
  EXPECT_EQ(SampleValue(text, R"(nitric_dev_gateway_info{socket="public",profile="local"})"), 1);

  Connected a = ConnectClient();
  Connected b = ConnectClient();
  Connected c = ConnectClient();
  ASSERT_TRUE(a.client && b.client && c.client);
  ASSERT_TRUE(WaitForConnectionCount(3));
  EXPECT_EQ(Value(Connections()), 3);

  ASSERT_TRUE(a.client->SendText("hello"));                     // 5 bytes
  ASSERT_TRUE(a.client->SendText("h\xc3\xa9llo"));              // 6 bytes
  ASSERT_TRUE(b.client->SendBinary(std::string("\0\1\2", 3)));  // 3 bytes
  ASSERT_TRUE(WaitForValue(Delivered("message"), 3));
  text = Metrics();
  EXPECT_EQ(SampleValue(text, Frames("in")), 3);
  EXPECT_EQ(SampleValue(text, Bytes("in")), 14);
  EXPECT_EQ(SampleValue(text, Frames("out")), 0);

  ASSERT_TRUE(gateway_->Send("public", a.id, "pong").ok());
  ASSERT_TRUE(gateway_->Send("public", b.id, std::string(1000, 'x')).ok());
  ASSERT_TRUE(a.client->Receive());
  ASSERT_TRUE(b.client->Receive());
  ASSERT_TRUE(WaitForValue(Frames("out"), 2));
  EXPECT_EQ(Value(Bytes("out")), 1004);

  ASSERT_TRUE(a.client->Close());
  c.client->Abort();
  ASSERT_TRUE(WaitForConnectionCount(1));
  EXPECT_EQ(Value(Connections()), 1);
  ASSERT_TRUE(WaitForValue(Delivered("disconnect"), 2));

  text = Metrics();
  EXPECT_EQ(SampleValue(text, Delivered("connect")), 3);
  EXPECT_EQ(SampleValue(text, Delivered("message")), 3);
  EXPECT_EQ(SampleValue(text, Frames("in")), 3) << "closes are not messages";
  ExpectRefusals({});
}

TEST_F(GatewayMetricsTest, EachRefusalIsCountedUnderItsReason) {
  GatewayOptions options = TestOptions();
  options.profile.max_message_bytes = 1024;
  StartGateway(options);
  sink_.SetRejectConnectIf([](const wsproto::WebsocketEventRequest& e) {
    return e.connection().query_params().contains("deny");
  });

  WsClientOptions foreign;
  foreign.headers = {{"Origin", "http://evil.example"}};
  EXPECT_EQ(WsClient::Connect(url_, foreign).http_status, 403);
  EXPECT_EQ(WsClient::Connect(url_ + "/?name=%C0%AF").http_status, 400);
  {
    RawClient garbage;
    ASSERT_TRUE(garbage.Connect(url_));
    ASSERT_TRUE(garbage.Write("\x16\x03\x01 this is not http\r\n\r\n"));
    EXPECT_TRUE(garbage.ReadUntil("\r\n\r\n").starts_with("HTTP/1.1 400"));
  }
  {
    RawClient keyless;
    ASSERT_TRUE(keyless.Connect(url_));
    ASSERT_TRUE(keyless.Write(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
    EXPECT_TRUE(keyless.ReadUntil("\r\n\r\n").starts_with("HTTP/1.1 426"));
  }
  EXPECT_EQ(WsClient::Connect(url_ + "/?deny=1").http_status, 403);

  // A message over the limit.
  Connected big = ConnectClient();
  ASSERT_TRUE(big.client);
  big.client->SendText(std::string(1025, 'b'));  // may fail: the gateway cuts it off
  EXPECT_EQ(big.client->WaitClosed(60s), 1009);

  // A message no stream can take.
  sink_.SetDeliveryFailure(EventType::Message, "stream ended");
  Connected lost = ConnectClient();
  ASSERT_TRUE(lost.client);
  ASSERT_TRUE(lost.client->SendText("x"));
  EXPECT_EQ(lost.client->WaitClosed(60s), 1011);
  ASSERT_TRUE(WaitForValue(Delivered("disconnect"), 2));

  // Connects nobody can take: no Connect stream, then one that died.
  sink_.SetRegistered({EventType::Disconnect, EventType::Message});
  EXPECT_EQ(WsClient::Connect(url_).http_status, 503);
  sink_.SetRegistered({EventType::Connect, EventType::Disconnect, EventType::Message});
  sink_.SetDeliveryFailure(EventType::Connect, "stream ended");
  EXPECT_EQ(WsClient::Connect(url_).http_status, 502);

  ExpectRefusals({{"origin", 1},
                  {"bad_query", 1},
                  {"bad_request", 2},
                  {"connect_rejected", 1},
                  {"message_too_large", 1},
                  {"message_not_delivered", 1},
                  {"no_connect_handler", 1},
                  {"connect_not_delivered", 1}});
  const std::string text = Metrics();
  // Answered Connects: the rejected one, `big` and `lost`.
  EXPECT_EQ(SampleValue(text, Delivered("connect")), 3);
  // Only "x" was read whole; the message over the limit never was.
  EXPECT_EQ(SampleValue(text, Frames("in")), 1);
  EXPECT_EQ(SampleValue(text, Bytes("in")), 1);
}

TEST_F(GatewayMetricsTest, AFullSocketsRefusalIsCounted) {
  GatewayOptions options = TestOptions();
  options.max_connections = 1;
  StartGateway(options);
  Connected first = ConnectClient();
  ASSERT_TRUE(first.client);

  EXPECT_EQ(WsClient::Connect(url_).http_status, 503);

  ExpectRefusals({{"max_connections", 1}});
  EXPECT_EQ(Value(Connections()), 1);
}

TEST_F(GatewayMetricsTest, AConnectNotAnsweredInTimeIsCountedAndNotTimed) {
  sink_.HoldAnswers(EventType::Connect);  // the application hangs
  GatewayOptions options = TestOptions();
  options.connect_timeout = 200ms;
  StartGateway(options);

  WsClientOptions patient;
  patient.timeout = 60s;
  EXPECT_EQ(WsClient::Connect(url_, patient).http_status, 504);
  EXPECT_EQ(Value(Refusals("connect_timeout")), 1);

  // The late answer is no delivery: it is not timed.
  sink_.ReleaseAnswers(EventType::Connect);
  ASSERT_TRUE(TestSink::WaitUntil([&] { return sink_.AnswersGiven() == 1; }));
  EXPECT_EQ(Value(Delivered("connect")), 0);
  ExpectRefusals({{"connect_timeout", 1}});
}

TEST_F(GatewayMetricsTest, UnderTheAwsProfileRefusedSendsAndBinaryFramesAreCounted) {
  GatewayOptions options = TestOptions();
  options.profile = AwsProfile();
  StartGateway(options);
  Connected c = ConnectClient();
  ASSERT_TRUE(c.client);

  EXPECT_EQ(gateway_->Send("public", c.id, "\xff").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(gateway_->Send("public", c.id, std::string(128 * 1024 + 1, 'a')).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(gateway_->Send("public", c.id, "ok").ok());
  auto received = c.client->Receive();
  ASSERT_TRUE(received);
  EXPECT_EQ(received->data, "ok");
  ASSERT_TRUE(c.client->SendBinary("\x01"));
  EXPECT_EQ(c.client->WaitClosed(60s), 1003);
  ASSERT_TRUE(WaitForValue(Delivered("disconnect"), 1));

  ExpectRefusals({{"send_not_utf8", 1}, {"send_too_large", 1}, {"binary_frame", 1}});
  const std::string text = Metrics();
  EXPECT_EQ(SampleValue(text, Frames("out")), 1) << "refused sends are never written";
  EXPECT_EQ(SampleValue(text, Bytes("out")), 2);
  EXPECT_EQ(SampleValue(text, Frames("in")), 1) << "the binary frame was read, not delivered";
  EXPECT_EQ(SampleValue(text, Delivered("message")), 0);
  EXPECT_EQ(SampleValue(text, R"(nitric_dev_gateway_info{socket="public",profile="aws"})"), 1);
}

TEST_F(GatewayMetricsTest, TheProfilesTimeLimitsAreCountedApart) {
  GatewayOptions options = TestOptions();
  options.profile = AwsProfile();
  options.profile.idle_timeout = 300ms;
  options.profile.max_duration = 0ms;
  StartGateway(options);
  Connected idle = ConnectClient();
  ASSERT_TRUE(idle.client);
  EXPECT_EQ(idle.client->WaitClosed(60s), 1001);
  ASSERT_TRUE(WaitForValue(Refusals("idle_timeout"), 1));
  EXPECT_EQ(Value(Refusals("max_duration")), 0);

  options.profile.idle_timeout = 0ms;
  options.profile.max_duration = 300ms;
  StartGateway(options);  // a new gateway, new counters
  Connected old = ConnectClient();
  ASSERT_TRUE(old.client);
  EXPECT_EQ(old.client->WaitClosed(60s), 1001);
  ASSERT_TRUE(WaitForValue(Refusals("max_duration"), 1));
  EXPECT_EQ(Value(Refusals("idle_timeout")), 0);
}

TEST_F(GatewayMetricsTest, EachPortServesOnlyItsOwnSocketsSeries) {
  StartGateway();
  std::string other_url;
  ASSERT_TRUE(gateway_->EnsureSocket("other", &other_url).ok());
  Connected c = ConnectClient();
  ASSERT_TRUE(c.client);
  ASSERT_TRUE(c.client->SendText("hi"));
  ASSERT_TRUE(WaitForValue(Delivered("message"), 1));

  const std::string other = Metrics(other_url);
  EXPECT_EQ(SampleValue(other, Frames("in", "other")), 0);
  EXPECT_EQ(SampleValue(other, Connections("other")), 0);
  EXPECT_EQ(other.find(R"(socket="public")"), std::string::npos) << other;
  EXPECT_EQ(Value(Frames("in")), 1);
  EXPECT_EQ(Value(Connections()), 1);
}

TEST_F(GatewayMetricsTest, GetMetricsIsTheTextFormatAndPassesPromtool) {
  StartGateway();
  Connected c = ConnectClient();
  ASSERT_TRUE(c.client);
  ASSERT_TRUE(c.client->SendText("hello"));
  ASSERT_TRUE(WaitForValue(Delivered("message"), 1));
  ASSERT_TRUE(gateway_->Send("public", c.id, "hi").ok());
  ASSERT_TRUE(c.client->Receive());
  EXPECT_EQ(WsClient::Connect(url_ + "/?name=%C0%AF").http_status, 400);

  const auto reply = HttpRequest(url_ + "/metrics?x=1");  // a query is ignored
  ASSERT_EQ(reply.status, 200) << reply.error;
  EXPECT_EQ(reply.content_type, "text/plain; version=0.0.4; charset=utf-8");
  for (const char* type_line : {
           "# TYPE nitric_dev_gateway_connections gauge",
           "# TYPE nitric_dev_gateway_frames_total counter",
           "# TYPE nitric_dev_gateway_frame_bytes_total counter",
           "# TYPE nitric_dev_gateway_refusals_total counter",
           "# TYPE nitric_dev_gateway_delivery_seconds histogram",
           "# TYPE nitric_dev_gateway_info gauge",
       }) {
    EXPECT_NE(reply.body.find(std::string(type_line) + "\n"), std::string::npos) << type_line;
  }
  const PromtoolResult check = PromtoolCheckMetrics(reply.body);
  EXPECT_EQ(check.exit_code, 0) << check.output << "\nfor:\n" << reply.body;
}

}  // namespace
}  // namespace nitric::devserver::testing
