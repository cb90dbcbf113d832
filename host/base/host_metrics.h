// The host's Prometheus metrics (docs/ARCHITECTURE.md#metrics): every family
// of the contract in one place, so that the names dashboards and alerts are
// written against can be read in one file. The names and labels are a
// contract (issue 12): change them only with the dashboards
// (contrib/grafana/) and the README's Operations section.
//
//   nitric_host_events_total{socket,event,outcome}        counter
//   nitric_host_event_duration_seconds{socket,event}      histogram
//   nitric_host_handler_duration_seconds{plugin,socket,event} histogram
//   nitric_host_sends_total{socket,outcome}               counter
//   nitric_host_kv_calls_total{store,op,outcome}          counter
//   nitric_host_events_in_flight                          gauge (scrape time)
//   nitric_host_workers{state}                            gauge (scrape time)
//   nitric_host_inline_runs_total                         counter (scrape time)
//   nitric_host_polling_hand_offs_total                   counter (scrape time)
//   nitric_host_connections{socket}                       gauge (scrape time)
//   nitric_host_reloads_total{result}                     counter
//   nitric_host_generation                                gauge
//   nitric_host_plugin_info{plugin,file,version,sha256}   gauge (scrape time)
//   nitric_host_plugins{state}                            gauge (scrape time)
//   nitric_host_handler_timeouts_total{plugin,socket}     counter
//   nitric_host_membrane_up                               gauge (scrape time)
//   nitric_host_membrane_reconnects_total                 counter (scrape time)
//   nitric_host_build_info{version,abi}                   gauge
//   process_cpu_seconds_total, process_resident_memory_bytes,
//   process_open_fds, process_start_time_seconds          (metrics/process.h)
//
// Who updates what: a HandleEvents stream stamps each event when its read
// completes and hands it the SocketMetrics of its socket (resolved once per
// stream); whoever answers the event (a worker, or the dispatcher's watch at
// the handler deadline) counts it once, with its outcome and the time since
// the read. Handler durations are observed around each plugin call through
// histograms resolved when a generation is built. Sends and KV calls are
// counted by the gRPC membrane client. Numbers the host already keeps (the
// pool, the queue, the plugins, the session) are read at scrape time through
// Sources. No update on the event path takes a lock or allocates
// (metrics/metric.h); sends and KV calls find their counters through a
// lock-free table after the first call per name.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nitric/plugin.h>

#include "metrics/registry.h"

namespace nitric::host {

// The outcome label of nitric_host_events_total.
enum class EventOutcome : uint8_t {
  kOk = 0,    // handled; a Connect accepted
  kRejected,  // a Connect rejected by a plugin (or a refused plugin in its chain), or an
              // event answered without running because its connection's queue was full
  kError,     // a handler failed or threw (a Connect is then rejected)
  kTimeout,   // a handler ran past host.handler_timeout_ms; the host answered
};
inline constexpr int kEventOutcomes = 4;
const char* EventOutcomeName(EventOutcome outcome);

// What answering one event of one (socket, event type) updates.
struct EventMetrics {
  metrics::Counter* outcomes[kEventOutcomes] = {};
  metrics::Histogram* duration = nullptr;

  // `elapsed`: from reading the event to its answer (the end of its last
  // handler, right before the answer is queued).
  void Count(EventOutcome outcome, std::chrono::steady_clock::duration elapsed) const {
    outcomes[static_cast<int>(outcome)]->Add();
    duration->ObserveDuration(elapsed);
  }
};

// One socket's event metrics, indexed by nitric_event_type.
struct SocketMetrics {
  std::string socket;
  EventMetrics events[3];
};

// The op label of nitric_host_kv_calls_total.
enum class KvOp : uint8_t { kGet = 0, kSet, kDelete, kKeys };

class HostMetrics {
 public:
  // Numbers read at scrape time. Each may be empty (the family is then
  // written with no samples, or zeros); set them once the parts exist.
  struct PluginInfo {
    std::string plugin, file, version, sha256;
  };
  struct PluginStates {
    int64_t serving = 0, refused = 0, quarantined = 0;
  };
  struct Sources {
    std::function<int64_t()> events_in_flight;
    // busy, idle
    std::function<std::pair<int64_t, int64_t>()> workers;
    std::function<std::vector<PluginInfo>()> serving_plugins;
    std::function<PluginStates()> plugin_states;
    std::function<bool()> membrane_up;
    std::function<uint64_t()> membrane_reconnects;
    // Events run on the polling thread; times polling passed on.
    std::function<uint64_t()> inline_runs;
    std::function<uint64_t()> polling_hand_offs;
  };

  // `version`: the host's (NITRIC_HOST_VERSION); the ABI is plugin.h's.
  explicit HostMetrics(std::string version = "unknown");
  HostMetrics(const HostMetrics&) = delete;
  HostMetrics& operator=(const HostMetrics&) = delete;

  metrics::Registry& registry() { return registry_; }
  // The exposition (GET /metrics).
  std::string Expose() const { return registry_.Expose(); }

  void SetSources(Sources sources);

  // ---- resolved once, off the event path (they take a family's mutex) ----

  // A socket's event metrics; the same object for the same name, valid as
  // long as this. Creates its series (zero) on first use.
  const SocketMetrics& Socket(std::string_view socket);
  metrics::Histogram& HandlerDuration(std::string_view plugin, std::string_view socket,
                                      nitric_event_type type);

  // ---- counted where they happen ----

  // The dispatcher's watch, when it answers for a stuck handler.
  void CountHandlerTimeout(std::string_view plugin, std::string_view socket);
  // A send's or KV call's result (the gRPC membrane client), any thread.
  void CountSend(std::string_view socket, bool ok);
  void CountKv(std::string_view store, KvOp op, bool ok);
  // After each reload: "ok", "partial" or "failed" (ReloadResultName).
  void CountReload(std::string_view result);
  void SetGeneration(uint64_t number) { generation_->Set(static_cast<int64_t>(number)); }

 private:
  template <typename T>
  class NameTable;
  struct SendCounters;
  struct KvCounters;

  Sources CopySources() const;
  // A counter without labels whose value a Sources member reads at scrape
  // time (0 while it is unset).
  void AddSourcedCounter(const char* name, const char* help,
                         std::function<uint64_t()> Sources::*read);
  void WriteConnections(metrics::TextWriter& writer) const;

  mutable metrics::Registry registry_;
  metrics::CounterFamily& events_;
  metrics::HistogramFamily& event_duration_;
  metrics::HistogramFamily& handler_duration_;
  metrics::CounterFamily& sends_;
  metrics::CounterFamily& kv_calls_;
  metrics::CounterFamily& reloads_;
  metrics::GaugeFamily& generation_family_;
  metrics::Gauge* generation_;
  metrics::CounterFamily& handler_timeouts_;

  mutable std::mutex mu_;
  Sources sources_;                                      // guarded by mu_
  std::vector<std::unique_ptr<SocketMetrics>> sockets_;  // guarded by mu_

  std::unique_ptr<NameTable<SendCounters>> send_table_;
  std::unique_ptr<NameTable<KvCounters>> kv_table_;

 public:
  ~HostMetrics();
};

}  // namespace nitric::host
