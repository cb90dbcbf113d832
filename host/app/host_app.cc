#include "host/app/host_app.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <spdlog/spdlog.h>

#include "devserver/gateway_profile.h"
#include "host/admin/admin_server.h"
#include "host/app/admin_routes.h"
#include "host/app/control.h"
#include "host/app/crash_recorder.h"
#include "host/app/dev_child.h"
#include "host/app/pid_file.h"
#include "host/app/plugin_gate.h"
#include "host/app/quarantine.h"
#include "host/app/signals.h"
#include "host/app/systemd_notify.h"
#include "host/base/host_metrics.h"
#include "host/dispatch/dispatcher.h"
#include "host/membrane/channel.h"
#include "host/membrane/completion_queue_thread.h"
#include "host/membrane/grpc_membrane_client.h"
#include "host/membrane/session.h"
#include "host/plugins/generation_loader.h"
#include "host/reload/folder_watcher.h"
#include "host/reload/reload_controller.h"
#include "nitric/proto/event_type.h"

namespace nitric::host {

namespace {

using namespace std::chrono_literals;

// How long a graceful stop waits for the membrane to end the streams after
// the last answers were written.
constexpr auto kCloseGrace = 5s;

// All connections together: above this many events queued the streams stop
// reading (Dispatcher::HasRoom). Not a config key (the issue names none): a
// bound against unlimited buffering, far above what a healthy host queues.
constexpr size_t kMaxQueuedEvents = 16384;

bool BuildMode() {
  const char* env = std::getenv("NITRIC_ENVIRONMENT");
  return env != nullptr && std::string(env) == "build";
}

class HostApp {
 public:
  HostApp(const HostConfig& config, const CliOptions& cli) : config_(config), cli_(cli) {}

  int Run() {
    if (!config_.pid_file.empty()) {
      StatusOr<PidFile> created = PidFile::Create(config_.pid_file);
      if (!created.ok()) {
        spdlog::error("{}", created.status().message());
        return 1;
      }
      pid_file_ = std::move(created.value());
    }
    StopHooks hooks;
    hooks.timeout = config_.shutdown_timeout;
    hooks.on_timeout = [this] { LogStillRunning(); };
    signals_ = std::make_unique<SignalWatcher>(&queue_, std::move(hooks));
    std::string address = config_.membrane_address;
    if (cli_.dev) {
      if (!StartDevMembrane()) return 1;
      address = dev_->grpc_address();
    }
    const bool build_mode = BuildMode();
    const int max_workers = std::max(config_.max_workers, config_.workers);
    spdlog::info("nitric-host {} starting: membrane {}{}, plugins {}, {} workers (up to {})",
                 NITRIC_HOST_VERSION, address, build_mode ? " (build mode)" : "",
                 config_.plugins_dir.string(), config_.workers, max_workers);

    channel_ = OpenMembraneChannel(address);
    client_ =
        std::make_unique<GrpcMembraneClient>(channel_, config_.service_name, config_.call_timeout,
                                             &grpc_queue_, config_.pipelined_sends, &metrics_);
    Dispatcher::Options pool;
    pool.workers = config_.workers;
    pool.max_workers = max_workers;
    pool.handler_timeout = config_.handler_timeout;
    pool.inline_handlers = config_.inline_handlers;
    pool.max_queued_per_connection = static_cast<size_t>(config_.max_queued_events_per_connection);
    pool.max_queued = kMaxQueuedEvents;
    pool.metrics = &metrics_;
    {
      std::lock_guard<std::mutex> lock(stop_mu_);
      // Closing goes through the membrane client; the dispatcher only knows
      // this callback (it runs on the dispatcher's watch thread).
      dispatcher_ = std::make_unique<Dispatcher>(
          pool, &slot_, [this](const std::string& socket, const std::string& connection) {
            Status status = client_->Close(socket, connection);
            if (!status.ok()) {
              spdlog::warn("closing connection {} on socket {} failed: {}", connection, socket,
                           status.ToString());
            }
          });
    }
    SessionOptions session_options;
    session_options.address = address;
    session_options.service_name = config_.service_name;
    session_options.call_timeout = config_.call_timeout;
    session_options.build_mode = build_mode;
    session_options.on_refused = [this] { ApplyRefusals(); };
    session_ = std::make_unique<MembraneSession>(
        channel_, dispatcher_.get(), &grpc_queue_, session_options,
        [this] {
          queue_.Post({ControlEvent::kReady, 0, "streams registered"});
        },
        [this](int code) {
          queue_.Post({ControlEvent::kExit, code, "membrane session ended"});
        });

    StartQuarantine();
    GenerationOptions generation_options;
    generation_options.gate = gate_.get();
    generation_options.insecure_plugins = config_.insecure_plugins;
    generation_options.folder = config_.plugins_dir;
    generation_options.plugin_configs = config_.plugins;
    generation_options.membrane = client_.get();
    generation_options.metrics = &metrics_;
    reload_ = std::make_unique<ReloadController>(std::move(generation_options), cli_.config, &slot_,
                                                 [this](const Declarations& wanted) {
                                                   // A new version of a refused plugin stays
                                                   // refused until the session has declared again
                                                   // (Want retries what was refused).
                                                   ApplyRefusals();
                                                   session_->Want(wanted);
                                                 });
    ServeMetrics(address);
    if (!config_.admin_listen.empty() && !StartAdmin()) return 1;
    // Published before the session registers any stream: the first event
    // already finds its handlers. A host with no plugin keeps running, so a
    // reload can bring some.
    step_.store("loading the plugins");
    RecordPublished(reload_->LoadInitial(), /*reload=*/false);
    step_.store("serving");
    if (reload_->current()->plugins().empty()) {
      spdlog::warn("no plugin loaded from {}: serving nothing until a reload brings one",
                   config_.plugins_dir.string());
    }
    if (config_.watch) {
      watcher_ = std::make_unique<FolderWatcher>(config_.plugins_dir, [this] {
        queue_.Post({ControlEvent::kReload, 0, "plugins folder changed"});
      });
    }
    return Loop();
  }

