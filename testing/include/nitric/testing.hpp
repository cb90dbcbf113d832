// nitric/testing.hpp - unit-test a plugin without a membrane.
//
// nitric::testing::Host is the host in a box: it loads a real plugin .so
// through the host's own loader (staging, ELF and ABI checks, dlopen, init)
// and runs events through the host's own dispatcher and handler chains, with
// the same function table a plugin gets in production. Only the membrane is
// replaced, by one in memory: KV stores, and a record of every send and
// close. It works with GoogleTest or any other test framework:
//
//   #include <nitric/testing.hpp>
//
//   nitric::testing::Host host;              // or Host host(toml_text)
//   auto plugin = host.Load("rooms.so");     // plugin.ok(), plugin.error()
//   bool accepted = host.Connect("rooms", "c1", {{"room", {"a"}}});
//   nitric_status st = host.Message("rooms", "c1", "hello");
//   host.Disconnect("rooms", "c1");
//   std::vector<std::string> sent = host.Sent("rooms", "c1");
//   bool closed = host.Closed("rooms", "c1");
//   std::optional<std::string> json = host.KvGet("members", "a/c1");
//   host.FailSendsTo("rooms", "c2", NITRIC_ERR_NOT_FOUND);  // a connection that is gone
//   host.SetMembraneDown(true);                             // every membrane call UNAVAILABLE
//   auto reloaded = host.Reload("rooms-v2.so");             // state hand-over
//   std::vector<std::string> logs = host.Logs();            // what the plugins logged
//
// Link the target NitricPlugin::testing (find_package(NitricPlugin 1.1
// CONFIG)): one shared library, libnitric-plugin-testing.so, holding the
// host's plugin loader, dispatcher and config parser. It needs Protocol
// Buffers, spdlog, fmt and toml++ at run time (it loads them itself), not
// gRPC, and exports nothing but this header's names.
//
// WHAT IS THE REAL HOST'S, AND WHAT IS NOT
//   - Loading: every Load() and Reload() goes through the host's
//     PluginInstance::Load, so a file the host would refuse (another ABI
//     major, no entry symbol, init() failing, ...) is refused here with the
//     host's own sentence in error(). The plugins folder's file checks (owner,
//     mode) are not made: the test names the file.
//   - Events: Connect, Message and Disconnect go through the host's
//     dispatcher (host/dispatch) to the current generation's handler chains,
//     on the dispatcher's worker threads, exactly as in the host: one event
//     at a time per connection, in order; a handler past
//     host.handler_timeout_ms is answered by the host (a Connect rejected, a
//     Message's connection closed). Each call returns once the event is
//     answered, that is after its whole chain ran and every send it started
//     completed.
//   - Chains: plugins chain in file name order, as in the host's plugins
//     folder (an auth.so sorts before echo.so), whatever order they were
//     loaded in; a plugin name can be loaded once (Reload replaces it).
//   - Sends behave as in the host. Inside a handler, plugin.hpp's Send
//     (ABI 1.1 ws_send_start) does not wait for the membrane, and a failed
//     send fails the handler's call (Message returns its status, a Connect
//     is rejected); StartSend(...).Wait() and SendAndWait give each send's
//     own result. A plugin built against the 1.0 header gets its ws_send
//     pipelined or blocking as host.pipelined_sends says (default true).
//   - The membrane is in memory and answers at once. It does not track
//     which connections exist: every send and close succeeds (and is
//     recorded) unless the test says otherwise with FailSendsTo or
//     SetMembraneDown. KV values go through the same JSON <-> Struct
//     conversion as on the wire, so a value reads back as it would from a
//     real membrane (every number a double: docs/PROTOCOL.md#kv), except
//     that object keys come back sorted, where a real membrane's order is
//     arbitrary: a test can compare values as text.
//   - Reload always loads a new version, even of identical bytes (the host
//     skips an unchanged file on SIGHUP; a test that asks for a reload wants
//     one).
//
// THREADS
//   Every method may be called from any thread. Events of one connection
//   sent from several threads run one at a time (in the order the dispatcher
//   got them); different connections run in parallel. Load and Reload run one
//   at a time.
#ifndef NITRIC_TESTING_HPP_
#define NITRIC_TESTING_HPP_

#include <nitric/plugin.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nitric::testing {

// The outcome of Host::Load or Host::Reload.
class LoadedPlugin {
 public:
  // True when the plugin loaded and its init() succeeded.
  bool ok() const noexcept { return error_.empty(); }
  // Why it did not load: one sentence naming the file (the host's own
  // wording). Empty when ok().
  const std::string& error() const noexcept { return error_; }
  // The plugin's name (its descriptor's, or the file name without .so).
  // Empty when !ok().
  const std::string& name() const noexcept { return name_; }

