// The host function table itself: its shape (what an old or new plugin can
// rely on) and the rules every call enforces, tested through the table
// exactly as a plugin calls it.
#include <barrier>
#include <cstring>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include "host/membrane/grpc_membrane_client.h"
#include "host/plugins/config_lookup.h"
#include "host/plugins/host_context.h"
#include "plugin_test_support.h"

namespace nitric::host {
namespace {

using testing::FakeMembrane;

nitric_str S(const char* s) { return nitric_str{s, std::strlen(s)}; }

TEST(HostApiTable, StartsWithItsSizeAndVersionAndFillsEveryFunction) {
  const nitric_host_api* api = HostApi();
  EXPECT_EQ(api->size, sizeof(nitric_host_api));
  EXPECT_EQ(api->abi_major, static_cast<uint32_t>(NITRIC_ABI_MAJOR));
  EXPECT_EQ(api->abi_minor, static_cast<uint32_t>(NITRIC_ABI_MINOR));
  // Every slot after the header is a function pointer, and all are set.
  constexpr size_t kHeader = offsetof(nitric_host_api, last_error);
  constexpr size_t kSlots = (sizeof(nitric_host_api) - kHeader) / sizeof(void (*)());
  EXPECT_EQ(kSlots, 28u) << "ABI 1.0 has 25 functions, 1.1 appended 3; append only, and bump "
                            "NITRIC_ABI_MINOR";
  const auto* bytes = reinterpret_cast<const unsigned char*>(api);
  for (size_t i = 0; i < kSlots; ++i) {
    void (*fn)() = nullptr;
    std::memcpy(&fn, bytes + kHeader + i * sizeof fn, sizeof fn);
    EXPECT_NE(fn, nullptr) << "function slot " << i << " is empty";
  }
  EXPECT_TRUE(NITRIC_API_HAS(api, buffer_free));
  EXPECT_TRUE(NITRIC_API_HAS(api, ws_send_wait));
}

TEST(HostApiTable, ApiHasSaysNoForFunctionsPastAnOlderHostsSize) {
  nitric_host_api older = *HostApi();
  older.size = offsetof(nitric_host_api, buffer_free);  // a host without buffer_free
  EXPECT_FALSE(NITRIC_API_HAS(&older, buffer_free));
  EXPECT_TRUE(NITRIC_API_HAS(&older, kv_keys_free));
}

// A plugin context as the loader makes one, without a library behind it.
struct Context {
  nitric_host host;
  FakeMembrane membrane;
  testing::LogCapture log;
  const nitric_host_api* api = HostApi();

