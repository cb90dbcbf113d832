// The concrete Generation: an ordered list of loaded plugin versions and, per
// (socket, event type), the chain of their handlers in plugin load order.
// Immutable once built; built by LoadGeneration() (generation_loader.h).
//
// Plugins are held by shared_ptr: one that did not change across a reload is
// shared by the old and the new generation, and a replaced one is shut down
// and unloaded when the last generation holding it is released, i.e. after
// the last event that started on it.
//
// Thread-safety: Handle() and every const method may be called concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "host/base/host_metrics.h"
#include "host/plugins/generation.h"
#include "host/plugins/plugin_instance.h"
#include "host/plugins/staging_area.h"

namespace nitric::host {

class PluginGeneration final : public Generation {
 public:
  // `plugins` in load order. `host_metrics` (borrowed, may be null; must
  // outlive the generation): each handler's duration is observed there.
  PluginGeneration(uint64_t number, std::vector<std::shared_ptr<PluginInstance>> plugins,
                   std::shared_ptr<StagingArea> staging, HostMetrics* host_metrics = nullptr);
  // Releases the plugins in reverse load order.
  ~PluginGeneration() override;

  // ResultOf(HandleWithOutcome()).
  HandleResult Handle(wsproto::WebsocketEventType type,
                      const wsproto::WebsocketEventRequest& event) const override;

  // What one event's chain came to: Handle()'s answer, and the first failure
  // in it (a handler's non-OK status, or the error of a send it started), else
  // NITRIC_OK. An explicit reject is not a failure. The testing host
  // (testing/) hands the status to the test; the host itself only logs it.
  struct Outcome {
    bool reject = false;
    nitric_status status = NITRIC_OK;
  };
  Outcome HandleWithOutcome(wsproto::WebsocketEventType type,
                            const wsproto::WebsocketEventRequest& event) const;
  // The Generation::Handle() result of an outcome: kFailed when its status is
  // not OK, else kRejected or kAccepted.
  static HandleResult ResultOf(const Outcome& outcome) {
    if (outcome.status != NITRIC_OK) return HandleResult::kFailed;
    return outcome.reject ? HandleResult::kRejected : HandleResult::kAccepted;
  }
  const Declarations& declarations() const override { return declarations_; }
  uint64_t number() const override { return number_; }

  const std::vector<std::shared_ptr<PluginInstance>>& plugins() const { return plugins_; }
  // The instance loaded from plugins-folder file `file_name`, or null.
  std::shared_ptr<PluginInstance> FindByFile(std::string_view file_name) const;
  const std::shared_ptr<StagingArea>& staging() const { return staging_; }

 private:
  struct Link {
    PluginInstance* plugin;   // kept alive by plugins_
    const std::string* name;  // InternPluginName(plugin->name())
    nitric_handler_fn fn;
    void* user_data;
    // nitric_host_handler_duration_seconds of (plugin, socket, type); null
    // without metrics.
    metrics::Histogram* duration;
  };
  using Chain = std::vector<Link>;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  // socket -> chain per nitric_event_type.
  using ChainTable =
      std::unordered_map<std::string, std::array<Chain, 3>, StringHash, std::equal_to<>>;

  // `text`: the reason the plugin gave (event_set_error or set_error), or empty.
  void LogFailure(const PluginInstance& plugin, nitric_event_type type,
                  const wsproto::WebsocketEventRequest& event, nitric_status status,
                  const std::string& text) const;

  const uint64_t number_;
  std::vector<std::shared_ptr<PluginInstance>> plugins_;
  std::shared_ptr<StagingArea> staging_;
  Declarations declarations_;
  ChainTable chains_;
};

}  // namespace nitric::host