 private:
  bool StartDevMembrane() {
    DevChildOptions options;
    options.gateway_port = cli_.dev_port;
    options.data_dir = cli_.dev_data;
    options.allowed_origins = cli_.dev_allow_origins;
    options.profile =
        devserver::ProfileNamed(cli_.dev_profile).value_or(devserver::LocalProfile()).name;
    dev_ = std::make_unique<DevChild>(options, [this](std::string why) {
      spdlog::error("{}", why);
      queue_.Post({ControlEvent::kExit, 1, "dev membrane exited"});
    });
    std::string error;
    if (!dev_->Start(&error)) {
      spdlog::error("dev membrane did not start: {}", error);
      dev_.reset();
      return false;
    }
    return true;
  }

  // What the scrape-time metrics read (host/base/host_metrics.h).
  void ServeMetrics(const std::string& address) {
    HostMetrics::Sources sources;
    sources.events_in_flight = [this] { return static_cast<int64_t>(dispatcher_->stats().queued); };
    sources.workers = [this] {
      const Dispatcher::Stats stats = dispatcher_->stats();
      return std::pair<int64_t, int64_t>(stats.busy + stats.stuck,
                                         std::max(0, stats.workers - stats.busy));
    };
    sources.serving_plugins = [this] {
      std::vector<HostMetrics::PluginInfo> serving;
      const auto generation = std::dynamic_pointer_cast<const PluginGeneration>(slot_.Current());
      if (!generation) return serving;
      const auto refused = session_->RefusedPlugins();
      for (const auto& plugin : generation->plugins()) {
        if (refused.count(plugin->name()) != 0) continue;
        serving.push_back(
            {plugin->name(), plugin->file_name(), plugin->version(), plugin->identity()->sha256});
      }
      return serving;
    };
    sources.plugin_states = [this] {
      HostMetrics::PluginStates states;
      const auto generation = std::dynamic_pointer_cast<const PluginGeneration>(slot_.Current());
      const auto refused = session_->RefusedPlugins();
      if (generation) {
        for (const auto& plugin : generation->plugins()) {
          ++(refused.count(plugin->name()) != 0 ? states.refused : states.serving);
        }
      }
      for (const PluginLedger::FileState& file : ledger_.NotServing()) {
        ++(file.quarantined ? states.quarantined : states.refused);
      }
      return states;
    };
    sources.membrane_up = [this] { return session_->Health().ready; };
    sources.membrane_reconnects = [this] {
      return session_->counters().reconnects.load(std::memory_order_relaxed);
    };
    sources.inline_runs = [this] { return dispatcher_->stats().inline_runs; };
    sources.polling_hand_offs = [this] { return grpc_queue_.hand_offs(); };
    metrics_.SetSources(std::move(sources));
    admin_context_.config = &config_;
    admin_context_.membrane_address = address;
    admin_context_.metrics = &metrics_;
    admin_context_.control = &queue_;
    admin_context_.slot = &slot_;
    admin_context_.session = session_.get();
    admin_context_.dispatcher = dispatcher_.get();
    admin_context_.ledger = &ledger_;
    admin_context_.stopping = &stopping_;
  }