  Context() {
    host.plugin_name = "probe";
    host.file_name = "probe.so";
    host.logger = log.logger()->clone("probe");
    host.membrane = &membrane;
  }
  void Serve() { host.phase.store(nitric_host::kServing); }
};

TEST(HostApiDeclarations, AreRefusedAfterInit) {
  Context c;
  ASSERT_EQ(c.api->declare_websocket(&c.host, S("early")), NITRIC_OK);
  c.Serve();
  EXPECT_EQ(c.api->declare_websocket(&c.host, S("late")), NITRIC_ERR_FAILED_PRECONDITION);
  EXPECT_NE(std::string(c.api->last_error()).find("only accepted during init()"),
            std::string::npos);
  EXPECT_EQ(c.api->declare_kv(&c.host, S("late"), NITRIC_KV_GET), NITRIC_ERR_FAILED_PRECONDITION);
  EXPECT_EQ(c.api->on(
                &c.host, S("early"), NITRIC_ON_MESSAGE,
                [](nitric_event*, void*) { return NITRIC_OK; }, nullptr),
            NITRIC_ERR_FAILED_PRECONDITION);
  EXPECT_EQ(c.host.sockets.size(), 1u);
  EXPECT_TRUE(c.host.stores.empty());
}

TEST(HostApiDeclarations, OnValidatesAndTheLastRegistrationPerTypeWins) {
  Context c;
  auto a = [](nitric_event*, void*) { return NITRIC_OK; };
  auto b = [](nitric_event*, void*) { return NITRIC_ERR_HANDLER; };
  EXPECT_EQ(c.api->on(&c.host, S("s"), 0, a, nullptr), NITRIC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c.api->on(&c.host, S("s"), 1u << 5, a, nullptr), NITRIC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c.api->on(&c.host, S("s"), NITRIC_ON_MESSAGE, nullptr, nullptr),
            NITRIC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c.api->on(&c.host, S(""), NITRIC_ON_MESSAGE, a, nullptr), NITRIC_ERR_INVALID_ARGUMENT);
  ASSERT_EQ(c.api->on(&c.host, S("s"), NITRIC_ON_CONNECT | NITRIC_ON_MESSAGE, a, nullptr),
            NITRIC_OK);
  ASSERT_EQ(c.api->on(&c.host, S("s"), NITRIC_ON_MESSAGE, b, nullptr), NITRIC_OK);
  ASSERT_EQ(c.host.registrations.size(), 2u);
  EXPECT_EQ(c.host.registrations[0].type, NITRIC_EVENT_CONNECT);
  EXPECT_EQ(c.host.registrations[1].type, NITRIC_EVENT_MESSAGE);
  EXPECT_EQ(c.host.registrations[1].fn, static_cast<nitric_handler_fn>(b));
  EXPECT_EQ(c.host.sockets.count("s"), 1u);  // on() declares the socket
}

TEST(HostApiKv, NeedsTheDeclaredPermission) {
  Context c;
  ASSERT_EQ(c.api->declare_kv(&c.host, S("readonly"), NITRIC_KV_GET), NITRIC_OK);
  c.Serve();
  EXPECT_EQ(c.api->kv_set(&c.host, S("readonly"), S("k"), S("{}")), NITRIC_ERR_PERMISSION_DENIED);
  EXPECT_NE(std::string(c.api->last_error())
                .find("declared KV store 'readonly' without the set permission"),
            std::string::npos)
      << c.api->last_error();
  EXPECT_EQ(c.api->kv_delete(&c.host, S("readonly"), S("k")), NITRIC_ERR_PERMISSION_DENIED);
  nitric_buffer out{nullptr, 0};
  EXPECT_EQ(c.api->kv_get(&c.host, S("other"), S("k"), &out), NITRIC_ERR_PERMISSION_DENIED);
  EXPECT_NE(std::string(c.api->last_error()).find("did not declare KV store 'other'"),
            std::string::npos);
  EXPECT_EQ(c.api->kv_get(&c.host, S("readonly"), S("k"), &out), NITRIC_ERR_NOT_FOUND);
  EXPECT_TRUE(c.membrane.kv().empty());
}

TEST(HostApiKv, RoundTripsThroughTheMembraneWithHostOwnedBuffers) {
  Context c;
  ASSERT_EQ(c.api->declare_kv(&c.host, S("s"), NITRIC_KV_GET | NITRIC_KV_SET | NITRIC_KV_DELETE),
            NITRIC_OK);
  c.Serve();
  EXPECT_EQ(c.api->kv_set(&c.host, S("s"), S("a"), S("[1]")), NITRIC_ERR_INVALID_ARGUMENT);
  ASSERT_EQ(c.api->kv_set(&c.host, S("s"), S("a"), S("{\"x\":1}")), NITRIC_OK);
  ASSERT_EQ(c.api->kv_set(&c.host, S("s"), S("b"), S("{}")), NITRIC_OK);
  nitric_buffer out{nullptr, 0};
  ASSERT_EQ(c.api->kv_get(&c.host, S("s"), S("a"), &out), NITRIC_OK);
  EXPECT_EQ(std::string(out.ptr, out.len), "{\"x\":1}");
  EXPECT_EQ(out.ptr[out.len], '\0');
  c.api->buffer_free(&out);
  EXPECT_EQ(out.ptr, nullptr);
  EXPECT_EQ(out.len, 0u);

  nitric_key_iter* it = nullptr;
  ASSERT_EQ(c.api->kv_keys(&c.host, S("s"), S(""), &it), NITRIC_OK);
  nitric_str key;
  std::string keys;
  while (c.api->kv_keys_next(it, &key) == NITRIC_OK) keys += std::string(key.ptr, key.len) + ",";
  EXPECT_EQ(c.api->kv_keys_next(it, &key), NITRIC_DONE);
  c.api->kv_keys_free(it);
  EXPECT_EQ(keys, "a,b,");
  ASSERT_EQ(c.api->kv_delete(&c.host, S("s"), S("a")), NITRIC_OK);
  EXPECT_EQ(c.api->kv_get(&c.host, S("s"), S("a"), &out), NITRIC_ERR_NOT_FOUND);
}

TEST(HostApiWebsocket, OnlyReachesSocketsThePluginDeclared) {
  Context c;
  ASSERT_EQ(c.api->declare_websocket(&c.host, S("mine")), NITRIC_OK);
  c.Serve();
  EXPECT_EQ(c.api->ws_send(&c.host, S("mine"), S("c1"), S("hi")), NITRIC_OK);
  EXPECT_EQ(c.api->ws_send(&c.host, S("theirs"), S("c1"), S("hi")), NITRIC_ERR_PERMISSION_DENIED);
  EXPECT_NE(std::string(c.api->last_error()).find("did not declare websocket 'theirs'"),
            std::string::npos);
  EXPECT_EQ(c.api->ws_close(&c.host, S("theirs"), S("c1")), NITRIC_ERR_PERMISSION_DENIED);
  ASSERT_EQ(c.membrane.sent().size(), 1u);
  EXPECT_EQ(c.membrane.sent()[0].socket, "mine");
}

TEST(HostApiWebsocket, CallsBeforeInitReturnedAreRefused) {
  Context c;
  ASSERT_EQ(c.api->declare_websocket(&c.host, S("mine")), NITRIC_OK);
  EXPECT_EQ(c.api->ws_send(&c.host, S("mine"), S("c1"), S("hi")), NITRIC_ERR_FAILED_PRECONDITION);
}

TEST(HostApiWithoutMembrane, CallsAreUnavailable) {
  Context c;
  c.host.membrane = nullptr;  // nitric-host --check
  ASSERT_EQ(c.api->declare_websocket(&c.host, S("mine")), NITRIC_OK);
  ASSERT_EQ(c.api->declare_kv(&c.host, S("s"), NITRIC_KV_GET), NITRIC_OK);
  c.Serve();
  EXPECT_EQ(c.api->ws_send(&c.host, S("mine"), S("c1"), S("hi")), NITRIC_ERR_UNAVAILABLE);
  nitric_buffer out{nullptr, 0};
  EXPECT_EQ(c.api->kv_get(&c.host, S("s"), S("k"), &out), NITRIC_ERR_UNAVAILABLE);
  EXPECT_NE(std::string(c.api->last_error()).find("--check"), std::string::npos);
}

// A membrane that fails every call with one gRPC code, mapped to a nitric
// status as the gRPC membrane client maps it.
class FailingMembrane : public FakeMembrane {
 public:
  explicit FailingMembrane(grpc::StatusCode code) : code_(code) {}
  Status Send(std::string_view, std::string_view, std::string_view) override {
    return StatusFromGrpc(grpc::Status(code_, "boom"));
  }

