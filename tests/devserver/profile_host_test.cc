// `nitric-host --dev --dev-profile aws` hands the profile to its in-process
// dev gateway, and a plugin sees the sends the profile refuses as errors;
// the gateway's GET /metrics counts them: the real binary, the sendprobe
// test plugin (plugins/sendprobe.c), real websocket clients, promtool.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "host/host_process.h"
#include "metrics_text.h"
#include "support/temp_dir.h"
#include "support/ws_client.h"

namespace nitric::testing {
namespace {

constexpr std::size_t k128KiB = 128 * 1024;

class ProfileHostTest : public ::testing::Test {
 protected:
  // Starts the host with the sendprobe plugin and pipelined sends off (so
  // ws_send returns the membrane's answer); returns socket "probe"'s URL.
  std::string StartHost(const std::vector<std::string>& profile_args) {
    const auto plugins = dir_.path() / "plugins";
    std::filesystem::create_directories(plugins);
    std::filesystem::copy_file(std::filesystem::path(NITRIC_SENDPROBE_PLUGIN),
                               plugins / "sendprobe.so");
    const auto config = dir_.path() / "nitric-host.toml";
    std::ofstream(config) << "[host]\npipelined_sends = false\n";
    std::vector<std::string> args{
        "--dev",     "--dev-port",     "0",        "--dev-data",   (dir_.path() / "data").string(),
        "--plugins", plugins.string(), "--config", config.string()};
    args.insert(args.end(), profile_args.begin(), profile_args.end());
    EXPECT_TRUE(host_.Start(args));
    EXPECT_TRUE(host_.WaitForStdout("websocket probe: ", 60s)) << host_.stderr_text();
    EXPECT_TRUE(host_.WaitForStdout("\n", 60s));
    std::smatch m;
    const std::string out = host_.stdout_text();
    EXPECT_TRUE(
        std::regex_search(out, m, std::regex("websocket probe: (ws://127\\.0\\.0\\.1:[0-9]+)")))
        << out;
    return m.size() > 1 ? m[1].str() + "/" : std::string("ws://127.0.0.1:1/");
  }

  std::unique_ptr<WsClient> Connect(const std::string& url) {
    auto result = WsClient::Connect(url);
    EXPECT_EQ(result.http_status, 101) << result.error << " " << result.body;
    return std::move(result.client);
  }

  // Asks the plugin to send `request`'s data; returns the frames it got back
  // (the data, when sent, then "send:<STATUS>").
  std::vector<WsMessage> Probe(WsClient& client, const std::string& request) {
    std::vector<WsMessage> frames;
    EXPECT_TRUE(client.SendText(request));
    while (auto frame = client.Receive(60s)) {
      frames.push_back(*frame);
      if (frame->data.rfind("send:", 0) == 0) break;
    }
    return frames;
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << "---- nitric-host stderr ----\n" << host_.stderr_text();
  }

  TempDir dir_;
  HostProcess host_;
};

TEST_F(ProfileHostTest, UnderTheAwsProfileThePluginSeesTheSendsItRefuses) {
  const std::string url = StartHost({"--dev-profile", "aws"});
  EXPECT_TRUE(host_.WaitForStderr("gateway profile aws: text only")) << host_.stderr_text();
  auto client = Connect(url);
  ASSERT_TRUE(client);

  auto frames = Probe(*client, "hex:ff");
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].data, "send:INVALID_ARGUMENT");

  frames = Probe(*client, "hex:c3a9");
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].data, "\xc3\xa9");
  EXPECT_EQ(frames[1].data, "send:OK");

  frames = Probe(*client, "size:" + std::to_string(k128KiB + 1));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].data, "send:TOO_LARGE");

  frames = Probe(*client, "size:" + std::to_string(k128KiB));
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].data.size(), k128KiB);
  EXPECT_EQ(frames[1].data, "send:OK");

  // And the client side of the profile: no binary frames.
  ASSERT_TRUE(client->SendBinary("\x01"));
  EXPECT_EQ(client->WaitClosed(60s), 1003);

  host_.Signal(SIGTERM);
  EXPECT_EQ(host_.Wait(60s), 0);
}

