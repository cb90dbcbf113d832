// The functions ABI 1.1 appended to the host table (plugin.h, COMPATIBILITY),
// called through the table exactly as a plugin calls them, against a fake
// membrane whose sends complete later on another thread (as gRPC's do):
// event_set_error keeps a handler's failure text with its event;
// ws_send_start pipelines inside a handler call whatever the config says,
// with or without an id; ws_send_wait gives one send's own result; ws_send
// of a 1.1 plugin always blocks, a 1.0 plugin's follows host.pipelined_sends.
#include <cstring>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "../plugin_test_support.h"
#include "host/plugins/host_context.h"
#include "host/plugins/send_batch.h"

namespace nitric::host {
namespace {

using testing::FakeMembrane;

nitric_str S(const char* s) { return nitric_str{s, std::strlen(s)}; }

// A serving plugin context (as the loader makes one) with socket "s".
struct Context {
  nitric_host host;
  FakeMembrane membrane;
  testing::LogCapture log;
  const nitric_host_api* api = HostApi();

  explicit Context(uint32_t abi_minor, bool pipelined_config) {
    host.plugin_name = "probe";
    host.file_name = "probe.so";
    host.logger = log.logger()->clone("probe");
    host.membrane = &membrane;
    host.abi_minor = abi_minor;
    host.sockets.emplace("s");
    host.phase.store(nitric_host::kServing);
    // The fake's SendAsync completes later on another thread only when
    // "pipelined"; PipelinesSends() is host.pipelined_sends.
    membrane.set_pipelined(pipelined_config);
  }
};

// What the host does around one handler call (plugin_generation.cc): a send
// batch and an event scope on this thread; Finish() is the call's end.
struct HandlerCall {
  nitric_event event;
  SendBatch batch;
  std::unique_ptr<SendBatch::Scope> batch_scope = std::make_unique<SendBatch::Scope>(&batch);
  std::unique_ptr<EventScope> event_scope = std::make_unique<EventScope>(&event);

