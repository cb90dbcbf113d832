// The admin endpoints over the running host's parts (docs/ARCHITECTURE.md#admin;
// the listener itself is host/admin/admin_server.h):
//   GET  /metrics   the Prometheus exposition (host/base/host_metrics.h)
//   GET  /status    JSON: plugins, sockets and their handler chains, stores,
//                   membrane, workers, uptime
//   GET  /healthz   200 while the process serves requests at all
//   GET  /readyz    200 when every declared socket's streams are registered,
//                   else 503 with the reason (probes, load balancers)
//   POST /reload    the same as SIGHUP, answered with the generation's report
//                   as JSON once it is published; 403 unless
//                   [admin] allow_reload = true
// Also what /status and the plugin metrics need to remember between reloads
// (PluginLedger).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "host/admin/admin_server.h"
#include "host/app/control.h"
#include "host/base/host_metrics.h"
#include "host/config/config.h"
#include "host/dispatch/dispatcher.h"
#include "host/membrane/session.h"
#include "host/plugins/generation_loader.h"

namespace nitric::host {

// What the loads and reloads so far said, for /status and the plugin metrics.
// Thread-safe.
class PluginLedger {
 public:
  // After each publish (the first load too): the generation published, its
  // report, and the files the crash quarantine refused in it.
  void Record(const PluginGeneration& generation, const GenerationReport& report,
              const std::set<std::string>& quarantined_files);

  struct Loaded {
    std::chrono::system_clock::time_point at;
    uint64_t generation = 0;  // the generation that loaded this version
  };
  // When this version was loaded; zero values for one never recorded.
  Loaded LoadedInfo(const PluginInstance* plugin) const;

  // Files of the folder with no version of their current content serving
  // (refused, or kept the old version), as the latest listing of the folder
  // said.
  struct FileState {
    std::string file;
    std::string plugin;  // the old version's, for kKeptOld
    PluginOutcome outcome = PluginOutcome::kRefused;
    std::string reason;
    bool quarantined = false;
  };
  std::vector<FileState> NotServing() const;

 private:
  mutable std::mutex mu_;
  // Only compared, never followed; pruned to the current generation's.
  std::map<const PluginInstance*, Loaded> loaded_;
  std::vector<FileState> files_;
};

// "ok" (every file loaded), "partial" (some failed, others were applied) or
// "failed" (the folder could not be read, or no change could be applied):
// the result label of nitric_host_reloads_total.
const char* ReloadResultName(const GenerationReport& report);
// The report as the JSON POST /reload answers.
std::string ReloadReportJson(const GenerationReport& report);

// Everything the endpoints read. Set up by HostApp; every pointer must
// outlive the admin server.
struct AdminContext {
  const HostConfig* config = nullptr;
  std::string membrane_address;
  HostMetrics* metrics = nullptr;
  ControlQueue* control = nullptr;
  const GenerationSlot* slot = nullptr;
  MembraneSession* session = nullptr;
  Dispatcher* dispatcher = nullptr;
  const PluginLedger* ledger = nullptr;
  std::chrono::system_clock::time_point started_at = std::chrono::system_clock::now();
  // Set when the host begins to stop: /readyz says so.
  const std::atomic<bool>* stopping = nullptr;
};

std::vector<AdminRoute> MakeAdminRoutes(const AdminContext* context);

// The bodies, for the routes and tests.
std::string StatusJson(const AdminContext& context);
// 200 and "ready ..." or 503 and why not.
AdminResponse Readiness(const AdminContext& context);

}  // namespace nitric::host
