// A careless plain-C plugin against the real host (plugins calling the host,
// docs/ARCHITECTURE.md#isolation): NULL strings, NULL out-pointers, a kept
// event handle, an event handle and a declaration from another thread, at
// init and in a handler.
// The plugin is built without unwind tables (tests/plugins/abi/nullargs.c),
// so an exception the host let out, like a NULL it read, would kill the host.
// Every call must come back with its status, the host must stay up, and the
// other plugin must keep serving.
#include <string>

#include "host/host_fixture.h"

namespace nitric::testing {
namespace {

const std::string kInitReport =
    "init: declare_null=INVALID_ARGUMENT on_null=INVALID_ARGUMENT kv_null=INVALID_ARGUMENT "
    "config_null_path=INVALID_ARGUMENT config_null_out=INVALID_ARGUMENT "
    "declare_null_host=INVALID_ARGUMENT init_thread_declare=FAILED_PRECONDITION";

std::string HandlerReport(bool with_stale_event) {
  return std::string(
             " | handler: send_null_socket=INVALID_ARGUMENT send_null_connection=INVALID_ARGUMENT "
             "send_null_data=INVALID_ARGUMENT close_null_connection=INVALID_ARGUMENT "
             "kv_set_null_json=INVALID_ARGUMENT kv_get_null_key=INVALID_ARGUMENT "
             "kv_get_null_out=INVALID_ARGUMENT kv_keys_null_prefix=INVALID_ARGUMENT "
             "kv_keys_next_null_iter=INVALID_ARGUMENT send_null_host=INVALID_ARGUMENT "
             "query_null_event=INVALID_ARGUMENT") +
         (with_stale_event ? " stale_event=FAILED_PRECONDITION" : "") +
         " thread_event=FAILED_PRECONDITION thread_declare=FAILED_PRECONDITION";
}

class BadPluginArgsTest : public HostTest {
 protected:
  std::string Ask(WsClient& client, const std::string& text) {
    EXPECT_TRUE(client.SendText(text));
    auto reply = client.Receive();
    EXPECT_TRUE(reply.has_value()) << "no answer to " << text;
    return reply ? reply->data : "";
  }
};

TEST_F(BadPluginArgsTest, NullStringsAndMisusedHandlesGetAStatusAndTheHostKeepsServing) {
  ASSERT_NO_FATAL_FAILURE(AddPlugin(TestPlugin("nullargs")));
  ASSERT_NO_FATAL_FAILURE(AddPlugin(ExamplePlugin("echo")));
  ASSERT_NO_FATAL_FAILURE(StartHost());

  auto careless = Connect("nullargs");
  ASSERT_TRUE(careless);
  EXPECT_EQ(Ask(*careless, "one"), kInitReport + HandlerReport(false));
  // The second handler also uses the first one's handle, kept on purpose.
  EXPECT_EQ(Ask(*careless, "two"), kInitReport + HandlerReport(true));

  auto other = Connect("echo");
  ASSERT_TRUE(other);
  EXPECT_EQ(Ask(*other, "still serving"), "still serving");
  EXPECT_FALSE(host_.Wait(0ms).has_value()) << "the host exited";
}

}  // namespace
}  // namespace nitric::testing
