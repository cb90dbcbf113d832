// The host function table against bad calls, in-process (plugin.h, ARGUMENTS
// AND HANDLES): an exception inside the host comes back as INTERNAL with its
// text, event handles are refused outside their handler call and thread, and
// declarations are refused from any thread but init()'s. The end-to-end twin,
// with a C plugin built without unwind tables against the real host, is
// tests/host/host_bad_plugin_args_test.cc.
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "host/plugins/host_context.h"
#include "plugin_test_support.h"

namespace nitric::host {
namespace {

using testing::FakeMembrane;

nitric_str S(const char* s) { return nitric_str{s, std::strlen(s)}; }

// A membrane client with a bug: every send throws.
class ThrowingMembrane : public FakeMembrane {
 public:
  Status Send(std::string_view, std::string_view, std::string_view) override {
    throw std::runtime_error("boom in the membrane client");
  }
};

struct Context {
  nitric_host host;
  ThrowingMembrane membrane;
  testing::LogCapture log;
  const nitric_host_api* api = HostApi();

  Context() {
    host.plugin_name = "probe";
    host.file_name = "probe.so";
    host.logger = log.logger()->clone("probe");
    host.membrane = &membrane;
  }
};

TEST(HostApiArgs, AnExceptionInsideTheHostComesBackAsInternalWithItsText) {
  Context c;
  ASSERT_EQ(c.api->declare_websocket(&c.host, S("s")), NITRIC_OK);
  c.host.phase.store(nitric_host::kServing);
  EXPECT_EQ(c.api->ws_send(&c.host, S("s"), S("c1"), S("hi")), NITRIC_ERR_INTERNAL);
  EXPECT_STREQ(c.api->last_error(),
               "ws_send: internal error in the host: boom in the membrane client");
}

TEST(HostApiArgs, DeclarationsFromAnotherThreadThanInitsAreRefused) {
  Context c;  // created on this thread, which stands for init()'s
  nitric_status from_other = NITRIC_OK;
  std::string text;
  std::thread([&] {
    from_other = c.api->declare_websocket(&c.host, S("late"));
    text = c.api->last_error();
  }).join();
  EXPECT_EQ(from_other, NITRIC_ERR_FAILED_PRECONDITION);
  EXPECT_NE(text.find("only accepted on the thread running init()"), std::string::npos) << text;
  EXPECT_EQ(c.api->declare_websocket(&c.host, S("now")), NITRIC_OK);
  EXPECT_EQ(c.host.sockets.count("late"), 0u);
}

class EventHandleTest : public ::testing::Test {
 protected:
  EventHandleTest() : request_(testing::Connect("s", "c1", {{"k", {"v"}}})) {
    event_.request = &request_;
    event_.type = NITRIC_EVENT_CONNECT;
  }
  nitric_status QueryKey(nitric_event* handle) {
    nitric_str key{};
    size_t count = 0;
    return api_->event_query_key(handle, 0, &key, &count);
  }

  const nitric_host_api* api_ = HostApi();
  wsproto::WebsocketEventRequest request_;
  nitric_event event_;
};

TEST_F(EventHandleTest, IsValidOnlyDuringItsScopeOnItsThread) {
  nitric_event* kept = nullptr;
  {
    EventScope scope(&event_);
    kept = scope.handle();
    EXPECT_EQ(QueryKey(kept), NITRIC_OK);
    EXPECT_EQ(api_->event_type(kept), NITRIC_EVENT_CONNECT);

    nitric_status from_other = NITRIC_OK;
    nitric_event_type type_from_other = NITRIC_EVENT_CONNECT;
    std::thread([&] {
      from_other = QueryKey(kept);
      type_from_other = api_->event_type(kept);
    }).join();
    EXPECT_EQ(from_other, NITRIC_ERR_FAILED_PRECONDITION);
    EXPECT_EQ(type_from_other, NITRIC_EVENT_TYPE_INVALID);
  }
  EXPECT_EQ(QueryKey(kept), NITRIC_ERR_FAILED_PRECONDITION);
  EXPECT_NE(std::string(api_->last_error()).find("only valid during the handler call"),
            std::string::npos)
      << api_->last_error();
  EXPECT_EQ(api_->event_socket(kept).ptr, nullptr);
  api_->event_reject(kept);
  EXPECT_FALSE(event_.rejected);
}

TEST_F(EventHandleTest, AKeptHandleIsRefusedEvenWhileALaterEventRunsOnTheSameThread) {
  nitric_event* kept = nullptr;
  {
    EventScope first(&event_);
    kept = first.handle();
  }
  EventScope second(&event_);  // the same event object, even: a new handle
  EXPECT_NE(second.handle(), kept);
  EXPECT_EQ(QueryKey(kept), NITRIC_ERR_FAILED_PRECONDITION);
  EXPECT_EQ(QueryKey(second.handle()), NITRIC_OK);
}

TEST_F(EventHandleTest, TheEventsAddressIsNotAHandleAndNullIsAnInvalidArgument) {
  EventScope scope(&event_);
  EXPECT_EQ(QueryKey(&event_), NITRIC_ERR_FAILED_PRECONDITION);
  EXPECT_EQ(QueryKey(nullptr), NITRIC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api_->event_query_count(nullptr), 0u);
}

}  // namespace
}  // namespace nitric::host