 private:
  grpc::StatusCode code_;
};

TEST(HostApiErrors, GrpcCodesMapToNitricStatuses) {
  const std::pair<grpc::StatusCode, nitric_status> cases[] = {
      {grpc::StatusCode::NOT_FOUND, NITRIC_ERR_NOT_FOUND},
      {grpc::StatusCode::INVALID_ARGUMENT, NITRIC_ERR_INVALID_ARGUMENT},
      {grpc::StatusCode::PERMISSION_DENIED, NITRIC_ERR_PERMISSION_DENIED},
      {grpc::StatusCode::UNAVAILABLE, NITRIC_ERR_UNAVAILABLE},
      {grpc::StatusCode::DEADLINE_EXCEEDED, NITRIC_ERR_UNAVAILABLE},
      {grpc::StatusCode::FAILED_PRECONDITION, NITRIC_ERR_FAILED_PRECONDITION},
      {grpc::StatusCode::UNKNOWN, NITRIC_ERR_INTERNAL},
  };
  for (auto [code, expected] : cases) {
    Context c;
    FailingMembrane failing(code);
    c.host.membrane = &failing;
    ASSERT_EQ(c.api->declare_websocket(&c.host, S("s")), NITRIC_OK);
    c.Serve();
    EXPECT_EQ(c.api->ws_send(&c.host, S("s"), S("c"), S("x")), expected) << static_cast<int>(code);
    EXPECT_NE(std::string(c.api->last_error()).find("ws_send s/c: boom"), std::string::npos);
  }
}

TEST(HostApiErrors, SetErrorBelongsToTheCallOnThisThread) {
  Context c;
  ClearCallError();
  c.api->set_error(&c.host, "first", 5);
  c.api->set_error(&c.host, "second reason", 6);  // length wins over NUL
  EXPECT_EQ(CallError(), "second");
  ClearCallError();
  EXPECT_EQ(CallError(), "");
}

// Handlers of different connections run at once on different threads: each
// one's reason stays its own even when both set one before either reads.
TEST(HostApiErrors, SetErrorOnAnotherThreadDoesNotTouchThisOne) {
  Context c;
  std::barrier both_set(2);
  std::string seen_a, seen_b;
  auto handler = [&](const char* reason, std::string* seen) {
    ClearCallError();
    c.api->set_error(&c.host, reason, std::strlen(reason));
    both_set.arrive_and_wait();  // the other thread has set its reason too
    *seen = CallError();
  };
  std::thread a(handler, "reason of a", &seen_a);
  std::thread b(handler, "reason of b", &seen_b);
  a.join();
  b.join();
  EXPECT_EQ(seen_a, "reason of a");
  EXPECT_EQ(seen_b, "reason of b");
}

TEST(HostApiLog, WritesUnderThePluginsNameVerbatim) {
  Context c;
  c.api->log(&c.host, NITRIC_LOG_WARN, "100% {} literal", 15);
  EXPECT_EQ(c.log.Find({"[probe] [warning] 100% {} literal"}).size(), 1u) << c.log.All();
}

// ---- config_get ----

class ConfigLookup : public ::testing::Test {
 protected:
  toml::table table_ = toml::parse(R"(
    token = "s3cret"
    workers = 4
    ratio = 0.5
    enabled = true
    sockets = ["public", "chat", 7]
    when = 1979-05-27
    [limits]
    burst = 10
    [limits.nested]
    deep = "yes"
    [[routes]]
    name = "first"
  )");

