// The aws gateway profile, rule by rule (README.md, "Gateway profiles"): a
// real Gateway on loopback, real websocket clients, a scripted sink.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "devserver/gateway_profile.h"
#include "gateway_test_support.h"

namespace nitric::devserver::testing {
namespace {

constexpr std::size_t k128KiB = 128 * 1024;

class AwsProfileTest : public GatewayTest {
 protected:
  static GatewayOptions AwsOptions() {
    GatewayOptions options = TestOptions();
    options.profile = AwsProfile();
    return options;
  }
};

TEST(GatewayProfiles, AwsIsApiGatewaysQuotasAndLocalIsTodaysGateway) {
  const GatewayProfile aws = AwsProfile();
  EXPECT_EQ(aws.name, "aws");
  EXPECT_EQ(aws.max_message_bytes, k128KiB);
  EXPECT_TRUE(aws.limit_sends);
  EXPECT_TRUE(aws.text_only);
  EXPECT_EQ(aws.reject_status, 401u);
  EXPECT_TRUE(aws.single_valued_query);
  EXPECT_EQ(aws.idle_timeout, std::chrono::minutes(10));
  EXPECT_EQ(aws.max_duration, std::chrono::hours(2));

  const GatewayProfile local = LocalProfile();
  EXPECT_EQ(local.name, "local");
  EXPECT_EQ(local.max_message_bytes, 1u << 20);
  EXPECT_FALSE(local.limit_sends);
  EXPECT_FALSE(local.text_only);
  EXPECT_EQ(local.reject_status, 403u);
  EXPECT_FALSE(local.single_valued_query);
  EXPECT_EQ(local.idle_timeout.count(), 0);
  EXPECT_EQ(local.max_duration.count(), 0);

  EXPECT_EQ(ProfileNamed("aws")->name, "aws");
  EXPECT_EQ(ProfileNamed("local")->name, "local");
  EXPECT_FALSE(ProfileNamed("gcp"));
}

TEST_F(AwsProfileTest, AClientBinaryFrameClosesTheConnectionWith1003Undelivered) {
  StartGateway(AwsOptions());
  Connected c = ConnectClient();
  ASSERT_TRUE(c.client);

  ASSERT_TRUE(c.client->SendText("text goes through"));
  ASSERT_TRUE(TestSink::WaitUntil([&] { return sink_.Messages(c.id).size() == 1; }));
  ASSERT_TRUE(c.client->SendBinary("\x01\x02"));

  EXPECT_EQ(c.client->WaitClosed(60s), 1003);
  EXPECT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Disconnect, c.id) == 1; }));
  EXPECT_EQ(sink_.Messages(c.id), std::vector<std::string>{"text goes through"});
}

TEST_F(AwsProfileTest, AClientMessageOver128KiBClosesTheConnectionWith1009) {
  StartGateway(AwsOptions());
  Connected c = ConnectClient();
  ASSERT_TRUE(c.client);

  ASSERT_TRUE(c.client->SendText(std::string(k128KiB, 'a')));
  ASSERT_TRUE(TestSink::WaitUntil([&] { return sink_.Messages(c.id).size() == 1; }))
      << "a message of exactly 128 KiB is allowed";
  c.client->SendText(std::string(k128KiB + 1, 'b'));  // may fail: the gateway cuts it off

  EXPECT_EQ(c.client->WaitClosed(60s), 1009);
  EXPECT_EQ(sink_.Messages(c.id).size(), 1u);
}

TEST_F(AwsProfileTest, ASendThatIsNotUtf8FailsAndNothingReachesTheClient) {
  StartGateway(AwsOptions());
  Connected c = ConnectClient();
  ASSERT_TRUE(c.client);

  const grpc::Status refused = gateway_->Send("public", c.id, std::string("\xff\xfe", 2));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("not valid UTF-8"), std::string::npos)
      << refused.error_message();
  ASSERT_TRUE(gateway_->Send("public", c.id, "caf\xc3\xa9").ok());

  // Sends to one connection keep their order: the first frame the client
  // gets is the one after the refused send.
  auto first = c.client->Receive();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->data, "caf\xc3\xa9");
  EXPECT_FALSE(first->binary);
}

TEST_F(AwsProfileTest, ASendOver128KiBFailsAsTooLargeAndTheConnectionLives) {
  StartGateway(AwsOptions());
  Connected c = ConnectClient();
  ASSERT_TRUE(c.client);

  const grpc::Status refused = gateway_->Send("public", c.id, std::string(k128KiB + 1, 'x'));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(gateway_->Send("public", c.id, std::string(k128KiB, 'y')).ok());

  auto first = c.client->Receive();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->data, std::string(k128KiB, 'y'));
}

TEST_F(AwsProfileTest, ARejectedConnectIsAnswered401) {
  sink_.SetRejectConnectIf([](const wsproto::WebsocketEventRequest&) { return true; });
  StartGateway(AwsOptions());

  auto refused = WsClient::Connect(url_);

  EXPECT_FALSE(refused.client);
  EXPECT_EQ(refused.http_status, 401);
}

TEST_F(AwsProfileTest, QueryParametersAreSingleValuedTheLastValueWins) {
  StartGateway(AwsOptions());

  ConnectClient("?a=1&b=x&a=2&a=3");

  const auto events = sink_.Events();
  ASSERT_FALSE(events.empty());
  const auto& params = events[0].request.connection().query_params();
  ASSERT_TRUE(params.contains("a"));
  EXPECT_EQ(std::vector<std::string>(params.at("a").value().begin(), params.at("a").value().end()),
            std::vector<std::string>{"3"});
  ASSERT_TRUE(params.contains("b"));
  EXPECT_EQ(params.at("b").value_size(), 1);
  EXPECT_EQ(params.at("b").value(0), "x");
}

// The limits are 10 minutes and 2 hours; the test shortens them (as the
// hidden flags --idle-timeout and --max-connection-duration do) and waits
// for the close itself, whatever the clock says.
TEST_F(AwsProfileTest, AnIdleConnectionIsClosedWith1001AndDisconnected) {
  GatewayOptions options = AwsOptions();
  options.profile.idle_timeout = 300ms;
  StartGateway(options);
  Connected c = ConnectClient();
  ASSERT_TRUE(c.client);

  EXPECT_EQ(c.client->WaitClosed(60s), 1001);
  EXPECT_NE(c.client->close_reason().find("idle"), std::string::npos) << c.client->close_reason();
  EXPECT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Disconnect, c.id) == 1; }));
}

TEST_F(AwsProfileTest, EveryConnectionIsClosedWith1001AtItsMaximumDuration) {
  GatewayOptions options = AwsOptions();
  options.profile.max_duration = 300ms;  // the idle limit stays 10 minutes
  StartGateway(options);
  Connected c = ConnectClient();
  ASSERT_TRUE(c.client);

  EXPECT_EQ(c.client->WaitClosed(60s), 1001);
  EXPECT_NE(c.client->close_reason().find("open for"), std::string::npos)
      << c.client->close_reason();
  EXPECT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Disconnect, c.id) == 1; }));
}

}  // namespace
}  // namespace nitric::devserver::testing
