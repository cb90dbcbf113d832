// The C++ face (plugin.hpp) in-process: its value types, and handlers run
// against the real host function table with a real host-side event.
#include <nitric/plugin.hpp>

#include <string>

#include <gtest/gtest.h>

#include "host/plugins/host_context.h"
#include "plugin_test_support.h"

namespace {

using nitric::Error;
using nitric::Object;
using nitric::Result;
using nitric::Value;

TEST(PluginHppError, DefaultIsSuccessAndConvertsToFalse) {
  Error ok;
  EXPECT_FALSE(ok);
  EXPECT_TRUE(ok.ok());
  Error bad("nope");
  EXPECT_TRUE(bad);
  EXPECT_EQ(bad.code(), NITRIC_ERR_HANDLER);
  EXPECT_EQ(bad.ToString(), "HANDLER: nope");
  EXPECT_TRUE(Error(NITRIC_ERR_NOT_FOUND, "x").IsNotFound());
}

TEST(PluginHppResult, HoldsAValueOrAnError) {
  Result<int> good = 3;
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 3);
  Result<int> bad = Error(NITRIC_ERR_UNAVAILABLE, "down");
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), NITRIC_ERR_UNAVAILABLE);
  EXPECT_EQ(bad.value_or(7), 7);
  Result<int> confused = Error();  // an OK error is not a value
  EXPECT_FALSE(confused);
  EXPECT_EQ(confused.error().code(), NITRIC_ERR_INTERNAL);
}

TEST(PluginHppEventType, MasksCombineAndPrintLikeGo) {
  using namespace nitric;
  EXPECT_EQ(static_cast<uint32_t>(EventType_Connect | EventType_Message),
            NITRIC_ON_CONNECT | NITRIC_ON_MESSAGE);
  EXPECT_STREQ(ToString(EventType_Disconnect), "disconnect");
  EXPECT_STREQ(ToString(EventType_Connect | EventType_Message), "mixed");
  EXPECT_EQ(static_cast<uint32_t>(KvStoreGet | KvStoreDelete), NITRIC_KV_GET | NITRIC_KV_DELETE);
}

TEST(PluginHppJson, WritesFlatObjectsWithCorrectEscaping) {
  Object o{{"connectionId", "abc"},
           {"quote", "say \"hi\"\\"},
           {"ctl", std::string("a\nb\x01", 4)},
           {"utf8", "h\xc3\xa9"},
           {"n", 42},
           {"half", 0.5},
           {"yes", true},
           {"none", nullptr}};
  EXPECT_EQ(o.ToJson(), R"({"connectionId":"abc","ctl":"a\nb\u0001","half":0.5,"n":42,"none":null,)"
                        R"("quote":"say \"hi\"\\","utf8":"h)"
                        "\xc3\xa9"
                        R"(","yes":true})");
}

TEST(PluginHppJson, NumbersPrintShortestAndNonFiniteAsNull) {
  EXPECT_EQ(Value(1e21).ToJson(), "1e+21");
  EXPECT_EQ(Value(-3).ToJson(), "-3");
  EXPECT_EQ(Value(0.1).ToJson(), "0.1");
  EXPECT_EQ(Value(1.0 / 0.0).ToJson(), "null");
}

TEST(PluginHppJson, ParsesWhatItWritesAndWhatProtobufWrites) {
  Object o{{"a", "x\"y"}, {"b", 2.5}, {"c", false}, {"d", nullptr}};
  auto back = Object::Parse(o.ToJson());
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(*back, o);
  // protobuf's JSON printer output for a Struct: spaces, nested values.
  auto parsed =
      Object::Parse(R"( { "connectionId" : "c-1", "list": [1, {"x": "]"}], "obj": {"k": "}"} } )");
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  EXPECT_EQ(parsed->GetString("connectionId"), "c-1");
  ASSERT_NE(parsed->Find("list"), nullptr);
  EXPECT_TRUE(parsed->Find("list")->is_raw());
  EXPECT_EQ(parsed->Find("list")->AsString(), R"([1, {"x": "]"}])");
  EXPECT_EQ(parsed->Find("obj")->AsString(), R"({"k": "}"})");
  // and raw values are written back verbatim
  Object with_raw{{"o", Value::RawJson("[1,2]")}};
  EXPECT_EQ(with_raw.ToJson(), R"({"o":[1,2]})");
}

