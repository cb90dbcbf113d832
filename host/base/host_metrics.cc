#include "host/base/host_metrics.h"

#include <algorithm>

#include "metrics/process.h"

namespace nitric::host {

namespace {

constexpr const char* kOutcomeNames[kEventOutcomes] = {"ok", "rejected", "error", "timeout"};
constexpr const char* kKvOpNames[4] = {"get", "set", "delete", "keys"};
constexpr nitric_event_type kEventTypes[3] = {NITRIC_EVENT_CONNECT, NITRIC_EVENT_DISCONNECT,
                                              NITRIC_EVENT_MESSAGE};
// Names a send or KV table keeps; beyond it (a plugin inventing names)
// further names are still counted, through the family's mutex.
constexpr std::size_t kMaxTableNames = 256;

}  // namespace

const char* EventOutcomeName(EventOutcome outcome) {
  return kOutcomeNames[static_cast<int>(outcome)];
}

struct HostMetrics::SendCounters {
  metrics::Counter* ok;
  metrics::Counter* error;
};

struct HostMetrics::KvCounters {
  metrics::Counter* calls[4][2];  // [op][ok ? 0 : 1]
};

// Name -> T, read without a lock: a reader loads the current table (an
// immutable vector) and scans it; a name not in it is added under the mutex
// by copying the table, and the old copy is kept (so readers never see freed
// memory). Meant for the few socket and store names of a host.
template <typename T>
class HostMetrics::NameTable {
 public:
  explicit NameTable(std::function<T(std::string_view)> make) : make_(std::move(make)) {
    tables_.push_back(std::make_unique<Table>());
    current_.store(tables_.back().get(), std::memory_order_release);
  }

  T Get(std::string_view name) {
    const Table* table = current_.load(std::memory_order_acquire);
    for (const auto& [key, value] : *table) {
      if (key == name) return value;
    }
    return Add(name);
  }

 private:
  using Table = std::vector<std::pair<std::string, T>>;

  T Add(std::string_view name) {
    std::lock_guard lock(mu_);
    const Table* table = current_.load(std::memory_order_relaxed);
    for (const auto& [key, value] : *table) {
      if (key == name) return value;
    }
    T value = make_(name);
    if (table->size() >= kMaxTableNames) return value;
    auto next = std::make_unique<Table>(*table);
    next->emplace_back(std::string(name), value);
    current_.store(next.get(), std::memory_order_release);
    tables_.push_back(std::move(next));
    return value;
  }

