// The gateway's guards against hostile clients (docs/PROTOCOL.md#dev-gateway):
// query text that is not UTF-8, foreign browser origins, a Connect the
// application never answers, and a cap on connections per socket. Each is
// checked with a real websocket client against a real Gateway.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "devserver/gateway_query.h"
#include "gateway_test_support.h"

namespace nitric::devserver::testing {
namespace {

using nitric::testing::WsClientOptions;

WsClientOptions WithOrigin(const std::string& origin) {
  WsClientOptions options;
  options.headers = {{"Origin", origin}};
  return options;
}

// --- Query text --------------------------------------------------------------

TEST_F(GatewayTest, AQueryKeyThatIsNotUtf8IsRefusedWith400NamingIt) {
  StartGateway();

  auto result = WsClient::Connect(url_ + "/?ok=1&na%FFme=x");

  EXPECT_FALSE(result.client);
  EXPECT_EQ(result.http_status, 400);
  EXPECT_NE(result.body.find("query parameter key 'na%FFme' is not valid UTF-8"), std::string::npos)
      << result.body;
  EXPECT_EQ(sink_.Count(EventType::Connect), 0u) << "the application never sees it";
}

TEST_F(GatewayTest, AQueryValueThatIsNotUtf8IsRefusedWith400NamingItsKey) {
  StartGateway();

  // An overlong '/' (C0 AF): well-formed percent escapes, malformed UTF-8.
  auto result = WsClient::Connect(url_ + "/?name=%C0%AF");

  EXPECT_FALSE(result.client);
  EXPECT_EQ(result.http_status, 400);
  EXPECT_NE(result.body.find("the value of query parameter 'name' is not valid UTF-8"),
            std::string::npos)
      << result.body;
  EXPECT_EQ(sink_.Count(EventType::Connect), 0u);
}

TEST(GatewayQueryUtf8, SaysWhichPairIsBadAndKeepsGoodQueriesWhole) {
  std::string error;
  EXPECT_TRUE(ParseQueryParams("/?k=%E2%9C%93", &error).size() == 1 && error.empty()) << error;
  EXPECT_TRUE(ParseQueryParams("/?a=1&%ED%A0%80=2", &error).empty());  // a surrogate key
  EXPECT_NE(error.find("key '%ED%A0%80'"), std::string::npos) << error;
  EXPECT_TRUE(ParseQueryParams("/?a=1&b=%F4%90%80%80", &error).empty());  // above U+10FFFF
  EXPECT_NE(error.find("value of query parameter 'b'"), std::string::npos) << error;
}

// --- Origin ------------------------------------------------------------------

TEST_F(GatewayTest, AForeignOriginIsRefusedWith403) {
  StartGateway();

  for (const std::string origin :
       {"http://evil.example", "https://evil.example:4001", "null", "http://localhost.evil.example",
        "http://127.0.0.1.evil.example:80", "file://", "http://192.168.1.10:3000"}) {
    auto result = WsClient::Connect(url_, WithOrigin(origin));

    EXPECT_FALSE(result.client) << origin;
    EXPECT_EQ(result.http_status, 403) << origin;
    EXPECT_NE(result.body.find("origin '" + origin + "' is not allowed"), std::string::npos)
        << result.body;
  }
  EXPECT_EQ(sink_.Count(EventType::Connect), 0u) << "the application never sees them";
}

TEST_F(GatewayTest, LoopbackOriginsAndRequestsWithoutOriginAreAccepted) {
  StartGateway();

  for (const std::string origin :
       {"http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5173", "https://localhost",
        "https://127.0.0.1:443", "https://[::1]:1", "HTTP://LOCALHOST:3000"}) {
    auto result = WsClient::Connect(url_, WithOrigin(origin));
    EXPECT_EQ(result.http_status, 101) << origin << ": " << result.body;
  }
  auto no_origin = WsClient::Connect(url_);
  EXPECT_EQ(no_origin.http_status, 101) << no_origin.body;
}

TEST_F(GatewayTest, AllowOriginPatternsAdmitMoreOrigins) {
  GatewayOptions options = TestOptions();
  options.allowed_origins = {"https://*.example.com", "http://devbox:*"};
  StartGateway(options);

  EXPECT_EQ(WsClient::Connect(url_, WithOrigin("https://app.example.com")).http_status, 101);
  EXPECT_EQ(WsClient::Connect(url_, WithOrigin("http://devbox:8080")).http_status, 101);
  EXPECT_EQ(WsClient::Connect(url_, WithOrigin("http://localhost:3000")).http_status, 101)
      << "loopback origins stay allowed";
  EXPECT_EQ(WsClient::Connect(url_, WithOrigin("https://example.org")).http_status, 403);
}

TEST_F(GatewayTest, AllowOriginStarAdmitsEveryOrigin) {
  GatewayOptions options = TestOptions();
  options.allowed_origins = {"*"};
  StartGateway(options);

  EXPECT_EQ(WsClient::Connect(url_, WithOrigin("http://evil.example")).http_status, 101);
  EXPECT_EQ(WsClient::Connect(url_, WithOrigin("null")).http_status, 101);
}

// --- Connect deadline --------------------------------------------------------

TEST_F(GatewayTest, AConnectNotAnsweredInTimeGets504AndIsNeverOpened) {
  sink_.HoldAnswers(EventType::Connect);  // the application hangs
  GatewayOptions options = TestOptions();
  options.connect_timeout = 200ms;
  StartGateway(options);

  WsClientOptions patient;
  patient.timeout = 60s;  // only bounds a hang: the gateway must answer first
  auto result = WsClient::Connect(url_, patient);

  EXPECT_FALSE(result.client);
  EXPECT_EQ(result.http_status, 504);
  EXPECT_NE(result.body.find("the connect handler of socket 'public' did not answer within 0.2 s"),
            std::string::npos)
      << result.body;
  ASSERT_EQ(sink_.ConnectIds().size(), 1u);
  const std::string late_id = sink_.ConnectIds()[0];

  // The application accepts after all: too late, nothing opens.
  sink_.ReleaseAnswers(EventType::Connect);
  auto next = ConnectClient();  // answered at once now; a fence for the late answer
  ASSERT_TRUE(next.client);
  EXPECT_TRUE(WaitForConnectionCount(1));
  EXPECT_EQ(gateway_->Send("public", late_id, "hello").error_code(), grpc::StatusCode::NOT_FOUND);
}

// --- Connection cap ----------------------------------------------------------

TEST_F(GatewayTest, PastMaxConnectionsASocketRefusesWith503UntilOneEnds) {
  GatewayOptions options = TestOptions();
  options.max_connections = 2;
  StartGateway(options);
  auto first = ConnectClient();
  auto second = ConnectClient();
  ASSERT_TRUE(first.client && second.client);

  auto refused = WsClient::Connect(url_);

  EXPECT_FALSE(refused.client);
  EXPECT_EQ(refused.http_status, 503);
  EXPECT_NE(refused.body.find("websocket 'public' has 2 connections, the most the membrane "
                              "allows (--max-connections)"),
            std::string::npos)
      << refused.body;
  EXPECT_EQ(sink_.Count(EventType::Connect), 2u) << "the application never sees the third";

  ASSERT_TRUE(first.client->Close());
  ASSERT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Disconnect) == 1; }));
  ASSERT_TRUE(WaitForConnectionCount(1));
  auto again = WsClient::Connect(url_);
  EXPECT_EQ(again.http_status, 101) << again.body;
}

TEST_F(GatewayTest, ConnectsStillBeingDecidedCountAgainstMaxConnections) {
  sink_.HoldAnswers(EventType::Connect);
  GatewayOptions options = TestOptions();
  options.max_connections = 1;
  StartGateway(options);
  std::thread waiting([&] { WsClient::Connect(url_, WsClientOptions{.timeout = 60s}); });
  ASSERT_TRUE(TestSink::WaitUntil([&] { return sink_.Count(EventType::Connect) == 1; }, 60s));

  auto refused = WsClient::Connect(url_);

  EXPECT_EQ(refused.http_status, 503) << refused.body;
  sink_.ReleaseAnswers(EventType::Connect);
  waiting.join();
}

}  // namespace
}  // namespace nitric::devserver::testing
