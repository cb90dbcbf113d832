// The host function table (nitric_host_api) every plugin calls. Each function
// checks its arguments and what the plugin may do (declared socket or store,
// permission, phase, thread) and forwards KV and websocket calls to the
// MembraneClient. Failures return a status and leave their text in a
// thread-local for api->last_error().
//
// The boundary is hostile-input safe (plugin.h, ARGUMENTS AND HANDLES): every
// table entry is Api* wrapped in NoThrow, so no exception reaches a plugin's
// frames (a C plugin built without unwind tables would abort the host); a
// pointer the plugin passes is read only after it was checked; an event
// handle is a serial number checked against the calling thread's current
// event, never an address the host dereferences.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "host/plugins/config_lookup.h"
#include "host/plugins/host_context.h"
#include "host/plugins/send_batch.h"

namespace nitric::host {
namespace {

// Plain std::string thread_locals: the HOST owns them (the host is never
// unloaded), so their destructors pin nothing.
thread_local std::string t_last_error;
thread_local std::string t_call_error;
// Set when t_last_error could not be assigned (out of memory): last_error()
// then returns this static text instead.
thread_local const char* t_last_error_fallback = nullptr;

// The event the handler running on this thread may use, and the handle it
// was given for it (EventScope). A handle is checked by comparing it with
// t_event_handle: no read through the plugin's pointer, so a stale or foreign
// handle can never reach freed memory.
thread_local nitric_event* t_event = nullptr;
thread_local uintptr_t t_event_handle = 0;

// Handle serials: each thread takes blocks of 2^20 from the shared counter, so
// the event path does no shared atomic operation but once per block. Block 0
// is never handed out: no handle is 0 (NULL).
constexpr int kSerialBlockBits = 20;
std::atomic<uint64_t> g_next_serial_block{1};
thread_local uint64_t t_serial_next = 0;
thread_local uint64_t t_serial_end = 0;

uintptr_t NextEventHandle() noexcept {
  if (t_serial_next == t_serial_end) {
    const uint64_t block = g_next_serial_block.fetch_add(1, std::memory_order_relaxed);
    t_serial_next = block << kSerialBlockBits;
    t_serial_end = t_serial_next + (uint64_t{1} << kSerialBlockBits);
  }
  // Odd: never the address of a host object, which makes a handle easy to
  // tell from a pointer in a debugger.
  return static_cast<uintptr_t>((t_serial_next++ << 1) | 1);
}

std::string_view View(nitric_str s) {
  return s.len == 0 ? std::string_view() : std::string_view(s.ptr, s.len);
}

nitric_status Fail(nitric_status status, std::string text) {
  t_last_error = std::move(text);
  t_last_error_fallback = nullptr;
  return status;
}

// For the catch-all: sets the text without letting an exception out.
void SetLastErrorNoThrow(const char* op, const char* what) noexcept {
  try {
    t_last_error.assign(op).append(": internal error in the host: ").append(what);
    t_last_error_fallback = nullptr;
  } catch (...) {
    t_last_error_fallback = "internal error in the host (out of memory)";
  }
}

// The value a function without a status returns when it failed.
template <class R>
R FailedValue() noexcept {
  if constexpr (std::is_same_v<R, nitric_status>) {
    return NITRIC_ERR_INTERNAL;
  } else if constexpr (std::is_same_v<R, nitric_event_type>) {
    return NITRIC_EVENT_TYPE_INVALID;
  } else if constexpr (!std::is_void_v<R>) {
    return R{};
  }
}

// A template argument naming the function, for the error text.
template <size_t N>
struct OpName {
  constexpr OpName(const char (&text)[N]) { std::copy_n(text, N, name); }  // NOLINT: implicit
  char name[N];
};

// Wraps a table function so that no exception leaves it: an exception (out
// of memory, a bug in the host) becomes NITRIC_ERR_INTERNAL with its text.
// Fn is known at compile time, so the wrapper inlines to a plain call.
template <auto Fn, OpName Name>
struct NoThrow;
template <class R, class... Args, R (*Fn)(Args...), OpName Name>
struct NoThrow<Fn, Name> {
  static R Call(Args... args) noexcept {
    try {
      return Fn(args...);
    } catch (const std::exception& e) {
      SetLastErrorNoThrow(Name.name, e.what());
    } catch (...) {
      SetLastErrorNoThrow(Name.name, "an exception of a non-std type");
    }
    return FailedValue<R>();
  }
};

// {NULL, len > 0} is the one nitric_str that cannot be read.
bool Readable(nitric_str s) { return s.ptr != nullptr || s.len == 0; }

nitric_status Unreadable(std::string_view op, std::string_view arg, nitric_str s) {
  return Fail(
      NITRIC_ERR_INVALID_ARGUMENT,
      fmt::format("{}: {} is {{NULL, {}}}: a NULL pointer with a non-zero length", op, arg, s.len));
}

nitric_status NullArgument(std::string_view op, std::string_view arg) {
  return Fail(NITRIC_ERR_INVALID_ARGUMENT, fmt::format("{}: {} is NULL", op, arg));
}

// A membrane call's result for the plugin: its code, and its message behind
// `op target[/item]` in last_error(). The membrane client chose the code
// (host/base/membrane_client.h); formatted only on failure, so a successful
// call costs no allocation here.
nitric_status FromStatus(const Status& s, std::string_view op, std::string_view target,
                         std::string_view item = {}) {
  if (s.ok()) return NITRIC_OK;
  return Fail(s.code(),
              fmt::format("{} {}{}{}: {}", op, target, item.empty() ? "" : "/", item, s.message()));
}

// ---- checks shared by the calls ----

nitric_status CheckDeclaring(nitric_host* host, std::string_view what) {
  if (host == nullptr)
    return Fail(NITRIC_ERR_INVALID_ARGUMENT, fmt::format("{}: host is NULL", what));
  if (host->phase.load(std::memory_order_acquire) != nitric_host::kInit) {
    return Fail(NITRIC_ERR_FAILED_PRECONDITION,
                fmt::format("{}: declarations are only accepted during init()", what));
  }
  // The declaration fields are written without a lock by the init thread
  // only (host_context.h); another thread of the plugin would race with it.
  if (std::this_thread::get_id() != host->init_thread) {
    return Fail(
        NITRIC_ERR_FAILED_PRECONDITION,
        fmt::format("{}: declarations are only accepted on the thread running init()", what));
  }
  return NITRIC_OK;
}

// For KV and websocket calls: after init() returned OK, with a membrane.
nitric_status CheckServing(nitric_host* host, std::string_view what) {
  if (host == nullptr)
    return Fail(NITRIC_ERR_INVALID_ARGUMENT, fmt::format("{}: host is NULL", what));
  if (!host->serving()) {
    return Fail(NITRIC_ERR_FAILED_PRECONDITION,
                fmt::format("{}: only allowed after init() returned OK", what));
  }
  if (host->membrane == nullptr) {
    return Fail(
        NITRIC_ERR_UNAVAILABLE,
        fmt::format("{}: no membrane (plugins are loaded without one in --check mode)", what));
  }
  return NITRIC_OK;
}

nitric_status CheckSocket(nitric_host* host, std::string_view socket, std::string_view what) {
  if (nitric_status st = CheckServing(host, what); st != NITRIC_OK) return st;
  if (socket.empty())
    return Fail(NITRIC_ERR_INVALID_ARGUMENT, fmt::format("{}: empty socket name", what));
  if (host->sockets.find(socket) == host->sockets.end()) {
    return Fail(NITRIC_ERR_PERMISSION_DENIED,
                fmt::format("{}: plugin {} did not declare websocket '{}'", what, host->plugin_name,
                            socket));
  }
  return NITRIC_OK;
}

nitric_status CheckStore(nitric_host* host, std::string_view store, uint32_t needed,
                         std::string_view what) {
  if (nitric_status st = CheckServing(host, what); st != NITRIC_OK) return st;
  if (store.empty())
    return Fail(NITRIC_ERR_INVALID_ARGUMENT, fmt::format("{}: empty store name", what));
  auto it = host->stores.find(store);
  if (it == host->stores.end()) {
    return Fail(
        NITRIC_ERR_PERMISSION_DENIED,
        fmt::format("{}: plugin {} did not declare KV store '{}'", what, host->plugin_name, store));
  }
  if ((it->second & needed) != needed) {
    return Fail(NITRIC_ERR_PERMISSION_DENIED,
                fmt::format("{}: plugin {} declared KV store '{}' without the {} permission", what,
                            host->plugin_name, store, nitric_kv_permission_name(needed)));
  }
  return NITRIC_OK;
}

nitric_status CheckKey(std::string_view key, std::string_view what) {
  if (key.empty()) return Fail(NITRIC_ERR_INVALID_ARGUMENT, fmt::format("{}: empty key", what));
  return NITRIC_OK;
}

// Host-allocated, NUL-terminated copy; the plugin frees it with buffer_free.
nitric_status FillBuffer(std::string_view bytes, nitric_buffer* out) {
  char* p = static_cast<char*>(std::malloc(bytes.size() + 1));
  if (p == nullptr) return Fail(NITRIC_ERR_INTERNAL, "out of memory");
  if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
  p[bytes.size()] = '\0';
  out->ptr = p;
  out->len = bytes.size();
  return NITRIC_OK;
}

// ---- errors and logging ----

const char* ApiLastError() {
  return t_last_error_fallback != nullptr ? t_last_error_fallback : t_last_error.c_str();
}

void ApiSetError(nitric_host* /*host*/, const char* msg, size_t len) {
  t_call_error.assign(msg != nullptr ? msg : "", msg != nullptr ? len : 0);
}

void ApiLog(nitric_host* host, nitric_log_level level, const char* msg, size_t len) {
  if (host == nullptr || host->logger == nullptr) return;
  spdlog::level::level_enum lvl;
  switch (level) {
    case NITRIC_LOG_TRACE:
      lvl = spdlog::level::trace;
      break;
    case NITRIC_LOG_DEBUG:
      lvl = spdlog::level::debug;
      break;
    case NITRIC_LOG_WARN:
      lvl = spdlog::level::warn;
      break;
    case NITRIC_LOG_ERROR:
      lvl = spdlog::level::err;
      break;
    default:
      lvl = spdlog::level::info;
      break;
  }
  // The plugin's text is the message, never a format string.
  host->logger->log(lvl,
                    spdlog::string_view_t(msg != nullptr ? msg : "", msg != nullptr ? len : 0));
}

// ---- config ----

nitric_status ApiConfigGet(nitric_host* host, const char* path, size_t path_len,
                           nitric_config_value* out) {
  if (host == nullptr || out == nullptr || (path == nullptr && path_len != 0)) {
    return Fail(NITRIC_ERR_INVALID_ARGUMENT, "config_get: NULL argument");
  }
  const Status st =
      LookupConfig(host->config, std::string_view(path != nullptr ? path : "", path_len), out);
  return st.ok() ? NITRIC_OK : Fail(st.code(), st.message());
}

// ---- declarations ----

nitric_status ApiDeclareWebsocket(nitric_host* host, nitric_str socket) {
  if (nitric_status st = CheckDeclaring(host, "declare_websocket"); st != NITRIC_OK) return st;
  if (!Readable(socket)) return Unreadable("declare_websocket", "socket", socket);
  if (socket.len == 0)
    return Fail(NITRIC_ERR_INVALID_ARGUMENT, "declare_websocket: empty socket name");
  host->sockets.emplace(View(socket));
  return NITRIC_OK;
}

nitric_status ApiOn(nitric_host* host, nitric_str socket, uint32_t event_mask,
                    nitric_handler_fn handler, void* user_data) {
  if (nitric_status st = CheckDeclaring(host, "on"); st != NITRIC_OK) return st;
  constexpr uint32_t kAll = NITRIC_ON_CONNECT | NITRIC_ON_DISCONNECT | NITRIC_ON_MESSAGE;
  if (!Readable(socket)) return Unreadable("on", "socket", socket);
  if (socket.len == 0) return Fail(NITRIC_ERR_INVALID_ARGUMENT, "on: empty socket name");
  if (handler == nullptr) return Fail(NITRIC_ERR_INVALID_ARGUMENT, "on: NULL handler");
  if (event_mask == 0 || (event_mask & ~kAll) != 0) {
    return Fail(
        NITRIC_ERR_INVALID_ARGUMENT,
        fmt::format("on: event mask {:#x} is not a combination of NITRIC_ON_*", event_mask));
  }
  const std::string_view name = View(socket);
  host->sockets.emplace(name);
  for (int type = NITRIC_EVENT_CONNECT; type <= NITRIC_EVENT_MESSAGE; ++type) {
    if ((event_mask & (1u << type)) == 0) continue;
    auto same = [&](const HandlerRegistration& r) {
      return static_cast<int>(r.type) == type && r.socket == name;
    };
    auto it = std::find_if(host->registrations.begin(), host->registrations.end(), same);
    HandlerRegistration reg{std::string(name), static_cast<nitric_event_type>(type), handler,
                            user_data};
    if (it != host->registrations.end()) {
      *it = std::move(reg);  // the last On() wins, as in the Go SDK
    } else {
      host->registrations.push_back(std::move(reg));
    }
  }
  return NITRIC_OK;
}

nitric_status ApiDeclareKv(nitric_host* host, nitric_str store, uint32_t allow) {
  if (nitric_status st = CheckDeclaring(host, "declare_kv"); st != NITRIC_OK) return st;
  constexpr uint32_t kAll = NITRIC_KV_GET | NITRIC_KV_SET | NITRIC_KV_DELETE;
  if (!Readable(store)) return Unreadable("declare_kv", "store", store);
  if (store.len == 0) return Fail(NITRIC_ERR_INVALID_ARGUMENT, "declare_kv: empty store name");
  if ((allow & ~kAll) != 0) {
    return Fail(
        NITRIC_ERR_INVALID_ARGUMENT,
        fmt::format("declare_kv: permissions {:#x} are not a combination of NITRIC_KV_*", allow));
  }
  auto it = host->stores.find(View(store));
  if (it == host->stores.end()) it = host->stores.emplace(std::string(View(store)), 0u).first;
  it->second |= allow;
  return NITRIC_OK;
}

// ---- events ----

// The event behind `handle` when it is the handle of the handler running on
// this thread; else nullptr with the reason in last_error(). Two thread-local
// loads and a compare: this is on every event accessor's path.
nitric_event* Resolve(const nitric_event* handle, std::string_view op) {
  if (handle != nullptr && t_event != nullptr &&
      reinterpret_cast<uintptr_t>(handle) == t_event_handle) {
    return t_event;
  }
  if (handle == nullptr) {
    NullArgument(op, "event");
  } else {
    Fail(NITRIC_ERR_FAILED_PRECONDITION,
         fmt::format("{}: the event handle is not valid here: it is only valid during the "
                     "handler call it was passed to, on that handler's thread",
                     op));
  }
  return nullptr;
}

// Resolve's status: INVALID_ARGUMENT for NULL, else FAILED_PRECONDITION.
nitric_status ResolveFailure(const nitric_event* handle) {
  return handle == nullptr ? NITRIC_ERR_INVALID_ARGUMENT : NITRIC_ERR_FAILED_PRECONDITION;
}

nitric_event_type ApiEventType(const nitric_event* handle) {
  const nitric_event* event = Resolve(handle, "event_type");
  return event != nullptr ? event->type : NITRIC_EVENT_TYPE_INVALID;
}

nitric_str ApiEventSocket(const nitric_event* handle) {
  const nitric_event* event = Resolve(handle, "event_socket");
  if (event == nullptr) return nitric_str{nullptr, 0};
  const std::string& s = event->request->socket_name();
  return nitric_str{s.data(), s.size()};
}

nitric_str ApiEventConnectionId(const nitric_event* handle) {
  const nitric_event* event = Resolve(handle, "event_connection_id");
  if (event == nullptr) return nitric_str{nullptr, 0};
  const std::string& s = event->request->connection_id();
  return nitric_str{s.data(), s.size()};
}

nitric_str ApiEventMessage(const nitric_event* handle) {
  const nitric_event* event = Resolve(handle, "event_message");
  if (event == nullptr || event->type != NITRIC_EVENT_MESSAGE) return nitric_str{nullptr, 0};
  const std::string& body = event->request->message().body();
  return nitric_str{body.data(), body.size()};
}

// Builds the sorted key index the first time a handler asks for it.
const std::vector<const nitric_event::QueryEntry*>& QueryIndex(const nitric_event* event) {
  auto* e =
      const_cast<nitric_event*>(event);  // the index is a cache; the event stays logically const
  if (!e->query_ready) {
    e->query_ready = true;
    if (e->type == NITRIC_EVENT_CONNECT) {
      for (const auto& entry : e->request->connection().query_params()) e->query.push_back(&entry);
      std::sort(e->query.begin(), e->query.end(),
                [](const auto* a, const auto* b) { return a->first < b->first; });
    }
  }
  return e->query;
}

size_t ApiEventQueryCount(const nitric_event* handle) {
  const nitric_event* event = Resolve(handle, "event_query_count");
  return event != nullptr ? QueryIndex(event).size() : 0;
}

// `key` and `value_count` are each optional (ABI 1.0 accepted NULL for either).
nitric_status ApiEventQueryKey(const nitric_event* handle, size_t index, nitric_str* key,
                               size_t* value_count) {
  const nitric_event* event = Resolve(handle, "event_query_key");
  if (event == nullptr) return ResolveFailure(handle);
  const auto& index_ = QueryIndex(event);
  if (index >= index_.size()) {
    return Fail(NITRIC_ERR_NOT_FOUND, fmt::format("event_query_key: no key number {}", index));
  }
  const auto* entry = index_[index];
  if (key != nullptr) *key = nitric_str{entry->first.data(), entry->first.size()};
  if (value_count != nullptr) *value_count = static_cast<size_t>(entry->second.value_size());
  return NITRIC_OK;
}

// `value` is optional (ABI 1.0 accepted NULL: a check that the value exists).
nitric_status ApiEventQueryValue(const nitric_event* handle, size_t key_index, size_t value_index,
                                 nitric_str* value) {
  const nitric_event* event = Resolve(handle, "event_query_value");
  if (event == nullptr) return ResolveFailure(handle);
  const auto& index_ = QueryIndex(event);
  if (key_index >= index_.size()) {
    return Fail(NITRIC_ERR_NOT_FOUND,
                fmt::format("event_query_value: no key number {}", key_index));
  }
  const auto& values = index_[key_index]->second.value();
  if (value_index >= static_cast<size_t>(values.size())) {
    return Fail(NITRIC_ERR_NOT_FOUND,
                fmt::format("event_query_value: key '{}' has no value number {}",
                            index_[key_index]->first, value_index));
  }
  const std::string& v = values.Get(static_cast<int>(value_index));
  if (value != nullptr) *value = nitric_str{v.data(), v.size()};
  return NITRIC_OK;
}

void ApiEventReject(nitric_event* handle) {
  nitric_event* event = Resolve(handle, "event_reject");
  if (event != nullptr && event->type == NITRIC_EVENT_CONNECT) event->rejected = true;
}

// ABI 1.1: the failure text of this handler call, kept with its event.
nitric_status ApiEventSetError(nitric_event* handle, const char* msg, size_t len) {
  nitric_event* event = Resolve(handle, "event_set_error");
  if (event == nullptr) return ResolveFailure(handle);
  event->error.assign(msg != nullptr ? msg : "", msg != nullptr ? len : 0);
  event->has_error = true;
  return NITRIC_OK;
}

// ---- websockets ----

// Before a membrane call other than a send, inside a handler: the handler's
// pipelined sends complete first, so effects keep the order it made them in.
void AwaitPipelinedSends() {
  if (SendBatch* batch = SendBatch::Current()) batch->Flush();
}

nitric_status CheckSend(nitric_host* host, nitric_str socket, nitric_str connection_id,
                        nitric_str data, std::string_view op) {
  if (!Readable(socket)) return Unreadable(op, "socket", socket);
  if (!Readable(connection_id)) return Unreadable(op, "connection_id", connection_id);
  if (!Readable(data)) return Unreadable(op, "data", data);
  return CheckSocket(host, View(socket), op);
}

// A send that blocks and returns its own result; inside a handler the sends
// it started first complete, so the order of its sends is kept.
nitric_status BlockingSend(nitric_host* host, nitric_str socket, nitric_str connection_id,
                           nitric_str data) {
  AwaitPipelinedSends();
  return FromStatus(host->membrane->Send(View(socket), View(connection_id), View(data)), "ws_send",
                    View(socket), View(connection_id));
}

nitric_status ApiWsSend(nitric_host* host, nitric_str socket, nitric_str connection_id,
                        nitric_str data) {
  if (nitric_status st = CheckSend(host, socket, connection_id, data, "ws_send"); st != NITRIC_OK)
    return st;
  // Only a 1.0 plugin's ws_send pipelines, and only when the config says so
  // (host.pipelined_sends): a 1.1 plugin asks with ws_send_start instead.
  if (SendBatch* batch = SendBatch::Current();
      batch != nullptr && host->abi_minor == 0 && host->membrane->PipelinesSends()) {
    // Inside a handler call: its result waits for this send (send_batch.h).
    batch->Start(host->membrane, View(socket), View(connection_id), View(data));
    return NITRIC_OK;
  }
  return BlockingSend(host, socket, connection_id, data);
}

// ABI 1.1: pipelined inside a handler call whatever the config says.
nitric_status ApiWsSendStart(nitric_host* host, nitric_str socket, nitric_str connection_id,
                             nitric_str data, nitric_send_id* send_out) {
  if (send_out != nullptr) *send_out = 0;
  if (nitric_status st = CheckSend(host, socket, connection_id, data, "ws_send_start");
      st != NITRIC_OK) {
    return st;
  }
  SendBatch* batch = SendBatch::Current();
  if (batch == nullptr) return BlockingSend(host, socket, connection_id, data);
  if (send_out == nullptr) {
    batch->Start(host->membrane, View(socket), View(connection_id), View(data));
    return NITRIC_OK;
  }
  const uint64_t id =
      batch->StartTracked(host->membrane, View(socket), View(connection_id), View(data));
  if (id == 0) {
    return Fail(NITRIC_ERR_FAILED_PRECONDITION,
                fmt::format("ws_send_start: this handler call already has {} sends with an id; "
                            "wait for them, or start sends without send_out",
                            SendBatch::kMaxTracked));
  }
  *send_out = id;
  return NITRIC_OK;
}

nitric_status ApiWsSendWait(nitric_host* host, nitric_send_id send) {
  if (host == nullptr) return NullArgument("ws_send_wait", "host");
  if (send == 0) return NITRIC_OK;  // nothing in flight: ws_send_start had the result
  SendBatch* batch = SendBatch::Current();
  SendBatch::Waited waited = batch != nullptr
                                 ? batch->Wait(send)
                                 : SendBatch::Waited{SendBatch::Waited::kUnknown, Status(), {}, {}};
  switch (waited.outcome) {
    case SendBatch::Waited::kCompleted:
      return FromStatus(waited.status, "ws_send", waited.socket, waited.connection);
    case SendBatch::Waited::kAlreadyWaited:
      return Fail(NITRIC_ERR_FAILED_PRECONDITION,
                  fmt::format("ws_send_wait: send {:#x} was already waited for", send));
    case SendBatch::Waited::kUnknown:
      break;
  }
  return Fail(NITRIC_ERR_FAILED_PRECONDITION,
              fmt::format("ws_send_wait: send {:#x} is not a send of the handler call running on "
                          "this thread: an id is only valid on the handler's thread, during the "
                          "call that started it",
                          send));
}

nitric_status ApiWsClose(nitric_host* host, nitric_str socket, nitric_str connection_id) {
  if (!Readable(socket)) return Unreadable("ws_close", "socket", socket);
  if (!Readable(connection_id)) return Unreadable("ws_close", "connection_id", connection_id);
  if (nitric_status st = CheckSocket(host, View(socket), "ws_close"); st != NITRIC_OK) return st;
  AwaitPipelinedSends();
  return FromStatus(host->membrane->Close(View(socket), View(connection_id)), "ws_close",
                    View(socket), View(connection_id));
}

nitric_status ApiWsDetails(nitric_host* host, nitric_str socket, nitric_buffer* url) {
  if (url == nullptr) return NullArgument("ws_details", "url");
  if (!Readable(socket)) return Unreadable("ws_details", "socket", socket);
  if (nitric_status st = CheckSocket(host, View(socket), "ws_details"); st != NITRIC_OK) return st;
  std::string text;
  nitric_status st =
      FromStatus(host->membrane->SocketUrl(View(socket), &text), "ws_details", View(socket));
  return st == NITRIC_OK ? FillBuffer(text, url) : st;
}

// ---- key-value stores ----

nitric_status ApiKvGet(nitric_host* host, nitric_str store, nitric_str key,
                       nitric_buffer* json_out) {
  if (json_out == nullptr) return NullArgument("kv_get", "json_out");
  if (!Readable(store)) return Unreadable("kv_get", "store", store);
  if (!Readable(key)) return Unreadable("kv_get", "key", key);
  if (nitric_status st = CheckStore(host, View(store), NITRIC_KV_GET, "kv_get"); st != NITRIC_OK)
    return st;
  if (nitric_status st = CheckKey(View(key), "kv_get"); st != NITRIC_OK) return st;
  std::string json;
  AwaitPipelinedSends();
  nitric_status st = FromStatus(host->membrane->KvGet(View(store), View(key), &json), "kv_get",
                                View(store), View(key));
  return st == NITRIC_OK ? FillBuffer(json, json_out) : st;
}

nitric_status ApiKvSet(nitric_host* host, nitric_str store, nitric_str key, nitric_str json) {
  if (!Readable(store)) return Unreadable("kv_set", "store", store);
  if (!Readable(key)) return Unreadable("kv_set", "key", key);
  if (!Readable(json)) return Unreadable("kv_set", "json", json);
  if (nitric_status st = CheckStore(host, View(store), NITRIC_KV_SET, "kv_set"); st != NITRIC_OK)
    return st;
  if (nitric_status st = CheckKey(View(key), "kv_set"); st != NITRIC_OK) return st;
  // A cheap shape check here; the membrane client parses it fully.
  const std::string_view text = View(json);
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || text[first] != '{') {
    return Fail(
        NITRIC_ERR_INVALID_ARGUMENT,
        fmt::format("kv_set {}/{}: the value must be JSON object text", View(store), View(key)));
  }
  AwaitPipelinedSends();
  return FromStatus(host->membrane->KvSet(View(store), View(key), text), "kv_set", View(store),
                    View(key));
}

nitric_status ApiKvDelete(nitric_host* host, nitric_str store, nitric_str key) {
  if (!Readable(store)) return Unreadable("kv_delete", "store", store);
  if (!Readable(key)) return Unreadable("kv_delete", "key", key);
  if (nitric_status st = CheckStore(host, View(store), NITRIC_KV_DELETE, "kv_delete");
      st != NITRIC_OK) {
    return st;
  }
  if (nitric_status st = CheckKey(View(key), "kv_delete"); st != NITRIC_OK) return st;
  AwaitPipelinedSends();
  return FromStatus(host->membrane->KvDelete(View(store), View(key)), "kv_delete", View(store),
                    View(key));
}

nitric_status ApiKvKeys(nitric_host* host, nitric_str store, nitric_str prefix,
                        nitric_key_iter** iter_out) {
  if (iter_out == nullptr) return NullArgument("kv_keys", "iter_out");
  *iter_out = nullptr;
  if (!Readable(store)) return Unreadable("kv_keys", "store", store);
  if (!Readable(prefix)) return Unreadable("kv_keys", "prefix", prefix);
  if (nitric_status st = CheckStore(host, View(store), NITRIC_KV_GET, "kv_keys"); st != NITRIC_OK)
    return st;
  auto iter = std::make_unique<nitric_key_iter>();
  AwaitPipelinedSends();
  nitric_status st = FromStatus(host->membrane->KvKeys(View(store), View(prefix), &iter->keys),
                                "kv_keys", View(store));
  if (st == NITRIC_OK) *iter_out = iter.release();
  return st;
}

nitric_status ApiKvKeysNext(nitric_key_iter* iter, nitric_str* key) {
  if (iter == nullptr) return NullArgument("kv_keys_next", "iter");
  if (key == nullptr) return NullArgument("kv_keys_next", "key");
  if (iter->next >= iter->keys.size()) {
    *key = nitric_str{nullptr, 0};
    return NITRIC_DONE;
  }
  const std::string& k = iter->keys[iter->next++];
  *key = nitric_str{k.data(), k.size()};
  return NITRIC_OK;
}

void ApiKvKeysFree(nitric_key_iter* iter) { delete iter; }

// ---- memory ----

void ApiBufferFree(nitric_buffer* buffer) {
  if (buffer == nullptr) return;
  std::free(buffer->ptr);
  buffer->ptr = nullptr;
  buffer->len = 0;
}

// Constant-initialised: ready before any plugin can be loaded. Append only.
// Every function goes through NoThrow: nothing the host throws reaches a plugin.
// Designated initializers name every slot: C++20 requires them in declaration
// order, so a header that reorders (or renames) a field stops this file from
// compiling instead of silently handing plugins a shuffled table.
const nitric_host_api kHostApi = {
    .size = sizeof(nitric_host_api),
    .abi_major = NITRIC_ABI_MAJOR,
    .abi_minor = NITRIC_ABI_MINOR,
    .last_error = &NoThrow<&ApiLastError, "last_error">::Call,
    .set_error = &NoThrow<&ApiSetError, "set_error">::Call,
    .log = &NoThrow<&ApiLog, "log">::Call,
    .config_get = &NoThrow<&ApiConfigGet, "config_get">::Call,
    .declare_websocket = &NoThrow<&ApiDeclareWebsocket, "declare_websocket">::Call,
    .on = &NoThrow<&ApiOn, "on">::Call,
    .declare_kv = &NoThrow<&ApiDeclareKv, "declare_kv">::Call,
    .event_type = &NoThrow<&ApiEventType, "event_type">::Call,
    .event_socket = &NoThrow<&ApiEventSocket, "event_socket">::Call,
    .event_connection_id = &NoThrow<&ApiEventConnectionId, "event_connection_id">::Call,
    .event_message = &NoThrow<&ApiEventMessage, "event_message">::Call,
    .event_query_count = &NoThrow<&ApiEventQueryCount, "event_query_count">::Call,
    .event_query_key = &NoThrow<&ApiEventQueryKey, "event_query_key">::Call,
    .event_query_value = &NoThrow<&ApiEventQueryValue, "event_query_value">::Call,
    .event_reject = &NoThrow<&ApiEventReject, "event_reject">::Call,
    .ws_send = &NoThrow<&ApiWsSend, "ws_send">::Call,
    .ws_close = &NoThrow<&ApiWsClose, "ws_close">::Call,
    .ws_details = &NoThrow<&ApiWsDetails, "ws_details">::Call,
    .kv_get = &NoThrow<&ApiKvGet, "kv_get">::Call,
    .kv_set = &NoThrow<&ApiKvSet, "kv_set">::Call,
    .kv_delete = &NoThrow<&ApiKvDelete, "kv_delete">::Call,
    .kv_keys = &NoThrow<&ApiKvKeys, "kv_keys">::Call,
    .kv_keys_next = &NoThrow<&ApiKvKeysNext, "kv_keys_next">::Call,
    .kv_keys_free = &NoThrow<&ApiKvKeysFree, "kv_keys_free">::Call,
    .buffer_free = &NoThrow<&ApiBufferFree, "buffer_free">::Call,
    // ABI 1.1
    .event_set_error = &NoThrow<&ApiEventSetError, "event_set_error">::Call,
    .ws_send_start = &NoThrow<&ApiWsSendStart, "ws_send_start">::Call,
    .ws_send_wait = &NoThrow<&ApiWsSendWait, "ws_send_wait">::Call,
};

}  // namespace

const nitric_host_api* HostApi() { return &kHostApi; }

nitric_status SendFailed(const SendBatch::Failure& failure) {
  return FromStatus(failure.status, "ws_send", failure.socket, failure.connection);
}

EventScope::EventScope(nitric_event* event) noexcept
    : previous_event_(t_event), previous_handle_(t_event_handle) {
  t_event = event;
  t_event_handle = NextEventHandle();
  handle_ = reinterpret_cast<nitric_event*>(t_event_handle);
}

EventScope::~EventScope() {
  t_event = previous_event_;
  t_event_handle = previous_handle_;
}

void ClearCallError() { t_call_error.clear(); }
void SetCallError(std::string_view text) { t_call_error.assign(text); }
const std::string& CallError() { return t_call_error; }
const char* LastHostError() { return t_last_error.c_str(); }

}  // namespace nitric::host
