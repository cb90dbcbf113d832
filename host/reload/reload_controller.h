// The reload controller: turns "reload now" (SIGHUP, the folder watcher) into
// a generation swap (docs/ARCHITECTURE.md#reload):
//   1. LoadGeneration() loads every changed plugin file into a new, immutable
//      generation (a plugin that fails keeps its old version);
//   2. the generation is published: events that start from now on run on it,
//      running events finish on the one they started on;
//   3. its declarations go to the `declare` callback (the membrane session's
//      Want(): declare what is new and open streams for new sockets).
//      Publishing first means a new socket's first event already finds its
//      handlers (an auth plugin guarding it included).
// Existing streams are never touched.
//
// reload/ knows nothing of the membrane: app/host_app.cc passes the callback.
//
// Thread-safety: Reload() is called from the control loop only (reloads are
// serialised there); current() is thread-safe (it reads the slot).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "host/base/declarations.h"
#include "host/plugins/generation.h"
#include "host/plugins/generation_loader.h"
#include "host/plugins/plugin_generation.h"

namespace nitric::host {

class ReloadController {
 public:
  // Receives each published generation's declarations, on the thread that
  // called LoadInitial() or Reload().
  using DeclareFn = std::function<void(const Declarations&)>;

  // `options` is used for every load; `config_file`, when set, is read again
  // on each reload for its [plugins.*] tables. `slot` must outlive the
  // controller, which is the only one to publish to it until shutdown.
  // `declare` may be empty (--check: no membrane).
  ReloadController(GenerationOptions options, std::optional<std::filesystem::path> config_file,
                   GenerationSlot* slot, DeclareFn declare);

  // The first load (generation 1). Returns its report.
  GenerationReport LoadInitial();

  // Loads what changed, publishes the new generation and hands its
  // declarations to `declare`. Returns the report.
  GenerationReport Reload();

  // The generation in the slot (the last one published), or null once the
  // slot was cleared at shutdown.
  std::shared_ptr<const PluginGeneration> current() const;

 private:
  GenerationReport Publish(LoadedGeneration loaded);

  GenerationOptions options_;
  const std::optional<std::filesystem::path> config_file_;
  GenerationSlot* const slot_;
  const DeclareFn declare_;
};

}  // namespace nitric::host
