// nitric/plugin.hpp - a header-only C++20 face over the C ABI in plugin.h,
// shaped like the Nitric Go SDK (github.com/nitrictech/go-sdk) so that its
// websocket examples translate line by line.
//
// THE NAMES AT A GLANCE
//
//   NITRIC_PLUGIN("name", [](Plugin& p) { ... });   defines the plugin; the
//       lambda runs once, inside init(), and declares + registers. Use
//       NITRIC_PLUGIN_VERSIONED("name", "1.2.0", ...) to give a version text.
//
//   Plugin p                      a cheap, copyable handle (capture it by value)
//     p.NewWebsocket("public")    -> Websocket          (Go: nitric.NewWebsocket)
//     p.NewKv("connections")      -> KvStore            (Go: nitric.NewKv)
//        .Allow(KvStoreGet, KvStoreSet, KvStoreDelete)  -> KvStore, declared
//     p.Config("token")           -> std::optional<std::string>
//     p.ConfigInt / ConfigFloat / ConfigBool / ConfigStrings / ConfigValue
//     p.Log(level, parts...), p.Trace/Debug/Info/Warn/Error(parts...)
//     p.OnShutdown(void())                 runs before unload
//     p.ExportState(std::string())          old version, on hot reload
//     p.ImportState(void|Error(std::string_view))  new version, before events
//
//   Websocket ws
//     ws.On(EventType_Connect | EventType_Message, handler)
//         handler: void(), Error(), void(Ctx&) or Error(Ctx&)
//     ws.Send(connectionId, data) -> Error;  ws.Close(connectionId) -> Error
//         inside a handler Send does not wait for the membrane (ABI 1.1
//         ws_send_start): a failed send fails the handler's call instead
//     ws.SendAndWait(connectionId, data) -> Error   the send's own result
//     ws.StartSend(connectionId, data) -> PendingSend; .Wait() -> Error
//         many sends in flight, each one's own result (e.g. a broadcast
//         that forgets connections that are gone)
//     ws.Details() -> Result<std::string>  (the socket's ws:// URL)
//
//   Ctx& ctx (valid during the handler call only; do not keep it)
//     ctx.Request.SocketName(), EventType(), ConnectionID(), QueryParams()
//       (std::map<std::string, std::vector<std::string>>), QueryParam(key)
//       (first value), Message() (std::string, binary-safe); *View()
//       variants return std::string_view into the event, without a copy.
//     ctx.Response.Reject = true   rejects a Connect
//
//   Broadcast(ws, kv, prefix, data, ForgetGone) -> BroadcastResult
//       sends `data` to every connection stored in `kv` as prefix + id, the
//       sends in flight together; .delivered, .failed (id, error,
//       forgotten), .error (return it from the handler); Forget{None, Gone,
//       Failed}: which failed connections' keys to delete
//
//   KvStore kv (values are flat JSON objects: nitric::Object)
//     kv.Get(key) -> Result<Object>     kv.GetJSON(key) -> Result<std::string>
//     kv.Set(key, Object{{"a", 1}}) -> Error     kv.SetJSON(key, "{...}")
//     kv.Delete(key) -> Error          kv.Keys(prefix = "") -> Result<KeyStream>
//     KeyStream::Recv() -> Result<std::string>; an error with IsDone() ends it
//
//   Error      a small value: code() (nitric_status) + message(). Default-built
//              means "no error" (Go's nil); converts to true when it IS an
//              error, so `if (auto err = ws.Send(...)) return err;` reads like Go.
//              Error("text") is a handler failure (NITRIC_ERR_HANDLER).
//   Result<T>  a T or an Error: `if (!r) return r.error(); use(*r);`
//   Object / Value   a flat JSON object: string, number (double), bool, null
//              values; nested objects/arrays are kept as raw JSON text.
//
// The JSON codec (Object, Value) is in nitric/json.hpp and Error/Result in
// nitric/result.hpp; this header includes both.
//
// FAILURES AT THE BOUNDARY
//   A handler that returns an Error, or lets an exception escape, returns a
//   non-OK status with the text set through event_set_error (set_error on a
//   1.0 host): the host rejects a Connect and logs any other event. No
//   exception ever crosses into the host.
//   A failed declaration inside the setup lambda (or an exception from it)
//   makes init() fail, so the host refuses the plugin with that reason.
//
// LIFETIME AND UNLOADING
//   Every handler, hook and handle a plugin registers lives inside the
//   plugin's own state object, created in init() and deleted in shutdown():
//   nothing of the plugin stays in the host. This header has no static
//   variables and no thread_locals, so it never pins the library (see
//   docs/ARCHITECTURE.md#glibc); build with nitric_add_plugin(), which adds -fno-gnu-unique.
//
// THREADS
//   Handlers of different connections run concurrently: state shared between
//   them needs a lock. Handles (Plugin, Websocket, KvStore) are immutable after
//   setup and safe to use from any thread. On() and the declarations are only
//   valid inside the setup lambda.
#ifndef NITRIC_PLUGIN_HPP_
#define NITRIC_PLUGIN_HPP_