  nitric_config_value Get(std::string_view path, nitric_status expected = NITRIC_OK) {
    nitric_config_value v;
    const Status st = LookupConfig(table_, path, &v);
    EXPECT_EQ(st.code(), expected) << path << ": " << st.message();
    return v;
  }
};

TEST_F(ConfigLookup, ReadsScalarsByKey) {
  auto s = Get("token");
  ASSERT_EQ(s.type, NITRIC_CONFIG_STRING);
  EXPECT_EQ(std::string(s.string.ptr, s.string.len), "s3cret");
  auto i = Get("workers");
  ASSERT_EQ(i.type, NITRIC_CONFIG_INTEGER);
  EXPECT_EQ(i.integer, 4);
  EXPECT_EQ(i.number, 4.0);
  auto f = Get("ratio");
  ASSERT_EQ(f.type, NITRIC_CONFIG_FLOAT);
  EXPECT_EQ(f.number, 0.5);
  auto b = Get("enabled");
  ASSERT_EQ(b.type, NITRIC_CONFIG_BOOL);
  EXPECT_EQ(b.boolean, 1);
}

TEST_F(ConfigLookup, FollowsDottedAndIndexedPaths) {
  EXPECT_EQ(Get("limits.burst").integer, 10);
  auto deep = Get("limits.nested.deep");
  EXPECT_EQ(std::string(deep.string.ptr, deep.string.len), "yes");
  auto second = Get("sockets[1]");
  EXPECT_EQ(std::string(second.string.ptr, second.string.len), "chat");
  EXPECT_EQ(Get("sockets[2]").type, NITRIC_CONFIG_INTEGER);
  auto route = Get("routes[0].name");
  EXPECT_EQ(std::string(route.string.ptr, route.string.len), "first");
}

TEST_F(ConfigLookup, CountsArraysAndTables) {
  auto arr = Get("sockets");
  EXPECT_EQ(arr.type, NITRIC_CONFIG_ARRAY);
  EXPECT_EQ(arr.count, 3u);
  auto tbl = Get("limits");
  EXPECT_EQ(tbl.type, NITRIC_CONFIG_TABLE);
  EXPECT_EQ(tbl.count, 2u);
  EXPECT_EQ(Get("").type, NITRIC_CONFIG_TABLE);
}

TEST_F(ConfigLookup, MissingKeysAreNoneNotErrors) {
  EXPECT_EQ(Get("nope").type, NITRIC_CONFIG_NONE);
  EXPECT_EQ(Get("sockets[9]").type, NITRIC_CONFIG_NONE);
  EXPECT_EQ(Get("limits.nope.deeper").type, NITRIC_CONFIG_NONE);
  EXPECT_EQ(Get("token.sub").type, NITRIC_CONFIG_NONE);
  EXPECT_EQ(Get("sockets[x").type, NITRIC_CONFIG_NONE);
}

TEST_F(ConfigLookup, DatesAreRefusedWithAHint) {
  nitric_config_value v;
  const Status st = LookupConfig(table_, "when", &v);
  EXPECT_EQ(st.code(), NITRIC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(st.message().find("quoted string"), std::string::npos);
}

}  // namespace
}  // namespace nitric::host
