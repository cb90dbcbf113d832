#include "host/plugins/plugin_generation.h"

#include <chrono>
#include <exception>
#include <mutex>
#include <set>
#include <utility>

#include "host/plugins/host_context.h"
#include "nitric/proto/event_type.h"

namespace nitric::host {
const std::string* InternPluginName(std::string_view name) {
  static std::mutex mu;
  static auto* names = new std::set<std::string, std::less<>>;  // never freed: see generation.h
  std::lock_guard<std::mutex> lock(mu);
  auto it = names->find(name);
  if (it == names->end()) it = names->emplace(name).first;
  return &*it;
}

PluginGeneration::PluginGeneration(uint64_t number,
                                   std::vector<std::shared_ptr<PluginInstance>> plugins,
                                   std::shared_ptr<StagingArea> staging, HostMetrics* host_metrics)
    : number_(number), plugins_(std::move(plugins)), staging_(std::move(staging)) {
  for (const auto& plugin : plugins_) {
    declarations_.Merge(plugin->declarations());
    for (const HandlerRegistration& reg : plugin->handlers()) {
      metrics::Histogram* duration =
          host_metrics != nullptr
              ? &host_metrics->HandlerDuration(plugin->name(), reg.socket, reg.type)
              : nullptr;
      chains_[reg.socket][reg.type].push_back(
          Link{plugin.get(), InternPluginName(plugin->name()), reg.fn, reg.user_data, duration});
    }
  }
}

PluginGeneration::~PluginGeneration() {
  chains_.clear();
  while (!plugins_.empty()) plugins_.pop_back();  // unload in reverse load order
}

std::shared_ptr<PluginInstance> PluginGeneration::FindByFile(std::string_view file_name) const {
  for (const auto& plugin : plugins_) {
    if (plugin->file_name() == file_name) return plugin;
  }
  return nullptr;
}

HandleResult PluginGeneration::Handle(wsproto::WebsocketEventType type,
                                      const wsproto::WebsocketEventRequest& request) const {
  return ResultOf(HandleWithOutcome(type, request));
}

PluginGeneration::Outcome PluginGeneration::HandleWithOutcome(
    wsproto::WebsocketEventType type, const wsproto::WebsocketEventRequest& request) const {
  const nitric_event_type ntype = proto::ToNitricEventType(type);
  Outcome outcome;
  try {
    auto it = chains_.find(std::string_view(request.socket_name()));
    if (it == chains_.end()) return outcome;
    const Chain& chain = it->second[ntype];
    if (chain.empty()) return outcome;

    const PluginCall call = ntype == NITRIC_EVENT_CONNECT      ? PluginCall::kConnect
                            : ntype == NITRIC_EVENT_DISCONNECT ? PluginCall::kDisconnect
                                                               : PluginCall::kMessage;
    nitric_event event;
    event.request = &request;
    event.type = ntype;
    SendBatch sends;
    HandlerProgress* const progress = t_handler_progress;
    // Handler timing (links have a histogram when the host keeps metrics):
    // one clock read per handler call. A call starts where the previous one
    // ended; `mark` is re-read only when something that may take time ran in
    // between (a state hand-over wait, a failure's log line). The last end is
    // left in `progress` for the dispatcher to reuse as the answer time.
    std::chrono::steady_clock::time_point mark{};
    for (const Link& link : chain) {
      if (link.plugin->refused()) {
        // The membrane refused a resource this plugin declared: it is not
        // called. It cannot have vetted a Connect, so that is rejected
        // (failing closed, as a failing connect handler does).
        if (ntype == NITRIC_EVENT_CONNECT) {
          link.plugin->logger().debug(
              "rejected connect on socket {} (connection {}): this plugin is refused",
              request.socket_name(), request.connection_id());
          outcome.reject = true;
          return outcome;
        }
        continue;
      }
      if (progress != nullptr) progress->plugin.store(link.name, std::memory_order_release);
      const bool waited = link.plugin->WaitUntilReady();  // a reloaded plugin's state hand-over
      ClearCallError();
      event.has_error = false;  // event_set_error text belongs to one handler call
      event.error.clear();
      if (link.duration != nullptr && (waited || mark == std::chrono::steady_clock::time_point{})) {
        mark = std::chrono::steady_clock::now();
      }
      nitric_status status;
      {
        SendBatch::Scope scope(&sends);
        EventScope event_scope(&event);  // a fresh handle per handler call
        try {
          PluginCallScope running(link.plugin->identity(), call);
          status = link.fn(event_scope.handle(), link.user_data);
        } catch (const std::exception& e) {
          status = NITRIC_ERR_INTERNAL;
          SetCallError(std::string("an exception escaped the handler: ") + e.what());
        } catch (...) {
          status = NITRIC_ERR_INTERNAL;
          SetCallError("an exception escaped the handler");
        }
      }
      // The call is over only when its pipelined sends are: a failed one
      // fails the call, as the blocking send's error returned would have.
      if (auto failed = sends.Finish(); failed && status == NITRIC_OK) {
        status = SendFailed(*failed);
        SetCallError(LastHostError());
        event.has_error = false;  // the reason is the send's
      }
      if (link.duration != nullptr) {
        const auto ended = std::chrono::steady_clock::now();
        link.duration->ObserveDuration(ended - mark);
        mark = ended;
        if (progress != nullptr) progress->last_reading = ended;
      }
      if (status != NITRIC_OK) {
        // The call's own text (event_set_error, ABI 1.1) before the
        // thread's (set_error, which 1.0 plugins use).
        LogFailure(*link.plugin, ntype, request, status,
                   event.has_error ? event.error : CallError());
        if (outcome.status == NITRIC_OK) outcome.status = status;
        mark = {};  // the next handler starts after the log line
      }
      if (ntype == NITRIC_EVENT_CONNECT && (status != NITRIC_OK || event.rejected)) {
        if (status == NITRIC_OK) {
          link.plugin->logger().debug("rejected connect on socket {} (connection {})",
                                      request.socket_name(), request.connection_id());
        }
        outcome.reject = true;  // the first reject ends the chain
        return outcome;
      }
    }
    return outcome;
  } catch (...) {
    // Only the host's own code can get here (e.g. out of memory while
    // logging). Refusing a connect is the safe answer.
    return Outcome{ntype == NITRIC_EVENT_CONNECT, NITRIC_ERR_INTERNAL};
  }
}

void PluginGeneration::LogFailure(const PluginInstance& plugin, nitric_event_type type,
                                  const wsproto::WebsocketEventRequest& event, nitric_status status,
                                  const std::string& text) const {
  const std::string reason = text.empty() ? std::string("returned ") + nitric_status_name(status)
                                          : std::string(nitric_status_name(status)) + ": " + text;
  if (type == NITRIC_EVENT_CONNECT) {
    plugin.logger().warn("connect handler failed on socket {} (connection {}), rejecting: {}",
                         event.socket_name(), event.connection_id(), reason);
  } else {
    plugin.logger().error("{} handler failed on socket {} (connection {}): {}",
                          nitric_event_type_name(type), event.socket_name(), event.connection_id(),
                          reason);
  }
}

}  // namespace nitric::host