TEST_F(ProfileHostTest, TheLocalProfileStaysBinarySafe) {
  const std::string url = StartHost({});
  auto client = Connect(url);
  ASSERT_TRUE(client);

  auto frames = Probe(*client, "hex:ff");
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].data, "\xff");
  EXPECT_TRUE(frames[0].binary);
  EXPECT_EQ(frames[1].data, "send:OK");

  host_.Signal(SIGTERM);
  EXPECT_EQ(host_.Wait(60s), 0);
}

TEST_F(ProfileHostTest, TheDevGatewaysMetricsCountWhatPassedAndWhatWasRefusedAndPassPromtool) {
  const std::string url = StartHost({"--dev-profile", "aws"});
  auto client = Connect(url);
  ASSERT_TRUE(client);

  ASSERT_EQ(Probe(*client, "size:100").size(), 2u);  // 100 bytes, then "send:OK"
  ASSERT_EQ(Probe(*client, "hex:ff").size(), 1u);    // "send:INVALID_ARGUMENT"
  ASSERT_EQ(Probe(*client, "size:" + std::to_string(k128KiB + 1)).size(), 1u);  // "send:TOO_LARGE"

  // The last report may reach the client before the gateway counts its write
  // and before the plugin's answer to the message that asked for it.
  const std::string frames_out =
      R"(nitric_dev_gateway_frames_total{socket="probe",direction="out"})";
  const std::string messages =
      R"(nitric_dev_gateway_delivery_seconds_count{socket="probe",event="message"})";
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    const HttpReply reply = HttpRequest(url + "metrics");
    ASSERT_EQ(reply.status, 200) << reply.error << reply.body;
    text = reply.body;
    const bool settled = SampleValue(text, frames_out) == 4 && SampleValue(text, messages) == 3;
    if (settled || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(10ms);
  }

  EXPECT_EQ(SampleValue(text, frames_out), 4) << text;
  EXPECT_EQ(
      SampleValue(text, R"(nitric_dev_gateway_frame_bytes_total{socket="probe",direction="out"})"),
      100 + 7 + 21 + 14);
  EXPECT_EQ(SampleValue(text, R"(nitric_dev_gateway_frames_total{socket="probe",direction="in"})"),
            3);
  EXPECT_EQ(
      SampleValue(text, R"(nitric_dev_gateway_frame_bytes_total{socket="probe",direction="in"})"),
      8 + 6 + 11);
  EXPECT_EQ(
      SampleValue(text,
                  R"(nitric_dev_gateway_refusals_total{socket="probe",reason="send_not_utf8"})"),
      1);
  EXPECT_EQ(
      SampleValue(text,
                  R"(nitric_dev_gateway_refusals_total{socket="probe",reason="send_too_large"})"),
      1);
  EXPECT_EQ(SampleValue(text, R"(nitric_dev_gateway_connections{socket="probe"})"), 1);
  EXPECT_EQ(
      SampleValue(text,
                  R"(nitric_dev_gateway_delivery_seconds_count{socket="probe",event="connect"})"),
      1);
  EXPECT_EQ(SampleValue(text, messages), 3);
  EXPECT_EQ(SampleValue(text, R"(nitric_dev_gateway_info{socket="probe",profile="aws"})"), 1);
  const auto check = PromtoolCheckMetrics(text);
  EXPECT_EQ(check.exit_code, 0) << check.output << "\nfor:\n" << text;

  host_.Signal(SIGTERM);
  EXPECT_EQ(host_.Wait(60s), 0);
}

TEST(ProfileHostCli, AnUnknownDevProfileIsAUsageError) {
  HostProcess host;
  EXPECT_EQ(host.Run({"--dev", "--dev-profile", "gcp"}), 2);
  EXPECT_NE(host.stderr_text().find("--dev-profile: expected local or aws, got \"gcp\""),
            std::string::npos)
      << host.stderr_text();
}

}  // namespace
}  // namespace nitric::testing