  std::function<T(std::string_view)> make_;
  std::atomic<const Table*> current_{nullptr};
  std::mutex mu_;
  std::vector<std::unique_ptr<Table>> tables_;  // guarded by mu_; never shrinks
};

HostMetrics::HostMetrics(std::string version)
    : events_(registry_.AddCounter(
          "nitric_host_events_total",
          "Websocket events answered, by socket, event type (connect, disconnect, message) and "
          "outcome (ok, rejected, error, timeout).",
          {"socket", "event", "outcome"})),
      event_duration_(registry_.AddHistogram(
          "nitric_host_event_duration_seconds",
          "Time from reading an event from its HandleEvents stream to its answer.",
          {"socket", "event"}, metrics::DurationBuckets())),
      handler_duration_(registry_.AddHistogram(
          "nitric_host_handler_duration_seconds",
          "Time one plugin's handler took for one event, its pipelined sends included.",
          {"plugin", "socket", "event"}, metrics::DurationBuckets())),
      sends_(registry_.AddCounter("nitric_host_sends_total",
                                  "Websocket sends made by plugins, by socket and outcome (ok, "
                                  "error).",
                                  {"socket", "outcome"})),
      kv_calls_(registry_.AddCounter(
          "nitric_host_kv_calls_total",
          "Key-value store calls made by plugins, by store, op (get, set, delete, keys) and "
          "outcome (ok, error; a get of a missing key is ok).",
          {"store", "op", "outcome"})),
      reloads_(registry_.AddCounter("nitric_host_reloads_total",
                                    "Reloads by result: ok (every plugin file loaded), partial "
                                    "(some failed), failed (none of the changes applied).",
                                    {"result"})),
      generation_family_(registry_.AddGauge(
          "nitric_host_generation",
          "Number of the plugin generation serving now (1 at start, +1 per reload).")),
      generation_(&generation_family_.With({})),
      handler_timeouts_(registry_.AddCounter(
          "nitric_host_handler_timeouts_total",
          "Handlers that ran past host.handler_timeout_ms, whose events the host answered.",
          {"plugin", "socket"})) {
  for (const char* result : {"ok", "partial", "failed"}) reloads_.With({result});
  registry_.AddCallback(
      "nitric_host_events_in_flight", "Events read and not yet answered (queued or running).",
      metrics::Type::kGauge, [this](metrics::TextWriter& writer) {
        Sources sources = CopySources();
        writer.Sample("nitric_host_events_in_flight", metrics::Labels{},
                      sources.events_in_flight ? sources.events_in_flight() : int64_t{0});
      });
  registry_.AddCallback(
      "nitric_host_workers", "Worker threads of the pool, busy (running a handler) or idle.",
      metrics::Type::kGauge, [this](metrics::TextWriter& writer) {
        Sources sources = CopySources();
        std::pair<int64_t, int64_t> workers =
            sources.workers ? sources.workers() : std::pair<int64_t, int64_t>{0, 0};
        writer.Sample("nitric_host_workers", {{"state", "busy"}},
                      static_cast<double>(workers.first));
        writer.Sample("nitric_host_workers", {{"state", "idle"}},
                      static_cast<double>(workers.second));
      });
  AddSourcedCounter("nitric_host_inline_runs_total",
                    "Events whose handlers ran on the thread that read them (host.inline_handlers) "
                    "instead of being handed to a worker.",
                    &Sources::inline_runs);
  AddSourcedCounter(
      "nitric_host_polling_hand_offs_total",
      "Times a handler running on the polling thread was about to block (a KV call, a wait for "
      "its sends) or ran past a watch tick, and polling passed to another thread.",
      &Sources::polling_hand_offs);
  registry_.AddCallback("nitric_host_connections",
                        "Client connections the host accepted and has not yet seen disconnect, "
                        "by socket.",
                        metrics::Type::kGauge,
                        [this](metrics::TextWriter& writer) { WriteConnections(writer); });
  registry_.AddCallback(
      "nitric_host_plugin_info",
      "1 for each serving plugin: its name, file, version and the sha256 of its file.",
      metrics::Type::kGauge, [this](metrics::TextWriter& writer) {
        Sources sources = CopySources();
        if (!sources.serving_plugins) return;
        for (const PluginInfo& p : sources.serving_plugins()) {
          writer.Sample("nitric_host_plugin_info",
                        {{"plugin", p.plugin},
                         {"file", p.file},
                         {"version", p.version},
                         {"sha256", p.sha256}},
                        1.0);
        }
      });
  registry_.AddCallback(
      "nitric_host_plugins",
      "Plugin versions by state: serving, refused (failed to load, or a resource it declared "
      "was refused by the membrane) and quarantined (the file crashed the host before).",
      metrics::Type::kGauge, [this](metrics::TextWriter& writer) {
        Sources sources = CopySources();
        PluginStates states = sources.plugin_states ? sources.plugin_states() : PluginStates{};
        writer.Sample("nitric_host_plugins", {{"state", "serving"}},
                      static_cast<double>(states.serving));
        writer.Sample("nitric_host_plugins", {{"state", "refused"}},
                      static_cast<double>(states.refused));
        writer.Sample("nitric_host_plugins", {{"state", "quarantined"}},
                      static_cast<double>(states.quarantined));
      });
  registry_.AddCallback("nitric_host_membrane_up",
                        "1 when every declared socket's streams are registered with the "
                        "membrane, else 0.",
                        metrics::Type::kGauge, [this](metrics::TextWriter& writer) {
                          Sources sources = CopySources();
                          const bool up = sources.membrane_up && sources.membrane_up();
                          writer.Sample("nitric_host_membrane_up", metrics::Labels{},
                                        up ? 1.0 : 0.0);
                        });
  AddSourcedCounter("nitric_host_membrane_reconnects_total",
                    "Times the membrane ended registered streams (it went away or "
                    "restarted) and the host declared and registered again.",
                    &Sources::membrane_reconnects);
  const std::string abi = std::to_string(NITRIC_ABI_MAJOR) + "." + std::to_string(NITRIC_ABI_MINOR);
  registry_.AddCallback(
      "nitric_host_build_info", "1, labelled with the host's version and its plugin ABI.",
      metrics::Type::kGauge, [version = std::move(version), abi](metrics::TextWriter& writer) {
        writer.Sample("nitric_host_build_info", {{"version", version}, {"abi", abi}}, 1.0);
      });
  metrics::AddProcessMetrics(registry_);

  send_table_ = std::make_unique<NameTable<SendCounters>>([this](std::string_view socket) {
    return SendCounters{&sends_.With({socket, "ok"}), &sends_.With({socket, "error"})};
  });
  kv_table_ = std::make_unique<NameTable<KvCounters>>([this](std::string_view store) {
    KvCounters counters{};
    for (int op = 0; op < 4; ++op) {
      counters.calls[op][0] = &kv_calls_.With({store, kKvOpNames[op], "ok"});
      counters.calls[op][1] = &kv_calls_.With({store, kKvOpNames[op], "error"});
    }
    return counters;
  });
}

HostMetrics::~HostMetrics() = default;

void HostMetrics::SetSources(Sources sources) {
  std::lock_guard lock(mu_);
  sources_ = std::move(sources);
}

HostMetrics::Sources HostMetrics::CopySources() const {
  // Copied, then called without mu_: a source takes the locks of the part
  // it reads (the dispatcher's, the session's), and those parts call
  // Socket() with their own locks held.
  std::lock_guard lock(mu_);
  return sources_;
}

void HostMetrics::AddSourcedCounter(const char* name, const char* help,
                                    std::function<uint64_t()> Sources::*read) {
  registry_.AddCallback(name, help, metrics::Type::kCounter,
                        [this, name, read](metrics::TextWriter& writer) {
                          const std::function<uint64_t()> source = CopySources().*read;
                          writer.Sample(name, metrics::Labels{}, source ? source() : uint64_t{0});
                        });
}

const SocketMetrics& HostMetrics::Socket(std::string_view socket) {
  std::lock_guard lock(mu_);
  for (const auto& existing : sockets_) {
    if (existing->socket == socket) return *existing;
  }
  auto created = std::make_unique<SocketMetrics>();
  created->socket = std::string(socket);
  for (nitric_event_type type : kEventTypes) {
    EventMetrics& m = created->events[type];
    const char* event = nitric_event_type_name(type);
    for (int o = 0; o < kEventOutcomes; ++o) {
      m.outcomes[o] = &events_.With({socket, event, kOutcomeNames[o]});
    }
    m.duration = &event_duration_.With({socket, event});
  }
  // Its sends too, so that every socket's series exist from the start.
  send_table_->Get(socket);
  sockets_.push_back(std::move(created));
  return *sockets_.back();
}

metrics::Histogram& HostMetrics::HandlerDuration(std::string_view plugin, std::string_view socket,
                                                 nitric_event_type type) {
  return handler_duration_.With({plugin, socket, nitric_event_type_name(type)});
}

void HostMetrics::CountHandlerTimeout(std::string_view plugin, std::string_view socket) {
  handler_timeouts_.With({plugin, socket}).Add();
}

void HostMetrics::CountSend(std::string_view socket, bool ok) {
  const SendCounters counters = send_table_->Get(socket);
  (ok ? counters.ok : counters.error)->Add();
}

void HostMetrics::CountKv(std::string_view store, KvOp op, bool ok) {
  kv_table_->Get(store).calls[static_cast<int>(op)][ok ? 0 : 1]->Add();
}

void HostMetrics::CountReload(std::string_view result) { reloads_.With({result}).Add(); }

void HostMetrics::WriteConnections(metrics::TextWriter& writer) const {
  std::lock_guard lock(mu_);
  for (const auto& socket : sockets_) {
    // Accepted connects minus disconnects seen: a Disconnect comes once per
    // accepted connection (docs/PROTOCOL.md#dev-gateway). Never below 0
    // (disconnects of connections accepted before the host started).
    const int64_t accepted = static_cast<int64_t>(socket->events[NITRIC_EVENT_CONNECT]
                                                      .outcomes[static_cast<int>(EventOutcome::kOk)]
                                                      ->Value());
    int64_t gone = 0;
    for (int o = 0; o < kEventOutcomes; ++o) {
      gone += static_cast<int64_t>(socket->events[NITRIC_EVENT_DISCONNECT].outcomes[o]->Value());
    }
    writer.Sample("nitric_host_connections", {{"socket", socket->socket}},
                  static_cast<double>(std::max<int64_t>(0, accepted - gone)));
  }
}

}  // namespace nitric::host