  nitric_event* handle() const { return event_scope->handle(); }
  // Ends the call: the first failure that fails it, or null.
  std::unique_ptr<SendBatch::Failure> End() {
    event_scope.reset();
    batch_scope.reset();
    return batch.Finish();
  }
};

TEST(EventSetError, KeepsTheTextWithTheHandlersEvent) {
  Context c(1, true);
  HandlerCall call;
  ASSERT_EQ(c.api->event_set_error(call.handle(), "first", 5), NITRIC_OK);
  ASSERT_EQ(c.api->event_set_error(call.handle(), "bad input\0x", 11), NITRIC_OK);
  EXPECT_TRUE(call.event.has_error);
  EXPECT_EQ(call.event.error, std::string("bad input\0x", 11)) << "copied, binary-safe, last wins";
  EXPECT_EQ(c.api->event_set_error(call.handle(), nullptr, 4), NITRIC_OK);
  EXPECT_EQ(call.event.error, "") << "{NULL, len} is empty text";
  nitric_event* kept = call.handle();
  call.End();
  EXPECT_EQ(c.api->event_set_error(kept, "late", 4), NITRIC_ERR_FAILED_PRECONDITION);
  EXPECT_EQ(c.api->event_set_error(nullptr, "x", 1), NITRIC_ERR_INVALID_ARGUMENT);
}

TEST(WsSendStart, OutsideAHandlerBlocksAndReturnsTheSendsOwnResult) {
  Context c(1, true);
  nitric_send_id id = 99;
  ASSERT_EQ(c.api->ws_send_start(&c.host, S("s"), S("a"), S("hi"), &id), NITRIC_OK);
  EXPECT_EQ(id, 0u);
  EXPECT_EQ(c.membrane.SentTo("a"), std::vector<std::string>{"hi"}) << "sent before it returned";
  EXPECT_EQ(c.api->ws_send_wait(&c.host, id), NITRIC_OK) << "0: nothing in flight";
  c.membrane.set_fail_sends(true);
  EXPECT_EQ(c.api->ws_send_start(&c.host, S("s"), S("a"), S("hi"), nullptr),
            NITRIC_ERR_UNAVAILABLE);
  EXPECT_NE(std::string(c.api->last_error()).find("membrane down"), std::string::npos);
}

TEST(WsSendStart, ChecksItsArgumentsFirstAndSendsNothing) {
  Context c(1, true);
  HandlerCall call;
  nitric_send_id id = 99;
  EXPECT_EQ(c.api->ws_send_start(&c.host, nitric_str{nullptr, 3}, S("a"), S("x"), &id),
            NITRIC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(id, 0u);
  EXPECT_EQ(c.api->ws_send_start(&c.host, S("s"), S("a"), nitric_str{nullptr, 1}, nullptr),
            NITRIC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c.api->ws_send_start(&c.host, S("undeclared"), S("a"), S("x"), &id),
            NITRIC_ERR_PERMISSION_DENIED);
  EXPECT_EQ(c.api->ws_send_start(nullptr, S("s"), S("a"), S("x"), &id),
            NITRIC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(call.End(), nullptr);
  EXPECT_TRUE(c.membrane.sent().empty());
}

// host.pipelined_sends = false concerns 1.0 plugins only: ws_send_start
// pipelines anyway (the fake completes it later, on another thread).
TEST(WsSendStart, WithoutAnIdAFailedSendFailsTheCall) {
  Context c(1, false);
  c.membrane.set_pipelined(true);  // sends complete later; the config says "off"
  c.membrane.set_fail_sends(true);
  HandlerCall call;
  EXPECT_EQ(c.api->ws_send_start(&c.host, S("s"), S("a"), S("x"), nullptr), NITRIC_OK);
  auto failed = call.End();
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->status.code(), NITRIC_ERR_UNAVAILABLE);
  EXPECT_EQ(failed->connection, "a");
}

TEST(WsSendStart, WithAnIdTheResultIsThePluginsAndDoesNotFailTheCall) {
  Context c(1, true);
  HandlerCall call;
  nitric_send_id ok_id = 0;
  ASSERT_EQ(c.api->ws_send_start(&c.host, S("s"), S("a"), S("one"), &ok_id), NITRIC_OK);
  EXPECT_NE(ok_id, 0u);
  EXPECT_EQ(c.api->ws_send_wait(&c.host, ok_id), NITRIC_OK);
  // From here every send fails (the fake decides when the send completes).
  c.membrane.set_fail_sends(true);
  nitric_send_id gone_id = 0, b_id = 0;
  ASSERT_EQ(c.api->ws_send_start(&c.host, S("s"), S("gone"), S("two"), &gone_id), NITRIC_OK);
  ASSERT_EQ(c.api->ws_send_start(&c.host, S("s"), S("b"), S("three"), &b_id), NITRIC_OK);
  EXPECT_NE(gone_id, b_id);
  // Waited for in the other order: each id has its own result and text.
  EXPECT_EQ(c.api->ws_send_wait(&c.host, b_id), NITRIC_ERR_UNAVAILABLE);
  EXPECT_NE(std::string(c.api->last_error()).find("ws_send s/b: membrane down"), std::string::npos)
      << c.api->last_error();
  EXPECT_EQ(c.api->ws_send_wait(&c.host, gone_id), NITRIC_ERR_UNAVAILABLE);
  EXPECT_NE(std::string(c.api->last_error()).find("ws_send s/gone: membrane down"),
            std::string::npos)
      << c.api->last_error();
  EXPECT_EQ(c.api->ws_send_wait(&c.host, gone_id), NITRIC_ERR_FAILED_PRECONDITION)
      << "each id is waited for once";
  EXPECT_NE(std::string(c.api->last_error()).find("already waited"), std::string::npos);
  EXPECT_EQ(c.api->ws_send_wait(&c.host, ok_id), NITRIC_ERR_FAILED_PRECONDITION);
  EXPECT_EQ(call.End(), nullptr) << "failures the plugin saw do not fail the call";
  EXPECT_EQ(c.membrane.SentTo("a"), std::vector<std::string>{"one"});
}

TEST(WsSendStart, AnIdNeverWaitedForFailsTheCallLikeOneWithout) {
  Context c(1, true);
  c.membrane.set_fail_sends(true);
  HandlerCall call;
  nitric_send_id id = 0;
  ASSERT_EQ(c.api->ws_send_start(&c.host, S("s"), S("gone"), S("x"), &id), NITRIC_OK);
  auto failed = call.End();
  ASSERT_NE(failed, nullptr) << "a failure nobody looked at is not lost";
  EXPECT_EQ(failed->connection, "gone");
}

TEST(WsSendWait, RefusesIdsOfAnotherCallOrThread) {
  Context c(1, true);
  nitric_send_id old_id = 0;
  {
    HandlerCall call;
    ASSERT_EQ(c.api->ws_send_start(&c.host, S("s"), S("a"), S("x"), &old_id), NITRIC_OK);
    // Another thread cannot wait for it.
    nitric_status from_thread = NITRIC_OK;
    std::thread([&] { from_thread = c.api->ws_send_wait(&c.host, old_id); }).join();
    EXPECT_EQ(from_thread, NITRIC_ERR_FAILED_PRECONDITION);
    call.End();
  }
  HandlerCall next;
  EXPECT_EQ(c.api->ws_send_wait(&c.host, old_id), NITRIC_ERR_FAILED_PRECONDITION);
  EXPECT_NE(std::string(c.api->last_error()).find("only valid on the handler's thread"),
            std::string::npos);
  EXPECT_EQ(c.api->ws_send_wait(&c.host, 12345), NITRIC_ERR_FAILED_PRECONDITION);
  EXPECT_EQ(c.api->ws_send_wait(nullptr, old_id), NITRIC_ERR_INVALID_ARGUMENT);
  next.End();
}

TEST(WsSendStart, SendsToOneConnectionKeepTheirOrderAndACloseWaitsForThem) {
  Context c(1, true);
  HandlerCall call;
  std::vector<nitric_send_id> ids;
  for (int i = 0; i < 20; ++i) {
    const std::string text = std::to_string(i);
    nitric_send_id id = 0;
    ASSERT_EQ(c.api->ws_send_start(&c.host, S("s"), S("a"), nitric_str{text.data(), text.size()},
                                   i % 2 == 0 ? &id : nullptr),
              NITRIC_OK);
    if (id != 0) ids.push_back(id);
  }
  ASSERT_EQ(c.api->ws_close(&c.host, S("s"), S("a")), NITRIC_OK);
  for (nitric_send_id id : ids) EXPECT_EQ(c.api->ws_send_wait(&c.host, id), NITRIC_OK);
  EXPECT_EQ(call.End(), nullptr);
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) expected.push_back("send a " + std::to_string(i));
  expected.push_back("close a");
  EXPECT_EQ(c.membrane.calls(), expected);
}

// plugin.h, ws_send: a 1.1 plugin's always blocks and returns the send's own
// result; a 1.0 plugin's is pipelined while host.pipelined_sends is on.
TEST(WsSend, OfA11PluginBlocksWhateverTheConfigSays) {
  Context c(1, true);
  c.membrane.set_fail_sends(true);
  HandlerCall call;
  EXPECT_EQ(c.api->ws_send(&c.host, S("s"), S("gone"), S("x")), NITRIC_ERR_UNAVAILABLE);
  EXPECT_EQ(call.End(), nullptr) << "the plugin got the failure; the call does not fail";
}

TEST(WsSend, OfA11PluginWaitsForTheSendsStartedBeforeIt) {
  Context c(1, true);
  HandlerCall call;
  ASSERT_EQ(c.api->ws_send_start(&c.host, S("s"), S("a"), S("first"), nullptr), NITRIC_OK);
  ASSERT_EQ(c.api->ws_send(&c.host, S("s"), S("a"), S("second")), NITRIC_OK);
  EXPECT_EQ(c.membrane.calls(), (std::vector<std::string>{"send a first", "send a second"}));
  EXPECT_EQ(call.End(), nullptr);
}

TEST(WsSend, OfA10PluginFollowsHostPipelinedSends) {
  {
    Context c(0, true);
    c.membrane.set_fail_sends(true);
    HandlerCall call;
    EXPECT_EQ(c.api->ws_send(&c.host, S("s"), S("gone"), S("x")), NITRIC_OK) << "pipelined";
    auto failed = call.End();
    ASSERT_NE(failed, nullptr);
    EXPECT_EQ(failed->status.code(), NITRIC_ERR_UNAVAILABLE);
  }
  {
    Context c(0, false);
    c.membrane.set_fail_sends(true);
    HandlerCall call;
    EXPECT_EQ(c.api->ws_send(&c.host, S("s"), S("gone"), S("x")), NITRIC_ERR_UNAVAILABLE);
    EXPECT_EQ(call.End(), nullptr);
  }
}

}  // namespace
}  // namespace nitric::host