  // The admin listener ([admin] listen, --admin); false when it cannot
  // listen (the host does not start: what it was asked to serve is missing).
  bool StartAdmin() {
    StatusOr<ListenAddress> listen = ParseListenAddress(config_.admin_listen);
    if (!listen.ok()) {  // main.cc checked it already
      spdlog::error("admin listener: {}", listen.status().message());
      return false;
    }
    AdminServer::Options options;
    options.host = listen->host;
    options.port = listen->port;
    StatusOr<std::unique_ptr<AdminServer>> started =
        AdminServer::Start(options, MakeAdminRoutes(&admin_context_));
    if (!started.ok()) {
      spdlog::error("{}", started.status().message());
      return false;
    }
    admin_ = std::move(started.value());
    if (!listen->loopback) {
      spdlog::warn("admin listener on {} is reachable from other machines ([admin] allow_remote)",
                   admin_->address());
    }
    spdlog::info(
        "admin listener on http://{} (GET /metrics /status /healthz /readyz; POST /reload {})",
        admin_->address(),
        config_.admin_allow_reload ? "allowed" : "off: [admin] allow_reload = false");
    return true;
  }

  // After each publish: what /status and the plugin metrics say.
  void RecordPublished(const GenerationReport& report, bool reload) {
    if (const auto generation = reload_->current()) {
      ledger_.Record(*generation, report, gate_->QuarantinedFiles());
      metrics_.SetGeneration(generation->number());
    }
    if (reload) metrics_.CountReload(ReloadResultName(report));
  }

  // Opens the state folder and installs the crash recorder before any plugin
  // code runs, then sets up the gate every new or changed plugin file passes
  // (quarantine, pre-flight). A state folder that cannot be opened costs the
  // quarantine, not the host: it still serves.
  void StartQuarantine() {
    std::error_code ec;
    std::filesystem::path dir = ResolveStateDir(cli_.state_dir, config_.state_dir);
    dir = std::filesystem::absolute(dir, ec);
    StatusOr<int> fd = OpenStateDir(dir);
    Status installed = fd.ok() ? InstallCrashRecorder(fd.value()) : fd.status();
    if (!installed.ok()) {
      spdlog::warn("{}: crash quarantine is off (a plugin that crashes the host is not recorded)",
                   installed.message());
      dir.clear();
    } else {
      spdlog::info("crash quarantine records in {}", dir.string());
    }
    if (!config_.preflight) {
      spdlog::info("pre-flight checks are off (host.preflight = false)");
    }
    gate_ = std::make_unique<HostPluginGate>(dir, config_.preflight, config_.preflight_timeout);
  }

  int Loop() {
    for (;;) {
      ControlEvent event = queue_.Wait();
      switch (event.kind) {
        case ControlEvent::kReady:
          OnReady();
          break;
        case ControlEvent::kReload: {
          spdlog::info("reload ({})", event.reason);
          NotifyReloading();
          step_.store("reloading the plugins");
          const GenerationReport report = reload_->Reload();
          RecordPublished(report, /*reload=*/true);
          step_.store("serving");
          if (event.on_reloaded) event.on_reloaded(report);
          NotifyReady();
          break;
        }
        case ControlEvent::kStop:
          spdlog::info("{}: stopping; running events finish first", event.reason);
          return Shutdown(0);
        case ControlEvent::kExit:
          spdlog::info("{}: exiting with code {}", event.reason, event.code);
          return Shutdown(event.code);
      }
    }
  }

  // Marks the current generation's plugins refused (or not) as the session
  // says (MembraneSession::RefusedPlugins). Called on the main thread after
  // each publish and on the session's supervisor when its verdict changes;
  // both read the session's latest verdict under refusal_mu_, so the last
  // call leaves the latest one applied.
  void ApplyRefusals() {
    std::lock_guard<std::mutex> lock(refusal_mu_);
    const auto generation = std::dynamic_pointer_cast<const PluginGeneration>(slot_.Current());
    if (!generation || !session_) return;
    const std::map<std::string, std::string> refused = session_->RefusedPlugins();
    for (const auto& plugin : generation->plugins()) {
      auto it = refused.find(plugin->name());
      plugin->SetRefused(it == refused.end() ? std::string() : it->second);
    }
  }

