#include "host/app/admin_routes.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include "host/plugins/plugin_generation.h"

namespace nitric::host {

namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

// RFC 3339 in UTC, to the second: "2026-12-02T12:10:00Z". Empty for the
// epoch (never set).
std::string Rfc3339(std::chrono::system_clock::time_point at) {
  if (at.time_since_epoch().count() == 0) return {};
  const time_t t = std::chrono::system_clock::to_time_t(at);
  struct tm utc;
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

Value Str(std::string_view text) {
  Value v;
  v.set_string_value(std::string(text));
  return v;
}
Value Num(double number) {
  Value v;
  v.set_number_value(number);
  return v;
}
Value Bool(bool b) {
  Value v;
  v.set_bool_value(b);
  return v;
}
Value Obj(Struct s) {
  Value v;
  *v.mutable_struct_value() = std::move(s);
  return v;
}
Value List(ListValue l) {
  Value v;
  *v.mutable_list_value() = std::move(l);
  return v;
}
Value Strings(const std::vector<std::string>& items) {
  ListValue list;
  for (const std::string& item : items) *list.add_values() = Str(item);
  return List(std::move(list));
}

std::string ToJson(const Struct& s) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(s, &out, options).ok()) {
    return "{\"error\": \"could not write JSON\"}\n";
  }
  return out;
}

std::string JsonError(std::string_view message) {
  Struct s;
  (*s.mutable_fields())["error"] = Str(message);
  return ToJson(s);
}

std::shared_ptr<const PluginGeneration> Current(const AdminContext& c) {
  return std::dynamic_pointer_cast<const PluginGeneration>(c.slot->Current());
}

Struct PluginsAndSockets(const AdminContext& c, Struct root) {
  const auto generation = Current(c);
  const std::map<std::string, std::string> refused =
      c.session != nullptr ? c.session->RefusedPlugins() : std::map<std::string, std::string>{};
  (*root.mutable_fields())["generation"] = Num(generation ? double(generation->number()) : 0.0);

  ListValue plugins;
  if (generation) {
    for (const auto& plugin : generation->plugins()) {
      Struct p;
      auto& f = *p.mutable_fields();
      f["name"] = Str(plugin->name());
      f["file"] = Str(plugin->file_name());
      f["version"] = Str(plugin->version());
      f["sha256"] = Str(plugin->identity()->sha256);
      auto it = refused.find(plugin->name());
      f["state"] = Str(it == refused.end() ? "serving" : "refused");
      if (it != refused.end()) f["reason"] = Str(it->second);
      const PluginLedger::Loaded loaded = c.ledger->LoadedInfo(plugin.get());
      f["loaded_at"] = Str(Rfc3339(loaded.at));
      f["generation"] = Num(static_cast<double>(loaded.generation));
      *plugins.add_values() = Obj(std::move(p));
    }
  }
  for (const PluginLedger::FileState& file : c.ledger->NotServing()) {
    Struct p;
    auto& f = *p.mutable_fields();
    f["file"] = Str(file.file);
    f["state"] = Str(file.quarantined ? "quarantined" : "refused");
    f["outcome"] = Str(OutcomeName(file.outcome));
    f["reason"] = Str(file.reason);
    if (!file.plugin.empty()) f["name"] = Str(file.plugin);
    *plugins.add_values() = Obj(std::move(p));
  }
  (*root.mutable_fields())["plugins"] = List(std::move(plugins));

  // Sockets: the handler chain per event type, in plugin load order (the
  // order the chain runs in).
  ListValue sockets;
  ListValue stores;
  if (generation) {
    const Declarations& declared = generation->declarations();
    const std::set<std::string> served =
        c.session != nullptr ? c.session->ServedSockets() : std::set<std::string>{};
    for (const std::string& socket : declared.sockets) {
      Struct s;
      auto& f = *s.mutable_fields();
      f["name"] = Str(socket);
      f["served"] = Bool(served.count(socket) != 0);
      Struct handlers;
      for (nitric_event_type type :
           {NITRIC_EVENT_CONNECT, NITRIC_EVENT_DISCONNECT, NITRIC_EVENT_MESSAGE}) {
        std::vector<std::string> chain;
        for (const auto& plugin : generation->plugins()) {
          for (const HandlerRegistration& r : plugin->handlers()) {
            if (r.socket == socket && r.type == type) chain.push_back(plugin->name());
          }
        }
        (*handlers.mutable_fields())[nitric_event_type_name(type)] = Strings(chain);
      }
      f["handlers"] = Obj(std::move(handlers));
      auto users = declared.socket_users.find(socket);
      f["plugins"] =
          Strings(users == declared.socket_users.end()
                      ? std::vector<std::string>{}
                      : std::vector<std::string>(users->second.begin(), users->second.end()));
      *sockets.add_values() = Obj(std::move(s));
    }
    for (const auto& [store, permissions] : declared.stores) {
      Struct s;
      auto& f = *s.mutable_fields();
      f["name"] = Str(store);
      std::vector<std::string> allowed;
      for (uint32_t bit : {NITRIC_KV_GET, NITRIC_KV_SET, NITRIC_KV_DELETE}) {
        if ((permissions & bit) != 0) allowed.push_back(nitric_kv_permission_name(bit));
      }
      f["permissions"] = Strings(allowed);
      auto users = declared.store_users.find(store);
      f["plugins"] =
          Strings(users == declared.store_users.end()
                      ? std::vector<std::string>{}
                      : std::vector<std::string>(users->second.begin(), users->second.end()));
      *stores.add_values() = Obj(std::move(s));
    }
  }
  (*root.mutable_fields())["sockets"] = List(std::move(sockets));
  (*root.mutable_fields())["stores"] = List(std::move(stores));
  return root;
}

