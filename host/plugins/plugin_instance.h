// One loaded version of one plugin file: the library handle, its descriptor's
// callbacks, the plugin's state, and what it declared and registered.
//
// Lifecycle: Load() stages the file, dlopens it, checks the ABI and runs
// init(). Generations share an instance through shared_ptr; when the last
// generation that holds it is gone (so its last event has finished) the
// destructor hands its state to its successor if it has one, calls
// shutdown(), dlcloses the library and deletes the staged file.
//
// Thread-safety: after Load() returns, the accessors are read-only and may be
// called from any thread. HandStateTo() is called by the reload builder only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nitric/plugin.h>
#include <spdlog/logger.h>
#include <toml++/toml.h>

#include "host/base/declarations.h"
#include "host/base/membrane_client.h"
#include "host/base/mutex.h"
#include "host/base/status.h"
#include "host/plugins/host_context.h"
#include "host/plugins/plugin_call.h"
#include "host/plugins/staging_area.h"

namespace boost::dll {
class shared_library;  // kept out of this header: only plugin_instance.cc uses Boost.DLL
}  // namespace boost::dll

namespace nitric::host {

// A plugin file read once: its bytes are hashed and staged from memory, so a
// file being rewritten meanwhile cannot give a hash of one content and a
// library of another.
struct PluginFile {
  std::filesystem::path path;  // in the plugins folder
  std::string bytes;
  std::string hash;    // ContentHash(bytes)
  std::string sha256;  // Sha256Hex(bytes); Load() computes it when empty
};

// What a plugin is loaded with. Pointers are borrowed for the Load() call,
// except `membrane`, which must outlive the instance.
struct PluginLoadContext {
  // The [plugins] table: plugin name -> its table. Null or no entry: an
  // empty table.
  const toml::table* configs = nullptr;
  MembraneClient* membrane = nullptr;      // null: KV and send calls are UNAVAILABLE
  std::shared_ptr<spdlog::logger> logger;  // the host's; each plugin logs through a clone
  std::shared_ptr<StagingArea> staging;    // REQUIRED
  // How long the new version's events wait for the old version's state.
  std::chrono::milliseconds handoff_timeout{10000};
};

class PluginInstance {
 public:
  // Loads `file`, or says why not in one sentence naming the file.
  static StatusOr<std::shared_ptr<PluginInstance>> Load(const PluginFile& file,
                                                        const PluginLoadContext& ctx);

  ~PluginInstance();
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  const std::string& name() const { return host_->plugin_name; }
  const std::string& file_name() const { return host_->file_name; }
  const std::string& version() const { return version_; }  // may be empty
  const std::string& content_hash() const { return hash_; }
  // File name, plugin name and sha256, for the thread-local "plugin code is
  // running" marker (plugin_call.h). Lives as long as the instance.
  const PluginIdentity* identity() const { return identity_.get(); }
  const std::filesystem::path& staged_path() const { return staged_path_; }
  const toml::table& config() const { return host_->config; }
  const Declarations& declarations() const { return declarations_; }
  // In registration order; unique per (socket, type).
  const std::vector<HandlerRegistration>& handlers() const { return host_->registrations; }
  spdlog::logger& logger() const { return *host_->logger; }

  // ---- refused by the membrane (docs/ARCHITECTURE.md#membrane-session) ----

  // Set (non-empty `reason`) while the membrane refuses a resource this
  // version declared; cleared with an empty one. A refused plugin stays
  // loaded, but its handlers are not called (a Connect it would have seen is
  // rejected: it could not vet it). Thread-safe; refused() is one atomic load
  // for the event path.
  void SetRefused(std::string reason);
  bool refused() const { return refused_.load(std::memory_order_acquire); }
  // Why it is refused (the membrane's error and what to do), or empty.
  std::string refusal() const;

  // One line for logs and --check: name, version, file, sockets, stores,
  // handlers.
  std::string Summary() const;

  // ---- hot reload: state hand-over ----

  bool exports_state() const { return export_state_ != nullptr; }
  bool imports_state() const { return import_state_ != nullptr; }

  // Arranges for this version's exported state to reach `successor` after
  // this version's last event (when this instance is destroyed); until then
  // the successor's events wait in WaitUntilReady(). A no-op unless this
  // version exports and the successor imports.
  // REQUIRES: called once, before the generation holding `successor` is
  // published; that generation is then published (or CancelHandOver()).
  void HandStateTo(std::shared_ptr<PluginInstance> successor);
  // Undoes HandStateTo() for a generation that will never be published.
  void CancelHandOver();

  // Blocks while a hand-over into this version is pending. After the
  // hand-over timeout it stops waiting, logs, and the late state is dropped.
  // Fast (one atomic load) when there is nothing to wait for. Returns whether
  // it had to wait (then a handler timing taken before it is stale).
  bool WaitUntilReady() const;

 private:
  PluginInstance() = default;

  // Runs import_state (when `bytes` is set) and releases the waiters.
  void ReceiveState(const std::string* bytes);
  // Reads this version's state through export_state; false if none.
  bool ExportState(std::string* bytes);

  std::unique_ptr<boost::dll::shared_library> library_;
  std::unique_ptr<nitric_host> host_;
  std::unique_ptr<PluginIdentity> identity_;
  void* plugin_state_ = nullptr;
  void (*shutdown_)(void*) = nullptr;
  nitric_status (*export_state_)(void*, nitric_state_writer_fn, void*) = nullptr;
  nitric_status (*import_state_)(void*, const char*, size_t) = nullptr;

  std::shared_ptr<StagingArea> staging_;  // keeps the folder until we unlink
  std::filesystem::path staged_path_;
  std::string hash_;
  std::string version_;
  Declarations declarations_;
  std::chrono::milliseconds handoff_timeout_{10000};

  std::atomic<bool> refused_{false};
  mutable Mutex refusal_mu_;
  std::string refusal_ ABSL_GUARDED_BY(refusal_mu_);

  Mutex successor_mu_;
  std::shared_ptr<PluginInstance> successor_ ABSL_GUARDED_BY(successor_mu_);

  // The hand-over gate. ready_ is true unless a predecessor's state is due.
  mutable Mutex gate_mu_;
  mutable std::condition_variable gate_cv_;
  mutable std::atomic<bool> ready_{true};
  mutable bool abandoned_ ABSL_GUARDED_BY(gate_mu_) = false;  // timed out waiting
};

}  // namespace nitric::host