  void OnReady() {
    const auto generation = reload_->current();
    // This generation's sockets that have streams (not those only refused
    // plugins use; sockets of earlier generations keep theirs unmentioned).
    std::set<std::string> sockets;
    const std::set<std::string> served = session_->ServedSockets();
    for (const std::string& socket : generation->declarations().sockets) {
      if (served.count(socket) != 0) sockets.insert(socket);
    }
    const size_t refused = session_->RefusedPlugins().size();
    spdlog::info("ready: {} socket(s) registered ({} streams), generation {}{}", sockets.size(),
                 sockets.size() * 3, generation->number(),
                 refused == 0 ? std::string() : fmt::format("; {} plugin(s) refused", refused));
    if (dev_) {
      // The URLs are for the user: stdout, once per socket.
      for (const std::string& socket : sockets) {
        if (!printed_.insert(socket).second) continue;
        if (auto url = dev_->SocketUrl(socket)) {
          std::printf("websocket %s: %s\n", socket.c_str(), url->c_str());
        }
      }
      std::fflush(stdout);
    }
    if (!notified_ready_) {
      notified_ready_ = true;
      NotifyReady();
    }
  }

  int Shutdown(int code) {
    // Bounded like a signalled stop, when the host stops on its own too.
    signals_->StartStopDeadline();
    stopping_.store(true);  // /readyz answers 503 from now on
    NotifyStopping();
    watcher_.reset();
    session_->StopTakingEvents();
    step_.store("waiting for running handlers");
    dispatcher_->Drain();
    step_.store("closing the event streams");
    session_->Close(kCloseGrace);
    const Dispatcher::Stats stats = dispatcher_->stats();
    spdlog::info("{} event(s) handled, {} dropped while stopping", stats.handled, stats.dropped);
    if (stats.timed_out != 0) {
      spdlog::info("{} handler(s) ran past host.handler_timeout_ms, {} late result(s) dropped",
                   stats.timed_out, stats.late_results);
    }
    // Nothing reads the parts below once the admin listener is gone.
    if (admin_) admin_->Stop();
    // Plugins shut down here: nothing runs on them any more.
    step_.store("shutting the plugins down");
    slot_.Publish(nullptr);
    reload_.reset();
    session_.reset();
    {
      std::lock_guard<std::mutex> lock(stop_mu_);
      dispatcher_.reset();
    }
    if (dev_) dev_->Shutdown();
    spdlog::info("stopped");
    return code;
  }

  // On the signal thread when a stop ran out of time: what it waits for.
  void LogStillRunning() {
    spdlog::error("the host was {} when the deadline passed", step_.load());
    if (const std::string* file = PluginFileLoading()) {
      spdlog::error("plugin file {}: still loading; its init() has not returned", *file);
    }
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (!dispatcher_) return;
    for (const Dispatcher::RunningHandler& h : dispatcher_->Running()) {
      spdlog::error(
          "still running: handler of plugin {} for the {} event of connection {} on socket {}, "
          "for at least {} ms{}",
          h.plugin.empty() ? "?" : h.plugin, proto::EventTypeName(h.type), h.connection, h.socket,
          h.elapsed.count(), h.timed_out ? " (past host.handler_timeout_ms, answered)" : "");
    }
  }

  const HostConfig& config_;
  const CliOptions& cli_;
  // What the main thread is doing, for LogStillRunning().
  std::atomic<const char*> step_{"starting"};
  std::mutex refusal_mu_;  // serialises ApplyRefusals()
  std::mutex stop_mu_;     // guards dispatcher_ being created or destroyed vs LogStillRunning()
  std::optional<PidFile> pid_file_;  // removed last, when the host is gone
  // Outlives everything that counts into it (client, dispatcher, streams,
  // generations).
  HostMetrics metrics_{NITRIC_HOST_VERSION};
  PluginLedger ledger_;
  std::atomic<bool> stopping_{false};
  ControlQueue queue_;
  std::unique_ptr<DevChild> dev_;
  std::shared_ptr<grpc::Channel> channel_;
  // Every asynchronous call's completions (the event streams and pipelined
  // sends): one queue, so one thread polls the connection. Outlives the
  // session and the client.
  CompletionQueueThread grpc_queue_{"nitric-grpc"};
  std::unique_ptr<GrpcMembraneClient> client_;  // plugins hold it: outlives them
  GenerationSlot slot_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<MembraneSession> session_;
  std::unique_ptr<HostPluginGate> gate_;  // reload_ borrows it
  std::unique_ptr<ReloadController> reload_;
  std::unique_ptr<FolderWatcher> watcher_;
  std::unique_ptr<SignalWatcher> signals_;
  std::set<std::string> printed_;  // sockets whose URL was printed
  bool notified_ready_ = false;
  // The admin listener reads the parts above through admin_context_; it is
  // stopped in Shutdown() before they go, and destroyed first otherwise.
  AdminContext admin_context_;
  std::unique_ptr<AdminServer> admin_;
};

}  // namespace

int RunHost(const HostConfig& config, const CliOptions& cli) {
  HostApp app(config, cli);
  return app.Run();
}

}  // namespace nitric::host