Value MembraneJson(const AdminContext& c) {
  Struct m;
  auto& f = *m.mutable_fields();
  f["address"] = Str(c.membrane_address);
  if (c.session == nullptr) {
    f["state"] = Str("starting");
    return Obj(std::move(m));
  }
  const MembraneHealth health = c.session->Health();
  f["state"] = Str(health.state);
  f["ready"] = Bool(health.ready);
  f["since"] = Str(Rfc3339(health.since));
  f["last_error"] = Str(health.last_error);
  f["last_error_at"] = Str(Rfc3339(health.last_error_at));
  f["missing_streams"] = Strings(health.missing);
  f["reconnects"] = Num(static_cast<double>(health.reconnects));
  Struct refused;
  for (const auto& [plugin, reason] : c.session->RefusedPlugins()) {
    (*refused.mutable_fields())[plugin] = Str(reason);
  }
  f["refused_plugins"] = Obj(std::move(refused));
  return Obj(std::move(m));
}

Value WorkersJson(const AdminContext& c) {
  Struct w;
  auto& f = *w.mutable_fields();
  f["base"] = Num(c.config->workers);
  f["max"] = Num(std::max(c.config->workers, c.config->max_workers));
  if (c.dispatcher != nullptr) {
    const Dispatcher::Stats stats = c.dispatcher->stats();
    f["busy"] = Num(stats.busy + stats.stuck);
    f["idle"] = Num(std::max(0, stats.workers - stats.busy));
    f["stuck"] = Num(stats.stuck);
    f["events_in_flight"] = Num(static_cast<double>(stats.queued));
    f["events_handled"] = Num(static_cast<double>(stats.handled));
    f["handler_timeouts"] = Num(static_cast<double>(stats.timed_out));
  }
  return Obj(std::move(w));
}

// Why POST /reload is refused, or nullopt to go ahead.
std::optional<AdminResponse> ReloadRefusal(const AdminContext& c) {
  if (!c.config->admin_allow_reload) {
    return AdminResponse::Json(
        403, JsonError("reloading over HTTP is off: set [admin] allow_reload = true in the "
                       "config file to allow POST /reload (or send SIGHUP: nitric-host reload)"));
  }
  if (c.stopping != nullptr && c.stopping->load()) {
    return AdminResponse::Json(503, JsonError("the host is stopping"));
  }
  return std::nullopt;
}

}  // namespace

void PluginLedger::Record(const PluginGeneration& generation, const GenerationReport& report,
                          const std::set<std::string>& quarantined_files) {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::system_clock::now();
  std::map<const PluginInstance*, Loaded> loaded;
  for (const auto& plugin : generation.plugins()) {
    auto it = loaded_.find(plugin.get());
    loaded[plugin.get()] = it != loaded_.end() ? it->second : Loaded{now, generation.number()};
  }
  loaded_ = std::move(loaded);
  if (!report.folder_error.empty()) return;  // the folder was not listed: keep what we knew
  files_.clear();
  for (const PluginReport& r : report.plugins) {
    if (r.outcome != PluginOutcome::kRefused && r.outcome != PluginOutcome::kKeptOld) continue;
    files_.push_back(
        FileState{r.file, r.plugin, r.outcome, r.reason, quarantined_files.count(r.file) != 0});
  }
}

PluginLedger::Loaded PluginLedger::LoadedInfo(const PluginInstance* plugin) const {
  std::lock_guard lock(mu_);
  auto it = loaded_.find(plugin);
  return it != loaded_.end() ? it->second : Loaded{};
}

std::vector<PluginLedger::FileState> PluginLedger::NotServing() const {
  std::lock_guard lock(mu_);
  return files_;
}

const char* ReloadResultName(const GenerationReport& report) {
  if (!report.folder_error.empty()) return "failed";
  if (report.failures == 0) return "ok";
  for (const PluginReport& r : report.plugins) {
    if (r.outcome == PluginOutcome::kLoaded || r.outcome == PluginOutcome::kReplaced ||
        r.outcome == PluginOutcome::kRemoved) {
      return "partial";
    }
  }
  return "failed";
}

