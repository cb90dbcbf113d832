// The host function table (nitric_host_api) every plugin calls. Each function
// checks what the plugin may do (declared socket or store, permission, phase)
// and forwards KV and websocket calls to the MembraneClient. Failures return a
// status and leave their text in a thread-local for api->last_error().
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
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

std::string_view View(nitric_str s) {
  return s.len == 0 ? std::string_view() : std::string_view(s.ptr, s.len);
}

nitric_status Fail(nitric_status status, std::string text) {
  t_last_error = std::move(text);
  return status;
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

const char* ApiLastError() { return t_last_error.c_str(); }

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
  if (socket.len == 0)
    return Fail(NITRIC_ERR_INVALID_ARGUMENT, "declare_websocket: empty socket name");
  host->sockets.emplace(View(socket));
  return NITRIC_OK;
}

nitric_status ApiOn(nitric_host* host, nitric_str socket, uint32_t event_mask,
                    nitric_handler_fn handler, void* user_data) {
  if (nitric_status st = CheckDeclaring(host, "on"); st != NITRIC_OK) return st;
  constexpr uint32_t kAll = NITRIC_ON_CONNECT | NITRIC_ON_DISCONNECT | NITRIC_ON_MESSAGE;
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

nitric_event_type ApiEventType(const nitric_event* event) { return event->type; }

nitric_str ApiEventSocket(const nitric_event* event) {
  const std::string& s = event->request->socket_name();
  return nitric_str{s.data(), s.size()};
}

nitric_str ApiEventConnectionId(const nitric_event* event) {
  const std::string& s = event->request->connection_id();
  return nitric_str{s.data(), s.size()};
}

nitric_str ApiEventMessage(const nitric_event* event) {
  if (event->type != NITRIC_EVENT_MESSAGE) return nitric_str{nullptr, 0};
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

size_t ApiEventQueryCount(const nitric_event* event) { return QueryIndex(event).size(); }

nitric_status ApiEventQueryKey(const nitric_event* event, size_t index, nitric_str* key,
                               size_t* value_count) {
  const auto& index_ = QueryIndex(event);
  if (index >= index_.size()) {
    return Fail(NITRIC_ERR_NOT_FOUND, fmt::format("event_query_key: no key number {}", index));
  }
  const auto* entry = index_[index];
  if (key != nullptr) *key = nitric_str{entry->first.data(), entry->first.size()};
  if (value_count != nullptr) *value_count = static_cast<size_t>(entry->second.value_size());
  return NITRIC_OK;
}

nitric_status ApiEventQueryValue(const nitric_event* event, size_t key_index, size_t value_index,
                                 nitric_str* value) {
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

void ApiEventReject(nitric_event* event) {
  if (event != nullptr && event->type == NITRIC_EVENT_CONNECT) event->rejected = true;
}

// ---- websockets ----

// Before a membrane call other than a send, inside a handler: the handler's
// pipelined sends complete first, so effects keep the order it made them in.
void AwaitPipelinedSends() {
  if (SendBatch* batch = SendBatch::Current()) batch->Flush();
}

nitric_status ApiWsSend(nitric_host* host, nitric_str socket, nitric_str connection_id,
                        nitric_str data) {
  if (nitric_status st = CheckSocket(host, View(socket), "ws_send"); st != NITRIC_OK) return st;
  if (SendBatch* batch = SendBatch::Current();
      batch != nullptr && host->membrane->PipelinesSends()) {
    // Inside a handler call: its result waits for this send (send_batch.h).
    batch->Start(host->membrane, View(socket), View(connection_id), View(data));
    return NITRIC_OK;
  }
  return FromStatus(host->membrane->Send(View(socket), View(connection_id), View(data)), "ws_send",
                    View(socket), View(connection_id));
}

nitric_status ApiWsClose(nitric_host* host, nitric_str socket, nitric_str connection_id) {
  if (nitric_status st = CheckSocket(host, View(socket), "ws_close"); st != NITRIC_OK) return st;
  AwaitPipelinedSends();
  return FromStatus(host->membrane->Close(View(socket), View(connection_id)), "ws_close",
                    View(socket), View(connection_id));
}

nitric_status ApiWsDetails(nitric_host* host, nitric_str socket, nitric_buffer* url) {
  if (url == nullptr) return Fail(NITRIC_ERR_INVALID_ARGUMENT, "ws_details: NULL url");
  if (nitric_status st = CheckSocket(host, View(socket), "ws_details"); st != NITRIC_OK) return st;
  std::string text;
  nitric_status st =
      FromStatus(host->membrane->SocketUrl(View(socket), &text), "ws_details", View(socket));
  return st == NITRIC_OK ? FillBuffer(text, url) : st;
}

// ---- key-value stores ----

nitric_status ApiKvGet(nitric_host* host, nitric_str store, nitric_str key,
                       nitric_buffer* json_out) {
  if (json_out == nullptr) return Fail(NITRIC_ERR_INVALID_ARGUMENT, "kv_get: NULL json_out");
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
  if (iter_out == nullptr) return Fail(NITRIC_ERR_INVALID_ARGUMENT, "kv_keys: NULL iter_out");
  *iter_out = nullptr;
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
  if (iter == nullptr || key == nullptr)
    return Fail(NITRIC_ERR_INVALID_ARGUMENT, "kv_keys_next: NULL argument");
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
// Designated initializers name every slot: C++20 requires them in declaration
// order, so a header that reorders (or renames) a field stops this file from
// compiling instead of silently handing plugins a shuffled table.
const nitric_host_api kHostApi = {
    .size = sizeof(nitric_host_api),
    .abi_major = NITRIC_ABI_MAJOR,
    .abi_minor = NITRIC_ABI_MINOR,
    .last_error = &ApiLastError,
    .set_error = &ApiSetError,
    .log = &ApiLog,
    .config_get = &ApiConfigGet,
    .declare_websocket = &ApiDeclareWebsocket,
    .on = &ApiOn,
    .declare_kv = &ApiDeclareKv,
    .event_type = &ApiEventType,
    .event_socket = &ApiEventSocket,
    .event_connection_id = &ApiEventConnectionId,
    .event_message = &ApiEventMessage,
    .event_query_count = &ApiEventQueryCount,
    .event_query_key = &ApiEventQueryKey,
    .event_query_value = &ApiEventQueryValue,
    .event_reject = &ApiEventReject,
    .ws_send = &ApiWsSend,
    .ws_close = &ApiWsClose,
    .ws_details = &ApiWsDetails,
    .kv_get = &ApiKvGet,
    .kv_set = &ApiKvSet,
    .kv_delete = &ApiKvDelete,
    .kv_keys = &ApiKvKeys,
    .kv_keys_next = &ApiKvKeysNext,
    .kv_keys_free = &ApiKvKeysFree,
    .buffer_free = &ApiBufferFree,
};

}  // namespace

const nitric_host_api* HostApi() { return &kHostApi; }

nitric_status SendFailed(const SendBatch::Failure& failure) {
  return FromStatus(failure.status, "ws_send", failure.socket, failure.connection);
}

void ClearCallError() { t_call_error.clear(); }
void SetCallError(std::string_view text) { t_call_error.assign(text); }
const std::string& CallError() { return t_call_error; }
const char* LastHostError() { return t_last_error.c_str(); }

}  // namespace nitric::host
