// The host's side of the opaque handles of plugin.h: nitric_host (one loaded
// plugin version), nitric_event (one event during one handler call) and
// nitric_key_iter (one KV key scan). Internal to host/plugins: only
// host_api.cc, plugin_instance.cc and plugin_generation.cc touch the fields.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nitric/plugin.h>
#include <spdlog/logger.h>
#include <toml++/toml.h>

#include "host/base/membrane_client.h"
#include "host/plugins/send_batch.h"
#include "nitric/proto/websockets/v1/websockets.pb.h"

namespace nitric::host {

// One handler registered through api->on().
struct HandlerRegistration {
  std::string socket;
  nitric_event_type type;
  nitric_handler_fn fn;
  void* user_data;  // the plugin's; passed back untouched
};

}  // namespace nitric::host

// The context of one loaded plugin version. Owned by its PluginInstance.
//
// Thread-safety: the declaration fields (sockets, stores, registrations) are
// written only by the thread running init(), while `phase` is kInit; init()
// returning publishes them (phase -> kServing, release) and from then on
// they are read-only, so handlers read them without a lock.
struct nitric_host {
  enum Phase : int { kInit = 0, kServing = 1 };

  std::string plugin_name;  // the descriptor's name, or the file stem
  std::string file_name;    // e.g. "echo.so", for log lines
  // The descriptor's abi_minor: the header the plugin was built against.
  // ws_send of a 1.0 plugin may pipeline (host.pipelined_sends); a 1.1
  // plugin's always blocks (plugin.h, COMPATIBILITY).
  uint32_t abi_minor = 0;
  std::shared_ptr<spdlog::logger> logger;
  toml::table config;  // [plugins.<name>]; never modified while loaded
  nitric::host::MembraneClient* membrane = nullptr;  // null in --check mode
  std::atomic<int> phase{kInit};
  // The only thread whose declarations are accepted (while phase is kInit):
  // the one that creates the context and then calls init().
  std::thread::id init_thread = std::this_thread::get_id();

  std::set<std::string, std::less<>> sockets;
  std::map<std::string, uint32_t, std::less<>> stores;           // NITRIC_KV_* bits
  std::vector<nitric::host::HandlerRegistration> registrations;  // unique (socket, type)

  bool serving() const { return phase.load(std::memory_order_acquire) == kServing; }
};

// One event, for the duration of one handler chain. Points into the request
// proto (no copy of the body); lives on the stack of Generation::Handle.
// Plugins never see its address: they get an EventScope's handle.
struct nitric_event {
  using QueryEntry =
      google::protobuf::MapPair<std::string, nitric::proto::websockets::v1::QueryValue>;

  const nitric::proto::websockets::v1::WebsocketEventRequest* request = nullptr;
  nitric_event_type type = NITRIC_EVENT_CONNECT;
  bool rejected = false;
  // event_set_error() text of the handler call running now (ABI 1.1); the
  // chain clears it before each handler.
  bool has_error = false;
  std::string error;
  // Query keys sorted bytewise, built on first use (only Connect has any).
  bool query_ready = false;
  std::vector<const QueryEntry*> query;
};

// A finished key scan, handed out one key at a time.
struct nitric_key_iter {
  std::vector<std::string> keys;
  size_t next = 0;
};

namespace nitric::host {

// Makes `event` the one event the handler about to run on this thread may
// use, and gives the handle to pass to it. The handle is a serial number,
// not an address: the event functions accept it only on this thread while
// the scope lives, and answer FAILED_PRECONDITION otherwise (plugin.h,
// ARGUMENTS AND HANDLES), so a handle kept past the handler, or passed to
// another thread, can never reach freed memory. Scopes nest (the previous
// event is restored). Costs two thread-local stores and an increment.
class EventScope {
 public:
  explicit EventScope(nitric_event* event) noexcept;
  ~EventScope();
  EventScope(const EventScope&) = delete;
  EventScope& operator=(const EventScope&) = delete;

  nitric_event* handle() const noexcept { return handle_; }

 private:
  nitric_event* handle_;
  nitric_event* previous_event_;
  uintptr_t previous_handle_;
};

// The function table every plugin gets (static storage, never changes).
const nitric_host_api* HostApi();

// set_error() text of the init/handler call running on this thread. The
// caller clears it before calling into the plugin and reads it after.
void ClearCallError();
void SetCallError(std::string_view text);
const std::string& CallError();

// The text of the last host-function failure on this thread (last_error()).
const char* LastHostError();

// The status (and last_error() text on this thread) of a pipelined send
// that failed, worded as a blocking ws_send would have.
nitric_status SendFailed(const SendBatch::Failure& failure);

}  // namespace nitric::host