std::string ReloadReportJson(const GenerationReport& report) {
  Struct root;
  auto& f = *root.mutable_fields();
  f["generation"] = Num(static_cast<double>(report.number));
  f["result"] = Str(ReloadResultName(report));
  f["changed"] = Bool(report.changed);
  f["failures"] = Num(static_cast<double>(report.failures));
  f["elapsed_ms"] = Num(static_cast<double>(report.elapsed.count()) / 1000.0);
  if (!report.folder_error.empty()) f["folder_error"] = Str(report.folder_error);
  ListValue plugins;
  for (const PluginReport& r : report.plugins) {
    Struct p;
    auto& pf = *p.mutable_fields();
    pf["file"] = Str(r.file);
    pf["plugin"] = Str(r.plugin);
    pf["outcome"] = Str(OutcomeName(r.outcome));
    if (!r.reason.empty()) pf["reason"] = Str(r.reason);
    *plugins.add_values() = Obj(std::move(p));
  }
  f["plugins"] = List(std::move(plugins));
  return ToJson(root);
}

std::string StatusJson(const AdminContext& c) {
  Struct root;
  auto& f = *root.mutable_fields();
  f["version"] = Str(NITRIC_HOST_VERSION);
  f["abi"] = Str(std::to_string(NITRIC_ABI_MAJOR) + "." + std::to_string(NITRIC_ABI_MINOR));
  f["pid"] = Num(static_cast<double>(getpid()));
  f["started_at"] = Str(Rfc3339(c.started_at));
  f["uptime_seconds"] =
      Num(std::chrono::duration<double>(std::chrono::system_clock::now() - c.started_at).count());
  root = PluginsAndSockets(c, std::move(root));
  (*root.mutable_fields())["membrane"] = MembraneJson(c);
  (*root.mutable_fields())["workers"] = WorkersJson(c);
  return ToJson(root);
}

AdminResponse Readiness(const AdminContext& c) {
  if (c.stopping != nullptr && c.stopping->load()) {
    return AdminResponse::Text(503, "not ready: the host is stopping\n");
  }
  if (c.session == nullptr) return AdminResponse::Text(503, "not ready: starting\n");
  const MembraneHealth health = c.session->Health();
  if (health.ready) {
    return AdminResponse::Text(200, "ready: " + std::to_string(health.served_sockets) +
                                        " socket(s) registered with the membrane at " +
                                        c.membrane_address + "\n");
  }
  std::string why;
  if (health.served_sockets == 0 && health.missing.empty()) {
    why = "no plugin serves a socket yet";
  } else {
    why = "membrane at " + c.membrane_address + " is " + health.state;
    if (health.since.time_since_epoch().count() != 0) why += " since " + Rfc3339(health.since);
    if (!health.missing.empty()) {
      why += "; streams not registered:";
      for (const std::string& stream : health.missing) why += " " + stream;
    }
    if (!health.last_error.empty()) why += "; last error: " + health.last_error;
  }
  return AdminResponse::Text(503, "not ready: " + why + "\n");
}

std::vector<AdminRoute> MakeAdminRoutes(const AdminContext* context) {
  const AdminContext* c = context;
  std::vector<AdminRoute> routes;
  routes.push_back({"GET", "/metrics", [c](const AdminRequest&, AdminRespond respond) {
                      AdminResponse response = AdminResponse::Text(200, c->metrics->Expose());
                      response.content_type = std::string(metrics::kContentType);
                      respond(std::move(response));
                    }});
  routes.push_back({"GET", "/status", [c](const AdminRequest&, AdminRespond respond) {
                      respond(AdminResponse::Json(200, StatusJson(*c)));
                    }});
  routes.push_back({"GET", "/healthz", [](const AdminRequest&, AdminRespond respond) {
                      respond(AdminResponse::Text(200, "ok\n"));
                    }});
  routes.push_back({"GET", "/readyz",
                    [c](const AdminRequest&, AdminRespond respond) { respond(Readiness(*c)); }});
  routes.push_back(
      {"POST", "/reload", [c](const AdminRequest& request, AdminRespond respond) {
         if (std::optional<AdminResponse> refusal = ReloadRefusal(*c)) {
           respond(std::move(*refusal));
           return;
         }
         spdlog::info("admin listener: reload requested by {}", request.peer);
         ControlEvent event{ControlEvent::kReload, 0, "POST /reload from " + request.peer};
         event.on_reloaded = [respond](const GenerationReport& report) {
           respond(AdminResponse::Json(200, ReloadReportJson(report)));
         };
         c->control->Post(std::move(event));
       }});
  return routes;
}

}  // namespace nitric::host
