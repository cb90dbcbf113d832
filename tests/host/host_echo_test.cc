// The echo scenario end to end (ws client → dev gateway → membrane →
// nitric-host → plugin → back) for each echo plugin: plugins/echo (C++, with
// plugin.hpp) and examples/rust-echo (Rust, hand-written FFI against
// plugin.h, built by cargo). Both must pass the same scenario; the Rust one
// is part of every build unless configured with
// -DNITRIC_BUILD_RUST_EXAMPLE=OFF, which leaves its case out.
#include <string>
#include <vector>

#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

struct EchoPlugin {
  std::string path;    // the built plugin file
  std::string socket;  // the socket it serves by default
  std::string label;   // the test name's suffix
};

class EchoTest : public HostTest, public ::testing::WithParamInterface<EchoPlugin> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(HostTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(AddPlugin(GetParam().path));
    ASSERT_NO_FATAL_FAILURE(StartHost());
  }
  const std::string& socket() const { return GetParam().socket; }
};

TEST_P(EchoTest, TextAndBinaryMessagesComeBackByteForByte) {
  auto client = Connect(socket());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("hello"));
  auto reply = client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, "hello");
  EXPECT_FALSE(reply->binary);

  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  ASSERT_TRUE(client->SendBinary(all_bytes));
  reply = client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, all_bytes);
  EXPECT_TRUE(reply->binary);

  ASSERT_TRUE(client->SendText(std::string("a\0b", 3)));
  reply = client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data, std::string("a\0b", 3));

  const std::string large(1 << 20, 'x');
  ASSERT_TRUE(client->SendText(large));
  reply = client->Receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data.size(), large.size());
  EXPECT_EQ(reply->data, large);
}

TEST_P(EchoTest, EachClientGetsItsOwnMessagesInOrder) {
  auto a = Connect(socket());
  auto b = Connect(socket());
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  constexpr int kMessages = 100;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(a->SendText("a" + std::to_string(i)));
    ASSERT_TRUE(b->SendText("b" + std::to_string(i)));
  }
  for (int i = 0; i < kMessages; ++i) {
    auto from_a = a->Receive();
    ASSERT_TRUE(from_a) << i;
    ASSERT_EQ(from_a->data, "a" + std::to_string(i));
    auto from_b = b->Receive();
    ASSERT_TRUE(from_b) << i;
    ASSERT_EQ(from_b->data, "b" + std::to_string(i));
  }
}

TEST_P(EchoTest, CarriesTheAbiNoteAndLoadsWithoutTheFallback) {
  auto client = Connect(socket());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->SendText("x"));
  ASSERT_TRUE(client->Receive());
  EXPECT_EQ(host_.stderr_text().find("has no ABI note"), std::string::npos) << host_.stderr_text();
}

std::vector<EchoPlugin> EchoPlugins() {
  std::vector<EchoPlugin> plugins = {{ExamplePlugin("echo").string(), "echo", "Cpp"}};
#ifdef NITRIC_RUST_ECHO_PLUGIN
  plugins.push_back({NITRIC_RUST_ECHO_PLUGIN, "rust-echo", "Rust"});
#endif
  return plugins;
}

INSTANTIATE_TEST_SUITE_P(EchoPlugins, EchoTest, ::testing::ValuesIn(EchoPlugins()),
                         [](const ::testing::TestParamInfo<EchoPlugin>& info) {
                           return info.param.label;
                         });

}  // namespace
}  // namespace nitric::testing
