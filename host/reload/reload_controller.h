// The reload controller: turns "reload now" (SIGHUP, the folder watcher) into
// a generation swap (DESIGN.md, "Hot reload"):
//   1. LoadGeneration() loads every changed plugin file into a new, immutable
//      generation (a plugin that fails keeps its old version);
//   2. the generation is published: events that start from now on run on it,
//      running events finish on the one they started on;
//   3. the session is asked to declare what is new and open streams for new
//      sockets. Publishing first means a new socket's first event already
//      finds its handlers (an auth plugin guarding it included).
// Existing streams are never touched.
//
// Thread-safety: Reload() is called from the control loop only (reloads are
// serialised there); current() is thread-safe.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>

#include "host/membrane/session.h"
#include "host/plugins/generation_loader.h"

namespace nitric::host {

class ReloadController {
 public:
  // `options` is used for every load; `config_file`, when set, is read again
  // on each reload for its [plugins.*] tables. `slot` and `session` must
  // outlive the controller; `session` may be null (--check).
  ReloadController(GenerationOptions options, std::optional<std::filesystem::path> config_file,
                   GenerationSlot* slot, MembraneSession* session);

  // The first load (generation 1). Returns its report.
  GenerationReport LoadInitial();

  // Loads what changed, publishes the new generation and wants its
  // declarations. Returns the report.
  GenerationReport Reload();

  std::shared_ptr<PluginGeneration> current() const;

 private:
  GenerationReport Publish(LoadedGeneration loaded);

  GenerationOptions options_;
  const std::optional<std::filesystem::path> config_file_;
  GenerationSlot* const slot_;
  MembraneSession* const session_;

  mutable std::mutex mu_;
  std::shared_ptr<PluginGeneration> current_;  // GUARDED_BY(mu_)
};

}  // namespace nitric::host