#include <nitric/plugin.h>
#include <nitric/json.hpp>
#include <nitric/result.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace nitric {

// ---------------------------------------------------------------------------
// Event types and KV permissions (names as in the Go SDK)

enum EventType : uint32_t {
  EventType_Connect = NITRIC_ON_CONNECT,
  EventType_Disconnect = NITRIC_ON_DISCONNECT,
  EventType_Message = NITRIC_ON_MESSAGE,
};

constexpr EventType operator|(EventType a, EventType b) noexcept {
  return static_cast<EventType>(static_cast<uint32_t>(a) | static_cast<uint32_t>(b));
}

// "connect", "disconnect", "message" (nitric_event_type_name: as Go's
// Request.EventType() prints), or "mixed" for a mask of several types.
inline const char* ToString(EventType type) noexcept {
  switch (type) {
    case EventType_Connect:
      return nitric_event_type_name(NITRIC_EVENT_CONNECT);
    case EventType_Disconnect:
      return nitric_event_type_name(NITRIC_EVENT_DISCONNECT);
    case EventType_Message:
      return nitric_event_type_name(NITRIC_EVENT_MESSAGE);
  }
  return "mixed";
}

enum KvPermission : uint32_t {
  KvStoreGet = NITRIC_KV_GET,
  KvStoreSet = NITRIC_KV_SET,
  KvStoreDelete = NITRIC_KV_DELETE,
};

constexpr KvPermission operator|(KvPermission a, KvPermission b) noexcept {
  return static_cast<KvPermission>(static_cast<uint32_t>(a) | static_cast<uint32_t>(b));
}

// ---------------------------------------------------------------------------
// Internals shared by the handles

class Ctx;

namespace detail {

inline nitric_str Str(std::string_view s) noexcept { return nitric_str{s.data(), s.size()}; }
inline std::string_view View(nitric_str s) noexcept {
  return s.len == 0 ? std::string_view() : std::string_view(s.ptr, s.len);
}

struct PluginState;

// One registered handler; its address is the user_data given to api->on().
struct HandlerSlot {
  PluginState* state;
  std::function<Error(Ctx&)> fn;
};

// Everything the plugin registered. Created by init(), deleted by shutdown():
// the host never holds a C++ object of the plugin.
struct PluginState {
  PluginState(nitric_host* h, const nitric_host_api* a)
      : host(h),
        api(a),
        has_event_set_error(NITRIC_API_HAS(a, event_set_error)),
        has_send_start(NITRIC_API_HAS(a, ws_send_start) && NITRIC_API_HAS(a, ws_send_wait)) {}

  nitric_host* const host;
  const nitric_host_api* const api;
  // ABI 1.1 functions the host has (a 1.0 host has neither).
  const bool has_event_set_error;
  const bool has_send_start;
  std::deque<HandlerSlot> handlers;  // a deque: slots never move
  std::function<void()> on_shutdown;
  std::function<std::string()> export_state;
  std::function<Error(std::string_view)> import_state;
  bool in_setup = true;
  std::string setup_error;  // the first declaration that failed in setup

  // The host's text for the last failed call on this thread.
  Error HostError(nitric_status code) const { return Error(code, api->last_error()); }