TEST(PluginHppJson, DecodesUnicodeEscapesIncludingSurrogatePairs) {
  auto parsed = Object::Parse(R"({"e":"\u00e9\ud83d\ude00\n\/"})");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->GetString("e"), "\xc3\xa9\xf0\x9f\x98\x80\n/");
}

TEST(PluginHppJson, RefusesWhatIsNotAnObject) {
  for (const char* bad : {"", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1} x",
                          "{\"a\":inf}", "{\"a\":\"\\ud800\"}", "{\"a\":\"x\ny\"}"}) {
    auto r = Object::Parse(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), NITRIC_ERR_INVALID_ARGUMENT);
    }
  }
}

// ---- handlers through the real host table, without a library ----

nitric::proto::websockets::v1::WebsocketEventRequest ConnectWith(const char* token) {
  return nitric::host::testing::Connect("s", "c1", {{"token", {token, "second"}}});
}

template <class F>
nitric_status RunHandler(F&& fn, nitric_event& event) {
  nitric::detail::PluginState state(nullptr, nitric::host::HostApi());
  nitric::detail::HandlerSlot slot{&state, nitric::detail::WrapHandler(std::forward<F>(fn))};
  nitric::host::ClearCallError();
  nitric::host::EventScope scope(&event);  // the handle a handler gets for `event`
  return nitric::detail::RunHandler(scope.handle(), &slot);
}

TEST(PluginHppHandlers, AllFourShapesRun) {
  auto req = ConnectWith("t");
  nitric_event event;
  event.request = &req;
  event.type = NITRIC_EVENT_CONNECT;
  int calls = 0;

  EXPECT_EQ(RunHandler([&] { ++calls; }, event), NITRIC_OK);
  EXPECT_EQ(RunHandler(
                [&]() -> Error {
                  ++calls;
                  return Error("e1");
                },
                event),
            NITRIC_ERR_HANDLER);
  // ABI 1.1: the text goes with the event (event_set_error), not the thread.
  EXPECT_EQ(event.error, "e1");
  EXPECT_EQ(nitric::host::CallError(), "");
  EXPECT_EQ(RunHandler(
                [&](nitric::Ctx& ctx) {
                  ++calls;
                  EXPECT_EQ(ctx.Request.QueryParam("token"), "t");
                  EXPECT_EQ(ctx.Request.QueryParams().at("token"),
                            (std::vector<std::string>{"t", "second"}));
                  EXPECT_EQ(ctx.Request.EventType(), nitric::EventType_Connect);
                  EXPECT_EQ(ctx.Request.ConnectionID(), "c1");
                },
                event),
            NITRIC_OK);
  EXPECT_EQ(RunHandler(
                [&](nitric::Ctx&) -> Error {
                  ++calls;
                  return Error(NITRIC_ERR_UNAVAILABLE, "down");
                },
                event),
            NITRIC_ERR_UNAVAILABLE);
  EXPECT_EQ(calls, 4);
  EXPECT_FALSE(event.rejected);
}

TEST(PluginHppHandlers, RejectIsPassedToTheHost) {
  auto req = ConnectWith("t");
  nitric_event event;
  event.request = &req;
  event.type = NITRIC_EVENT_CONNECT;
  EXPECT_EQ(RunHandler([](nitric::Ctx& ctx) { ctx.Response.Reject = true; }, event), NITRIC_OK);
  EXPECT_TRUE(event.rejected);
}

TEST(PluginHppHandlers, ExceptionsStopAtTheBoundary) {
  auto req = nitric::host::testing::Message("s", "c1", std::string("\0\xff", 2));
  nitric_event event;
  event.request = &req;
  event.type = NITRIC_EVENT_MESSAGE;
  EXPECT_EQ(RunHandler(
                [](nitric::Ctx& ctx) {
                  EXPECT_EQ(ctx.Request.Message(), std::string("\0\xff", 2));
                  throw std::runtime_error("kaput");
                },
                event),
            NITRIC_ERR_HANDLER);
  EXPECT_EQ(event.error, "uncaught exception: kaput");
  EXPECT_EQ(RunHandler([] { throw 1; }, event), NITRIC_ERR_HANDLER);
  EXPECT_NE(event.error.find("non-std type"), std::string::npos);
}

}  // namespace