  static LoadedPlugin Loaded(std::string name) { return LoadedPlugin(std::move(name), {}); }
  // REQUIRES: `error` is not empty.
  static LoadedPlugin Failed(std::string error) { return LoadedPlugin({}, std::move(error)); }

 private:
  LoadedPlugin(std::string name, std::string error)
      : name_(std::move(name)), error_(std::move(error)) {}

  std::string name_;
  std::string error_;
};

// Query parameters of a Connect: key -> values, as a client's URL carries
// them (?room=a&room=b is {{"room", {"a", "b"}}}).
using Query = std::map<std::string, std::vector<std::string>>;

class Host {
 public:
  // A host with no plugin configuration.
  Host();
  // `toml_text` is a host config file (config/nitric-host.toml): its
  // [plugins.<name>] tables are what each plugin reads with config_get. Of
  // [host], workers, max_workers, handler_timeout_ms,
  // max_queued_events_per_connection and pipelined_sends apply; other keys
  // are checked but have no effect. A text that does not parse, or has an
  // unknown key or a bad value, makes every Load() and Reload() fail with
  // the error ("testing-config.toml:LINE:COL: key: what").
  explicit Host(std::string_view toml_text);
  // Stops taking events, waits for running handlers, then shuts every plugin
  // down and unloads it (shutdown(), dlclose).
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // ---- plugins ----

  // Loads a plugin file and adds it to the running set (as copying it into
  // the host's plugins folder and reloading would). A plugin with the same
  // name as a loaded one is refused: Reload it instead.
  LoadedPlugin Load(const std::filesystem::path& file);
  // Loads `file` as the new version of the loaded plugin with the same name
  // (the name in its descriptor), as replacing that plugin's file and
  // reloading the host would: the new version's init() runs, then, once the
  // old version's last event finished, the old one's export_state hands its
  // bytes to the new one's import_state (when both have them), the old one is
  // shut down and unloaded, and the new one's events wait for that. If the
  // new version fails to load, the old one keeps serving and the error says
  // why.
  LoadedPlugin Reload(const std::filesystem::path& file);

  // ---- events: each returns once the event was answered ----

  // A client connects to `socket`. True when accepted; false when a handler
  // rejected it or failed, or when no loaded plugin declared `socket` (the
  // membrane would have no such socket; Logs() says so).
  bool Connect(std::string_view socket, std::string_view connection_id, const Query& query = {});
  // A message from the client (text or binary bytes). NITRIC_OK when every
  // handler succeeded, else the first failure: a handler's status, or the
  // status of a send it started. NITRIC_ERR_NOT_FOUND when no loaded plugin
  // declared `socket`; NITRIC_ERR_INTERNAL when the host answered the event
  // itself because a handler ran past host.handler_timeout_ms.
  nitric_status Message(std::string_view socket, std::string_view connection_id,
                        std::string_view data);
  // The client went away. The status is as for Message.
  nitric_status Disconnect(std::string_view socket, std::string_view connection_id);

  // ---- what the plugins did through the membrane ----

  // Every successful send to `connection_id` of `socket`, in order.
  std::vector<std::string> Sent(std::string_view socket, std::string_view connection_id) const;
  // True once a plugin (or the host, for a handler timeout) closed it.
  bool Closed(std::string_view socket, std::string_view connection_id) const;

  // ---- KV stores, as the membrane holds them (never affected by
  //      SetMembraneDown; no permissions: that is the plugin's side) ----

  // The value of `key` as JSON object text, or nullopt when missing.
  std::optional<std::string> KvGet(std::string_view store, std::string_view key) const;
  // Stores `json`. False (nothing stored) when it is not a JSON object.
  bool KvSet(std::string_view store, std::string_view key, std::string_view json);
  void KvDelete(std::string_view store, std::string_view key);
  // Every key of `store` starting with `prefix`, sorted bytewise.
  std::vector<std::string> KvKeys(std::string_view store, std::string_view prefix = {}) const;

  // ---- failures ----

  // Makes every later send to `connection_id` of `socket` fail with
  // `status` (NITRIC_ERR_NOT_FOUND: the connection is gone); nothing is
  // recorded for a failed send. NITRIC_OK lets sends through again.
  void FailSendsTo(std::string_view socket, std::string_view connection_id, nitric_status status);
  // While down, every membrane call a plugin makes (send, close, socket
  // details, KV) fails with NITRIC_ERR_UNAVAILABLE, as when the membrane
  // cannot be reached. Events are still delivered.
  void SetMembraneDown(bool down);

  // ---- logs ----

  // Every line the plugins logged, oldest first, as "[<plugin>] [<level>]
  // <text>" (level: trace, debug, info, warning, error). Includes the lines
  // the host logs under a plugin's name (a failed handler, a rejected
  // connect), and the testing host's own complaints as "[nitric.testing] ...".
  std::vector<std::string> Logs() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nitric::testing

#endif  // NITRIC_TESTING_HPP_