  // Records a failed declaration: it fails init() when it happens in setup,
  // and is logged otherwise.
  void Failed(const std::string& what, nitric_status code) {
    std::string text = what + ": " + StatusName(code) + ": " + api->last_error();
    if (in_setup) {
      if (setup_error.empty()) setup_error = std::move(text);
    } else {
      api->log(host, NITRIC_LOG_ERROR, text.data(), text.size());
    }
  }
};

// Any text part for Plugin::Log.
inline void AppendPart(std::string& out, std::string_view s) { out.append(s); }
inline void AppendPart(std::string& out, const Error& e) { out.append(e.ToString()); }
template <class T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
void AppendPart(std::string& out, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    out.append(v ? "true" : "false");
  } else if constexpr (std::is_same_v<T, char>) {
    out.push_back(v);
  } else {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------
// The event context

// What arrived. Every accessor reads the host's event: no copies unless a
// method returns an owning type.
class EventRequest {
 public:
  EventRequest(const nitric_host_api* api, nitric_event* event) noexcept
      : api_(api), event_(event) {}

  std::string SocketName() const { return std::string(SocketNameView()); }
  std::string_view SocketNameView() const { return detail::View(api_->event_socket(event_)); }

  nitric::EventType EventType() const {
    return static_cast<nitric::EventType>(1u << api_->event_type(event_));
  }

  std::string ConnectionID() const { return std::string(ConnectionIDView()); }
  std::string_view ConnectionIDView() const {
    return detail::View(api_->event_connection_id(event_));
  }

  // Connect only: every key with its values (in arrival order).
  std::map<std::string, std::vector<std::string>> QueryParams() const {
    std::map<std::string, std::vector<std::string>> params;
    const size_t keys = api_->event_query_count(event_);
    for (size_t k = 0; k < keys; ++k) {
      nitric_str key{};
      size_t count = 0;
      if (api_->event_query_key(event_, k, &key, &count) != NITRIC_OK) break;
      auto& values = params[std::string(detail::View(key))];
      for (size_t v = 0; v < count; ++v) {
        nitric_str value{};
        if (api_->event_query_value(event_, k, v, &value) == NITRIC_OK) {
          values.emplace_back(detail::View(value));
        }
      }
    }
    return params;
  }

  // Connect only: the first value of `key`, if the key is present.
  std::optional<std::string> QueryParam(std::string_view wanted) const {
    const size_t keys = api_->event_query_count(event_);
    for (size_t k = 0; k < keys; ++k) {
      nitric_str key{};
      size_t count = 0;
      if (api_->event_query_key(event_, k, &key, &count) != NITRIC_OK) break;
      if (detail::View(key) != wanted || count == 0) continue;
      nitric_str value{};
      if (api_->event_query_value(event_, k, 0, &value) != NITRIC_OK) break;
      return std::string(detail::View(value));
    }
    return std::nullopt;
  }

  // Message only: the body, binary-safe.
  std::string Message() const { return std::string(MessageView()); }
  std::string_view MessageView() const { return detail::View(api_->event_message(event_)); }

  nitric_event* raw() const noexcept { return event_; }

 private:
  const nitric_host_api* api_;
  nitric_event* event_;
};

struct EventResponse {
  // Set to reject a Connect (later handlers of the chain do not run).
  bool Reject = false;
};

// The handler's view of one event. Valid during the handler call only.
class Ctx {
 public:
  Ctx(const nitric_host_api* api, nitric_event* event) noexcept : Request(api, event) {}
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;

  EventRequest Request;
  EventResponse Response;
};

namespace detail {

template <class>
inline constexpr bool kAlwaysFalse = false;

// Turns any of the four handler shapes into Error(Ctx&).
template <class F>
std::function<Error(Ctx&)> WrapHandler(F&& handler) {
  using Fn = std::decay_t<F>;
  if constexpr (std::is_invocable_v<Fn&, Ctx&>) {
    using R = std::invoke_result_t<Fn&, Ctx&>;
    if constexpr (std::is_void_v<R>) {
      return [fn = Fn(std::forward<F>(handler))](Ctx& ctx) mutable -> Error {
        fn(ctx);
        return Error();
      };
    } else {
      static_assert(std::is_convertible_v<R, Error>, "a handler returns void or nitric::Error");
      return [fn = Fn(std::forward<F>(handler))](Ctx& ctx) mutable -> Error { return fn(ctx); };
    }
  } else if constexpr (std::is_invocable_v<Fn&>) {
    using R = std::invoke_result_t<Fn&>;
    if constexpr (std::is_void_v<R>) {
      return [fn = Fn(std::forward<F>(handler))](Ctx&) mutable -> Error {
        fn();
        return Error();
      };
    } else {
      static_assert(std::is_convertible_v<R, Error>, "a handler returns void or nitric::Error");
      return [fn = Fn(std::forward<F>(handler))](Ctx&) mutable -> Error { return fn(); };
    }
  } else {
    static_assert(kAlwaysFalse<Fn>,
                  "a handler is void(), Error(), void(nitric::Ctx&) or Error(nitric::Ctx&)");
  }
}

// Sets the failure text without allocating (we may be handling bad_alloc).
inline void SetErrorText(nitric_host* host, const nitric_host_api* api, const char* prefix,
                         const char* what) noexcept {
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, "%s%s", prefix, what != nullptr ? what : "");
  const size_t len = n < 0 ? 0 : (static_cast<size_t>(n) < sizeof buf ? n : sizeof buf - 1);
  api->set_error(host, buf, len);
}
inline void SetErrorText(const PluginState* state, const char* prefix, const char* what) noexcept {
  SetErrorText(state->host, state->api, prefix, what);
}

// A handler's failure text: tied to its event (ABI 1.1), or the thread's.
inline void SetHandlerError(const PluginState* state, nitric_event* event, const char* ptr,
                            size_t len) noexcept {
  if (state->has_event_set_error) {
    state->api->event_set_error(event, ptr, len);
  } else {
    state->api->set_error(state->host, ptr, len);
  }
}
inline void SetHandlerErrorText(const PluginState* state, nitric_event* event, const char* prefix,
                                const char* what) noexcept {
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, "%s%s", prefix, what != nullptr ? what : "");
  const size_t len = n < 0 ? 0 : (static_cast<size_t>(n) < sizeof buf ? n : sizeof buf - 1);
  SetHandlerError(state, event, buf, len);
}

// The C handler every C++ handler goes through: exceptions stop here.
inline nitric_status RunHandler(nitric_event* event, void* user_data) noexcept {
  auto* slot = static_cast<HandlerSlot*>(user_data);
  const PluginState* state = slot->state;
  try {
    Ctx ctx(state->api, event);
    Error err = slot->fn(ctx);
    if (ctx.Response.Reject) state->api->event_reject(event);
    if (!err) return NITRIC_OK;
    SetHandlerError(state, event, err.message().data(), err.message().size());
    // DONE is "not an error" to the host; a handler returning it still failed.
    return err.code() == NITRIC_DONE ? NITRIC_ERR_HANDLER : err.code();
  } catch (const std::exception& e) {
    SetHandlerErrorText(state, event, "uncaught exception: ", e.what());
  } catch (...) {
    SetHandlerErrorText(state, event, "uncaught exception of a non-std type", "");
  }
  return NITRIC_ERR_HANDLER;
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Handles

// A send started by Websocket::StartSend. Move-only; Wait() gives the send's
// own result (and again on later calls). Use it on the thread and during the
// handler call that started it; one never waited for is waited for by the
// host when the call ends, and then a failure fails the call.
class PendingSend {
 public:
  PendingSend(PendingSend&& other) noexcept
      : state_(other.state_), id_(std::exchange(other.id_, 0)), result_(std::move(other.result_)) {}
  PendingSend& operator=(PendingSend&& other) noexcept {
    state_ = other.state_;
    id_ = std::exchange(other.id_, 0);
    result_ = std::move(other.result_);
    return *this;
  }
  PendingSend(const PendingSend&) = delete;
  PendingSend& operator=(const PendingSend&) = delete;

  // Blocks until the send completed; its own result.
  Error Wait() {
    if (id_ != 0) {
      const nitric_status st = state_->api->ws_send_wait(state_->host, id_);
      id_ = 0;
      result_ = st == NITRIC_OK ? Error() : state_->HostError(st);
    }
    return result_;
  }

 private:
  friend class Websocket;
  PendingSend(const detail::PluginState* state, nitric_send_id id, Error result)
      : state_(state), id_(id), result_(std::move(result)) {}

  const detail::PluginState* state_;
  nitric_send_id id_;  // 0: result_ is final
  Error result_;
};

// A websocket this plugin declared. Cheap to copy; capture it by value.
class Websocket {
 public:
  Websocket(detail::PluginState* state, std::string name) : state_(state), name_(std::move(name)) {}

  const std::string& Name() const noexcept { return name_; }

  // Registers `handler` for every type in `types` (Go: ws.On). Registering a
  // type again replaces the earlier handler. Setup only.
  template <class F>
  void On(EventType types, F&& handler) const {
    detail::HandlerSlot& slot = state_->handlers.emplace_back(
        detail::HandlerSlot{state_, detail::WrapHandler(std::forward<F>(handler))});
    const nitric_status st = state_->api->on(
        state_->host, detail::Str(name_), static_cast<uint32_t>(types), &detail::RunHandler, &slot);
    if (st != NITRIC_OK) state_->Failed("On(\"" + name_ + "\")", st);
  }

  // Sends `data` to one connection of this socket (Go: ws.Send).
  // Inside a handler the send does not wait for the membrane (ws_send_start):
  // the handler's call ends once its sends completed, sends to a connection
  // keep their order, and a failed send fails the call (the host logs it, a
  // Connect is rejected); Send itself then only reports a bad argument or an
  // undeclared socket. Elsewhere it blocks and returns the send's own
  // result. On a 1.0 host: that host's ws_send.
  Error Send(std::string_view connection_id, std::string_view data) const {
    const nitric_status st =
        state_->has_send_start
            ? state_->api->ws_send_start(state_->host, detail::Str(name_),
                                         detail::Str(connection_id), detail::Str(data), nullptr)
            : state_->api->ws_send(state_->host, detail::Str(name_), detail::Str(connection_id),
                                   detail::Str(data));
    return st == NITRIC_OK ? Error() : state_->HostError(st);
  }

  // Sends and waits: the send's own result, inside a handler too (e.g.
  // NOT_FOUND for a connection that is gone). Slower than Send in a loop:
  // one membrane round trip per call. On a 1.0 host: its ws_send, which
  // that host may pipeline inside handlers (host.pipelined_sends).
  Error SendAndWait(std::string_view connection_id, std::string_view data) const {
    const nitric_status st = state_->api->ws_send(state_->host, detail::Str(name_),
                                                  detail::Str(connection_id), detail::Str(data));
    return st == NITRIC_OK ? Error() : state_->HostError(st);
  }

  // Starts a send whose own result Wait() gives: start many, then wait for
  // each (inside a handler they are in flight together). On a 1.0 host the
  // send is made by ws_send at once and Wait() returns its result.
  PendingSend StartSend(std::string_view connection_id, std::string_view data) const {
    nitric_send_id id = 0;
    const nitric_status st =
        state_->has_send_start
            ? state_->api->ws_send_start(state_->host, detail::Str(name_),
                                         detail::Str(connection_id), detail::Str(data), &id)
            : state_->api->ws_send(state_->host, detail::Str(name_), detail::Str(connection_id),
                                   detail::Str(data));
    return PendingSend(state_, st == NITRIC_OK ? id : 0,
                       st == NITRIC_OK ? Error() : state_->HostError(st));
  }

  // Closes one connection of this socket.
  Error Close(std::string_view connection_id) const {
    const nitric_status st =
        state_->api->ws_close(state_->host, detail::Str(name_), detail::Str(connection_id));
    return st == NITRIC_OK ? Error() : state_->HostError(st);
  }

  // The socket's public URL, e.g. ws://127.0.0.1:4001.
  Result<std::string> Details() const {
    nitric_buffer url{nullptr, 0};
    const nitric_status st = state_->api->ws_details(state_->host, detail::Str(name_), &url);
    if (st != NITRIC_OK) return state_->HostError(st);
    std::string out(url.ptr != nullptr ? url.ptr : "", url.len);
    state_->api->buffer_free(&url);
    return out;
  }

 private:
  detail::PluginState* state_;
  std::string name_;
};

// A scan of keys. Move-only; releases the host's iterator when destroyed.
class KeyStream {
 public:
  KeyStream(const nitric_host_api* api, nitric_key_iter* iter) noexcept : api_(api), iter_(iter) {}
  KeyStream(KeyStream&& other) noexcept
      : api_(other.api_), iter_(std::exchange(other.iter_, nullptr)) {}
  KeyStream& operator=(KeyStream&& other) noexcept {
    if (this != &other) {
      Release();
      api_ = other.api_;
      iter_ = std::exchange(other.iter_, nullptr);
    }
    return *this;
  }
  KeyStream(const KeyStream&) = delete;
  KeyStream& operator=(const KeyStream&) = delete;
  ~KeyStream() { Release(); }

  // The next key; at the end an error whose IsDone() is true (Go: Recv()
  // returns an error when the stream is exhausted).
  Result<std::string> Recv() {
    if (iter_ == nullptr) return Error(NITRIC_DONE, "end of keys");
    nitric_str key{};
    const nitric_status st = api_->kv_keys_next(iter_, &key);
    if (st == NITRIC_OK) return std::string(detail::View(key));
    if (st == NITRIC_DONE) return Error(NITRIC_DONE, "end of keys");
    return Error(st, api_->last_error());
  }

 private:
  void Release() noexcept {
    if (iter_ != nullptr) api_->kv_keys_free(iter_);
    iter_ = nullptr;
  }

  const nitric_host_api* api_;
  nitric_key_iter* iter_;
};

// A key-value store. Calls need the permission given to Allow().
class KvStore {
 public:
  KvStore(detail::PluginState* state, std::string name) : state_(state), name_(std::move(name)) {}

  const std::string& Name() const noexcept { return name_; }

  // Declares the store with these permissions (Go: NewKv(..).Allow(..)).
  // Setup only; allowing again adds permissions.
  template <class... P>
  KvStore Allow(P... permissions) const {
    static_assert((std::is_same_v<P, KvPermission> && ...), "Allow takes KvStoreGet/Set/Delete");
    const uint32_t allow = (0u | ... | static_cast<uint32_t>(permissions));
    const nitric_status st = state_->api->declare_kv(state_->host, detail::Str(name_), allow);
    if (st != NITRIC_OK) state_->Failed("NewKv(\"" + name_ + "\").Allow", st);
    return *this;
  }

  // The value of `key`; an error with IsNotFound() when missing.
  Result<Object> Get(std::string_view key) const {
    Result<std::string> json = GetJSON(key);
    if (!json) return json.error();
    return Object::Parse(*json);
  }
  Result<std::string> GetJSON(std::string_view key) const {
    nitric_buffer buf{nullptr, 0};
    const nitric_status st =
        state_->api->kv_get(state_->host, detail::Str(name_), detail::Str(key), &buf);
    if (st != NITRIC_OK) return state_->HostError(st);
    std::string out(buf.ptr != nullptr ? buf.ptr : "", buf.len);
    state_->api->buffer_free(&buf);
    return out;
  }

  Error Set(std::string_view key, const Object& value) const {
    return SetJSON(key, value.ToJson());
  }
  // REQUIRES: `json` is JSON object text.
  Error SetJSON(std::string_view key, std::string_view json) const {
    const nitric_status st =
        state_->api->kv_set(state_->host, detail::Str(name_), detail::Str(key), detail::Str(json));
    return st == NITRIC_OK ? Error() : state_->HostError(st);
  }

  // Deleting a missing key succeeds.
  Error Delete(std::string_view key) const {
    const nitric_status st =
        state_->api->kv_delete(state_->host, detail::Str(name_), detail::Str(key));
    return st == NITRIC_OK ? Error() : state_->HostError(st);
  }

  // Every key that starts with `prefix`.
  Result<KeyStream> Keys(std::string_view prefix = {}) const {
    nitric_key_iter* iter = nullptr;
    const nitric_status st =
        state_->api->kv_keys(state_->host, detail::Str(name_), detail::Str(prefix), &iter);
    if (st != NITRIC_OK) return state_->HostError(st);
    return KeyStream(state_->api, iter);
  }

 private:
  detail::PluginState* state_;
  std::string name_;
};

// The plugin being set up: declarations, config, logging and hooks. A cheap,
// copyable handle; copies refer to the same plugin.
class Plugin {
 public:
  explicit Plugin(detail::PluginState* state) noexcept : state_(state) {}

  // Declares websocket `name` (Go: nitric.NewWebsocket). Setup only.
  Websocket NewWebsocket(std::string_view name) const {
    const nitric_status st = state_->api->declare_websocket(state_->host, detail::Str(name));
    if (st != NITRIC_OK) state_->Failed("NewWebsocket(\"" + std::string(name) + "\")", st);
    return Websocket(state_, std::string(name));
  }

  // A KV store handle (Go: nitric.NewKv); call Allow() to declare it.
  KvStore NewKv(std::string_view name) const { return KvStore(state_, std::string(name)); }

  // ---- config: the [plugins.<name>] table; paths like "a.b" or "list[2]" ----

  // The raw value; type NITRIC_CONFIG_NONE when missing.
  nitric_config_value ConfigValue(std::string_view path) const {
    nitric_config_value v{};
    if (state_->api->config_get(state_->host, path.data(), path.size(), &v) != NITRIC_OK) {
      v.type = NITRIC_CONFIG_NONE;
    }
    return v;
  }
  bool HasConfig(std::string_view path) const {
    return ConfigValue(path).type != NITRIC_CONFIG_NONE;
  }
  // A string value (nullopt when missing or of another type).
  std::optional<std::string> Config(std::string_view path) const {
    const nitric_config_value v = ConfigValue(path);
    if (v.type != NITRIC_CONFIG_STRING) return std::nullopt;
    return std::string(detail::View(v.string));
  }
  std::optional<int64_t> ConfigInt(std::string_view path) const {
    const nitric_config_value v = ConfigValue(path);
    if (v.type != NITRIC_CONFIG_INTEGER) return std::nullopt;
    return v.integer;
  }
  // A float, or an integer converted.
  std::optional<double> ConfigFloat(std::string_view path) const {
    const nitric_config_value v = ConfigValue(path);
    if (v.type != NITRIC_CONFIG_FLOAT && v.type != NITRIC_CONFIG_INTEGER) return std::nullopt;
    return v.number;
  }
  std::optional<bool> ConfigBool(std::string_view path) const {
    const nitric_config_value v = ConfigValue(path);
    if (v.type != NITRIC_CONFIG_BOOL) return std::nullopt;
    return v.boolean != 0;
  }
  // An array of strings (nullopt when missing, not an array, or holding a
  // value that is not a string).
  std::optional<std::vector<std::string>> ConfigStrings(std::string_view path) const {
    const nitric_config_value array = ConfigValue(path);
    if (array.type != NITRIC_CONFIG_ARRAY) return std::nullopt;
    std::vector<std::string> out;
    for (size_t i = 0; i < array.count; ++i) {
      std::optional<std::string> item = Config(std::string(path) + "[" + std::to_string(i) + "]");
      if (!item) return std::nullopt;
      out.push_back(std::move(*item));
    }
    return out;
  }

  // ---- logging, under the plugin's name; parts are concatenated ----

  template <class... Parts>
  void Log(nitric_log_level level, const Parts&... parts) const {
    std::string text;
    (detail::AppendPart(text, parts), ...);
    state_->api->log(state_->host, level, text.data(), text.size());
  }
  template <class... Parts>
  void Trace(const Parts&... parts) const {
    Log(NITRIC_LOG_TRACE, parts...);
  }
  template <class... Parts>
  void Debug(const Parts&... parts) const {
    Log(NITRIC_LOG_DEBUG, parts...);
  }
  template <class... Parts>
  void Info(const Parts&... parts) const {
    Log(NITRIC_LOG_INFO, parts...);
  }
  template <class... Parts>
  void Warn(const Parts&... parts) const {
    Log(NITRIC_LOG_WARN, parts...);
  }
  template <class... Parts>
  void Error(const Parts&... parts) const {
    Log(NITRIC_LOG_ERROR, parts...);
  }

  // ---- lifecycle hooks (setup only) ----

  // Runs once before the plugin is unloaded, after its last event.
  template <class F>
  void OnShutdown(F&& fn) const {
    state_->on_shutdown = std::forward<F>(fn);
  }
  // Hot reload, old version: returns the bytes to hand to the new version.
  // Runs after this version's last event.
  template <class F>
  void ExportState(F&& fn) const {
    state_->export_state = std::forward<F>(fn);
  }
  // Hot reload, new version: receives what the old version exported, before
  // the first event. `fn` is void(std::string_view) or Error(std::string_view);
  // an error is logged and the plugin still serves.
  template <class F>
  void ImportState(F&& fn) const {
    using R = std::invoke_result_t<std::decay_t<F>&, std::string_view>;
    if constexpr (std::is_void_v<R>) {
      state_->import_state = [f = std::decay_t<F>(std::forward<F>(fn))](
                                 std::string_view bytes) mutable -> nitric::Error {
        f(bytes);
        return nitric::Error();
      };
    } else {
      state_->import_state = std::forward<F>(fn);
    }
  }

  // Escape hatch to the C ABI.
  nitric_host* host() const noexcept { return state_->host; }
  const nitric_host_api* api() const noexcept { return state_->api; }

 private:
  detail::PluginState* state_;
};

// ---------------------------------------------------------------------------
// Broadcast: one message to every connection stored under a key prefix
//
// The seed's pattern (a KV store whose keys are connection ids, filled on
// Connect and emptied on Disconnect) has a weak spot: an id whose Disconnect
// never came (the host or the membrane crashed, the network split) stays in
// the store, and every later broadcast fails on it. Broadcast sends to every
// stored connection with the sends in flight together, reports each failure
// with its reason, and can forget (delete the key of) the connections whose
// send failed.

// Which stored connections Broadcast forgets when the send to them failed.
enum Forget : uint32_t {
  // Keep every key.
  ForgetNone = 0,
  // Delete the key of a connection the membrane says is gone (NOT_FOUND).
  // Nitric on AWS reports every send error as INTERNAL, so "gone" cannot be
  // told apart there and this forgets nothing: use ForgetFailed on AWS.
  ForgetGone = 1,
  // Delete the key of every connection whose send failed, whatever the
  // reason. A connection that failed only for a moment (the membrane
  // restarting) is forgotten too: it gets no broadcast until it reconnects.
  ForgetFailed = 2,
};

// One connection Broadcast could not send to.
struct BroadcastFailure {
  std::string connection_id;
  Error error;             // why its send failed
  bool forgotten = false;  // its key was deleted
};

// What Broadcast did.
struct BroadcastResult {
  // Connections the message was delivered to.
  size_t delivered = 0;
  // Connections it was not, in key order.
  std::vector<BroadcastFailure> failed;
  // Set when the broadcast as a whole failed, so a handler can return it:
  // the key scan could not start or broke off (connections after that point
  // were not sent to), a send failed and its connection was not forgotten,
  // or a key could not be deleted. The first of these.
  nitric::Error error;
};

// Sends `data` to every connection of `ws` whose id is stored in `store`
// under `prefix`: a key is `prefix` + connection id ("" for the seed's store
// of bare ids; "room-a/" for the keys "room-a/<id>"). Needs KvStoreGet, and
// KvStoreDelete to forget. Sends are in flight together (ABI 1.1
// ws_send_start; on a 1.0 host one after the other through ws_send, whose
// failures that host may only report as the handler's failure, see
// host.pipelined_sends).
inline BroadcastResult Broadcast(const Websocket& ws, const KvStore& store, std::string_view prefix,
                                 std::string_view data, Forget forget = ForgetNone) {
  BroadcastResult result;
  auto keys = store.Keys(prefix);
  if (!keys) {
    result.error = keys.error();
    return result;
  }
  struct Target {
    std::string key;
    PendingSend send;
  };
  std::vector<Target> targets;
  nitric::Error scan_error;
  for (;;) {
    auto key = keys->Recv();
    if (!key) {
      if (!key.error().IsDone()) scan_error = key.error();
      break;
    }
    const std::string_view id = std::string_view(*key).substr(prefix.size());
    PendingSend send = ws.StartSend(id, data);
    targets.push_back(Target{std::move(*key), std::move(send)});
  }
  // Every send is in flight before the first wait; keys are deleted only
  // after all completed (a KV call waits for the sends before it anyway).
  // The last send is waited for first: sends complete about in the order
  // they started, so the handler sleeps once for nearly all of them, where
  // waiting in order woke it for every few completions (a wake-up and a
  // lock handed back and forth each time). Wait() keeps its result, so the
  // second loop only collects them, in order.
  for (auto it = targets.rbegin(); it != targets.rend(); ++it) it->send.Wait();
  for (Target& target : targets) {
    nitric::Error err = target.send.Wait();
    if (!err) {
      ++result.delivered;
    } else {
      result.failed.push_back(BroadcastFailure{target.key.substr(prefix.size()), std::move(err)});
    }
  }
  nitric::Error kept;  // the first failure left in the store
  for (BroadcastFailure& failure : result.failed) {
    if (forget == ForgetFailed || (forget == ForgetGone && failure.error.IsNotFound())) {
      nitric::Error deleted = store.Delete(std::string(prefix) + failure.connection_id);
      failure.forgotten = !deleted;
      if (deleted && !kept) kept = deleted;
    }
    if (!failure.forgotten && !kept) kept = failure.error;
  }
  result.error = scan_error ? scan_error : kept;
  return result;
}

// ---------------------------------------------------------------------------
// The descriptor's callbacks (used by NITRIC_PLUGIN)

namespace detail {

inline nitric_status InitPlugin(nitric_host* host, const nitric_host_api* api, void** plugin_state,
                                void (*setup)(Plugin&)) noexcept {
  // This face uses every function of ABI 1.0, and those of 1.1 when the
  // host has them (PluginState).
  if (api == nullptr || api->abi_major != NITRIC_ABI_MAJOR || !NITRIC_API_HAS(api, buffer_free)) {
    return NITRIC_ERR_FAILED_PRECONDITION;
  }
  PluginState* state = nullptr;
  try {
    state = new PluginState(host, api);
    Plugin plugin(state);
    setup(plugin);
    state->in_setup = false;
    if (state->setup_error.empty()) {
      *plugin_state = state;
      return NITRIC_OK;
    }
    api->set_error(host, state->setup_error.data(), state->setup_error.size());
  } catch (const std::exception& e) {
    SetErrorText(host, api, "setup threw: ", e.what());
  } catch (...) {
    SetErrorText(host, api, "setup threw an exception of a non-std type", "");
  }
  delete state;  // the host forgets our handlers when init fails
  return NITRIC_ERR_HANDLER;
}

inline void ShutdownPlugin(void* plugin_state) noexcept {
  auto* state = static_cast<PluginState*>(plugin_state);
  if (state == nullptr) return;
  if (state->on_shutdown) {
    try {
      state->on_shutdown();
    } catch (const std::exception& e) {
      state->api->log(state->host, NITRIC_LOG_ERROR, e.what(), std::strlen(e.what()));
    } catch (...) {
      const char kText[] = "OnShutdown threw an exception of a non-std type";
      state->api->log(state->host, NITRIC_LOG_ERROR, kText, sizeof kText - 1);
    }
  }
  delete state;
}

inline nitric_status ExportPluginState(void* plugin_state, nitric_state_writer_fn write,
                                       void* writer_ctx) noexcept {
  auto* state = static_cast<PluginState*>(plugin_state);
  if (state == nullptr || !state->export_state) return NITRIC_OK;  // no write: no import
  try {
    const std::string bytes = state->export_state();
    write(writer_ctx, bytes.data(), bytes.size());
    return NITRIC_OK;
  } catch (const std::exception& e) {
    SetErrorText(state, "ExportState threw: ", e.what());
  } catch (...) {
    SetErrorText(state, "ExportState threw an exception of a non-std type", "");
  }
  return NITRIC_ERR_HANDLER;
}

inline nitric_status ImportPluginState(void* plugin_state, const char* ptr, size_t len) noexcept {
  auto* state = static_cast<PluginState*>(plugin_state);
  if (state == nullptr || !state->import_state) return NITRIC_OK;
  try {
    nitric::Error err = state->import_state(std::string_view(ptr != nullptr ? ptr : "", len));
    if (!err) return NITRIC_OK;
    state->api->set_error(state->host, err.message().data(), err.message().size());
    return err.code() == NITRIC_DONE ? NITRIC_ERR_HANDLER : err.code();
  } catch (const std::exception& e) {
    SetErrorText(state, "ImportState threw: ", e.what());
  } catch (...) {
    SetErrorText(state, "ImportState threw an exception of a non-std type", "");
  }
  return NITRIC_ERR_HANDLER;
}

}  // namespace detail
}  // namespace nitric

// Defines the plugin: its descriptor, its entry symbol, and the setup code
// (a lambda or function taking nitric::Plugin&) that init() runs. Use once,
// at namespace scope, in one source file:
//
//   NITRIC_PLUGIN("echo", [](nitric::Plugin& p) { ... });
//
// `name` names the plugin in logs and its [plugins.<name>] config table
// ([A-Za-z0-9_-]); nullptr means the file name without ".so".
#define NITRIC_PLUGIN(name, ...) NITRIC_PLUGIN_VERSIONED(name, nullptr, __VA_ARGS__)

// The descriptor names each field: C++20 designated initializers must follow
// the declaration order, so a plugin.h that reordered the descriptor would
// fail to compile every plugin instead of loading with shuffled fields.

#define NITRIC_PLUGIN_VERSIONED(plugin_name, plugin_version, ...)                              \
  namespace {                                                                                  \
  void NitricPluginSetup_(::nitric::Plugin& nitric_plugin_) { (__VA_ARGS__)(nitric_plugin_); } \
  nitric_status NitricPluginInit_(nitric_host* host, const nitric_host_api* api,               \
                                  void** plugin_state) noexcept {                              \
    return ::nitric::detail::InitPlugin(host, api, plugin_state, &NitricPluginSetup_);         \
  }                                                                                            \
  const nitric_plugin_descriptor kNitricPluginDescriptor_ = {                                  \
      .abi_major = NITRIC_ABI_MAJOR,                                                           \
      .abi_minor = NITRIC_ABI_MINOR,                                                           \
      .size = sizeof(nitric_plugin_descriptor),                                                \
      .name = plugin_name,                                                                     \
      .version = plugin_version,                                                               \
      .init = &NitricPluginInit_,                                                              \
      .shutdown = &::nitric::detail::ShutdownPlugin,                                           \
      .export_state = &::nitric::detail::ExportPluginState,                                    \
      .import_state = &::nitric::detail::ImportPluginState,                                    \
  };                                                                                           \
  }                                                                                            \
  NITRIC_PLUGIN_ENTRY { return &kNitricPluginDescriptor_; }                                    \
  static_assert(true, "NITRIC_PLUGIN ends with a semicolon")

#endif  // NITRIC_PLUGIN_HPP_
