// "Plugin code is running on this thread": a thread-local marker that the
// host sets around every call into a plugin (library constructors, the entry
// function, init, handlers, state export/import, shutdown, destructors), so
// that a fatal signal can be blamed on the plugin whose code was running
// (host/app/crash_recorder.h writes the crash quarantine record).
//
// Contract: the marker costs two thread-local stores on the way in and two on
// the way out; no lock, no allocation. It is readable from a signal handler:
// the variable is constant-initialised, lives in the executable's static TLS
// block (initial-exec model), and the PluginIdentity it points to is a
// fixed-size block filled at load time that outlives every call marked with
// it (its PluginInstance owns it).
#pragma once

#include <atomic>
#include <string_view>

namespace nitric::host {

// What the crash handler needs to know about a plugin file, computed at load
// time. NUL-terminated, truncated when longer.
struct PluginIdentity {
  char file[256] = {};    // file name in the plugins folder
  char plugin[129] = {};  // plugin name
  char sha256[65] = {};   // Sha256Hex of the file's content

  void Set(std::string_view file_name, std::string_view plugin_name, std::string_view sha);
};

// Which call into the plugin is running.
enum class PluginCall : int {
  kNone = 0,
  kLoad,        // dlopen: the library's constructors
  kEntry,       // the entry function returning the descriptor
  kInit,        // descriptor init()
  kConnect,     // a connect handler
  kDisconnect,  // a disconnect handler
  kMessage,     // a message handler
  kExport,      // export_state
  kImport,      // import_state
  kShutdown,    // shutdown()
  kUnload,      // dlclose: the library's destructors
};

// A fixed, human name ("message handler"). Async-signal-safe.
const char* PluginCallName(PluginCall call);

struct PluginCallMarker {
  const PluginIdentity* plugin = nullptr;
  PluginCall call = PluginCall::kNone;
};

// The marker of the calling thread. `constinit` tells every user that no
// dynamic initialisation is needed (no TLS wrapper call on access).
extern constinit thread_local PluginCallMarker tls_plugin_call
    __attribute__((tls_model("initial-exec")));

// Marks the calling thread as running `plugin`'s `call` for the scope's
// lifetime; nests (restores what was there before).
class PluginCallScope {
 public:
  PluginCallScope(const PluginIdentity* plugin, PluginCall call) noexcept
      : saved_(tls_plugin_call) {
    tls_plugin_call.call = call;
    tls_plugin_call.plugin = plugin;
    // The stores must not sink past the call into the plugin (a signal
    // handler on this thread reads them).
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  ~PluginCallScope() {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    tls_plugin_call = saved_;
  }
  PluginCallScope(const PluginCallScope&) = delete;
  PluginCallScope& operator=(const PluginCallScope&) = delete;

 private:
  const PluginCallMarker saved_;
};

}  // namespace nitric::host
