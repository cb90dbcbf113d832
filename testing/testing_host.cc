// nitric::testing::Host (nitric/testing.hpp): the host's plugin loader
// (host/plugins), dispatcher (host/dispatch) and config parser
// (host/config), wired to the in-memory membrane (memory_membrane.h) instead
// of gRPC.
//
// Why the real dispatcher and not a call to the handler chain on the test's
// thread: handlers then run where they run in production (on pool threads,
// so the event handle's thread check, the per-thread error text and
// thread-unsafe plugin state behave as deployed), events of one connection
// are ordered by the same code when a test sends from several threads, and
// a handler that hangs is answered at host.handler_timeout_ms instead of
// hanging the test. The test's call waits for the event's answer, which the
// dispatcher queues only after the chain and its pipelined sends completed.
#include <nitric/testing.hpp>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <system_error>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include "host/config/config.h"
#include "host/dispatch/dispatcher.h"
#include "host/plugins/plugin_generation.h"
#include "host/plugins/plugin_instance.h"
#include "host/plugins/sha256.h"
#include "host/plugins/staging_area.h"
#include "testing/memory_membrane.h"

namespace nitric::testing {

namespace fs = std::filesystem;
namespace wsproto = ::nitric::proto::websockets::v1;
using host::Status;

namespace {

// The logger the loader logs its own lines to; plugins log through clones
// named after themselves. '.' cannot be in a plugin name, so neither name
// can be a plugin's.
constexpr const char* kHostLoggerName = "nitric.host";
constexpr const char* kTestingLoggerName = "nitric.testing";

// Keeps every line except the loader's own, for Logs().
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (msg.logger_name == kHostLoggerName) return;
    const auto level = spdlog::level::to_string_view(msg.level);
    lines_.push_back(fmt::format("[{}] [{}] {}",
                                 std::string_view(msg.logger_name.data(), msg.logger_name.size()),
                                 std::string_view(level.data(), level.size()),
                                 std::string_view(msg.payload.data(), msg.payload.size())));
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

// One event the test is waiting for.
struct Call {
  std::mutex mu;
  std::condition_variable answered_cv;
  bool answered = false;
  bool reject = false;
  bool has_status = false;  // the chain ran to its end (not answered at a timeout)
  nitric_status status = NITRIC_OK;
  const wsproto::WebsocketEventRequest* request = nullptr;  // while queued or running
};

// Where the answers and the chains' outcomes meet: a chain's outcome is
// recorded against its request (the dispatcher hands the generation the
// request inside its pooled Event, whose address is stable until the
// answer), the answer against the call.
class Calls {
 public:
  void Add(const std::shared_ptr<Call>& call) {
    std::lock_guard<std::mutex> lock(mu_);
    by_request_[call->request] = call;
  }
  // From the generation, on the worker, before the answer.
  void Outcome(const wsproto::WebsocketEventRequest* request, nitric_status status) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_request_.find(request);
    if (it == by_request_.end()) return;  // answered at the timeout already
    std::lock_guard<std::mutex> call_lock(it->second->mu);
    it->second->has_status = true;
    it->second->status = status;
  }
  // From the replier: the event's answer (the worker's, or the watch's at
  // the handler timeout).
  void Answer(const std::shared_ptr<Call>& call, bool reject) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = by_request_.find(call->request);
      if (it != by_request_.end() && it->second == call) by_request_.erase(it);
    }
    std::lock_guard<std::mutex> call_lock(call->mu);
    call->answered = true;
    call->reject = reject;
    call->answered_cv.notify_all();
  }

 private:
  std::mutex mu_;
  std::unordered_map<const wsproto::WebsocketEventRequest*, std::shared_ptr<Call>> by_request_;
};

// The stream an event's answer goes to: here, the waiting test call.
class CallReplier final : public host::EventReplier {
 public:
  CallReplier(Calls* calls, std::shared_ptr<Call> call) : calls_(calls), call_(std::move(call)) {}
  void Reply(std::string /*id*/, bool reject) override { calls_->Answer(call_, reject); }

 private:
  Calls* const calls_;
  const std::shared_ptr<Call> call_;
};

// What the dispatcher runs: a plugin generation, reporting each chain's
// outcome to the waiting call.
class ObservedGeneration final : public host::Generation {
 public:
  ObservedGeneration(std::shared_ptr<const host::PluginGeneration> inner, Calls* calls)
      : inner_(std::move(inner)), calls_(calls) {}

  host::HandleResult Handle(wsproto::WebsocketEventType type,
                            const wsproto::WebsocketEventRequest& request) const override {
    const host::PluginGeneration::Outcome outcome = inner_->HandleWithOutcome(type, request);
    calls_->Outcome(&request, outcome.status);
    return host::PluginGeneration::ResultOf(outcome);
  }
  const host::Declarations& declarations() const override { return inner_->declarations(); }
  uint64_t number() const override { return inner_->number(); }

  const host::PluginGeneration& inner() const { return *inner_; }

 private:
  const std::shared_ptr<const host::PluginGeneration> inner_;
  Calls* const calls_;
};

std::string ReadWhole(const fs::path& file, std::string* bytes) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return fmt::format("cannot read plugin file {}: {}", file.string(),
                       std::error_code(errno, std::generic_category()).message());
  }
  bytes->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return fmt::format("cannot read plugin file {}", file.string());
  return {};
}

}  // namespace

struct Host::Impl {
  explicit Impl(std::string_view toml_text);
  ~Impl();

  LoadedPlugin Load(const fs::path& file, bool replace);
  // The event's answer: reject, and the chain's status.
  std::pair<bool, nitric_status> Deliver(const char* what, wsproto::WebsocketEventType type,
                                         wsproto::WebsocketEventRequest request);
  std::shared_ptr<const ObservedGeneration> Current() const {
    return std::static_pointer_cast<const ObservedGeneration>(slot.Current());
  }

  std::string config_error;  // non-empty: every Load fails with it
  host::HostConfig config;
  std::shared_ptr<CaptureSink> sink = std::make_shared<CaptureSink>();
  std::shared_ptr<spdlog::logger> host_logger;
  std::shared_ptr<spdlog::logger> testing_logger;
  std::unique_ptr<MemoryMembrane> membrane;  // outlives every generation
  std::shared_ptr<host::StagingArea> staging;
  std::string staging_error;
  Calls calls;
  host::GenerationSlot slot;
  std::unique_ptr<host::Dispatcher> dispatcher;

  std::mutex load_mu;  // one Load/Reload at a time
  uint64_t generation_number = 0;
  std::mutex event_mu;
  uint64_t next_event_id = 0;
};

Host::Impl::Impl(std::string_view toml_text) {
  host::ConfigResult parsed = host::ParseConfig(toml_text, "testing-config.toml");
  if (!parsed.status.ok()) {
    config_error = parsed.status.message();
  } else if (!parsed.warnings.empty()) {
    // A fixture is exact: what the host would only warn about fails here.
    config_error = parsed.warnings.front();
  }
  config = std::move(parsed.config);

  host_logger = std::make_shared<spdlog::logger>(kHostLoggerName, sink);
  host_logger->set_level(spdlog::level::trace);
  testing_logger = std::make_shared<spdlog::logger>(kTestingLoggerName, sink);
  membrane = std::make_unique<MemoryMembrane>(config.pipelined_sends);

  auto created = host::StagingArea::Create();
  if (created.ok()) {
    staging = std::move(created.value());
  } else {
    staging_error = created.status().message();
  }

  host::Dispatcher::Options options;
  options.workers = config.workers;
  options.max_workers = config.max_workers;
  options.handler_timeout = config.handler_timeout;
  options.max_queued_per_connection =
      static_cast<size_t>(std::max(0, config.max_queued_events_per_connection));
  MemoryMembrane* client = membrane.get();
  dispatcher = std::make_unique<host::Dispatcher>(
      options, &slot, [client](const std::string& socket, const std::string& connection) {
        (void)client->Close(socket, connection);
      });
}

Host::Impl::~Impl() {
  // As the host stops: no event is running once the dispatcher is gone;
  // then the last generation goes, and with it every plugin (shutdown,
  // dlclose) while the membrane and the loggers they may use still exist.
  dispatcher.reset();
  slot.Publish(nullptr);
}

LoadedPlugin Host::Impl::Load(const fs::path& file, bool replace) {
  std::lock_guard<std::mutex> lock(load_mu);
  const char* op = replace ? "Reload" : "Load";
  if (!config_error.empty()) {
    return LoadedPlugin::Failed(fmt::format("{}({}): the testing host's config is not valid: {}",
                                            op, file.string(), config_error));
  }
  if (staging == nullptr) {
    return LoadedPlugin::Failed(fmt::format("{}({}): no staging folder for plugin files: {}", op,
                                            file.string(), staging_error));
  }
  host::PluginFile plugin_file;
  plugin_file.path = file;
  if (std::string error = ReadWhole(file, &plugin_file.bytes); !error.empty()) {
    return LoadedPlugin::Failed(std::move(error));
  }
  plugin_file.hash = host::ContentHash(plugin_file.bytes);
  plugin_file.sha256 = host::Sha256Hex(plugin_file.bytes);

  host::PluginLoadContext ctx;
  ctx.configs = &config.plugins;
  ctx.membrane = membrane.get();
  ctx.logger = host_logger;
  ctx.staging = staging;
  auto loaded = host::PluginInstance::Load(plugin_file, ctx);
  if (!loaded.ok()) return LoadedPlugin::Failed(loaded.status().message());
  std::shared_ptr<host::PluginInstance> fresh = std::move(loaded.value());

  std::vector<std::shared_ptr<host::PluginInstance>> plugins;
  if (auto current = Current()) plugins = current->inner().plugins();
  auto same_name = std::find_if(plugins.begin(), plugins.end(),
                                [&](const auto& p) { return p->name() == fresh->name(); });
  if (replace) {
    if (same_name == plugins.end()) {
      return LoadedPlugin::Failed(
          fmt::format("Reload({}): no loaded plugin is named '{}' (the name {} gives itself): "
                      "Load it first",
                      file.string(), fresh->name(), plugin_file.path.filename().string()));
    }
    // After the old version's last event: export_state -> import_state.
    (*same_name)->HandStateTo(fresh);
    *same_name = fresh;
  } else {
    if (same_name != plugins.end()) {
      return LoadedPlugin::Failed(fmt::format(
          "plugin {} is named '{}' like the loaded {}: give it another name, or Reload it to "
          "replace that one",
          plugin_file.path.filename().string(), fresh->name(), (*same_name)->file_name()));
    }
    // The host chains plugins in the file name order of its folder.
    auto at = std::upper_bound(
        plugins.begin(), plugins.end(), fresh,
        [](const auto& a, const auto& b) { return a->file_name() < b->file_name(); });
    plugins.insert(at, fresh);
  }
  auto generation =
      std::make_shared<host::PluginGeneration>(++generation_number, std::move(plugins), staging);
  // The previous generation goes when its last event finished: here, unless
  // an event is running on it now.
  slot.Publish(std::make_shared<ObservedGeneration>(std::move(generation), &calls));
  return LoadedPlugin::Loaded(fresh->name());
}

std::pair<bool, nitric_status> Host::Impl::Deliver(const char* what,
                                                   wsproto::WebsocketEventType type,
                                                   wsproto::WebsocketEventRequest request) {
  // The membrane delivers events only for sockets some plugin declared.
  auto current = Current();
  if (current == nullptr || current->declarations().sockets.count(request.socket_name()) == 0) {
    testing_logger->error(
        "{}(\"{}\", \"{}\"): no loaded plugin declared websocket '{}', so the membrane would "
        "never deliver this event",
        what, request.socket_name(), request.connection_id(), request.socket_name());
    return {true, NITRIC_ERR_NOT_FOUND};
  }
  auto call = std::make_shared<Call>();
  host::Event* event = dispatcher->NewEvent();
  event->message.Clear();
  {
    std::lock_guard<std::mutex> lock(event_mu);
    event->message.set_id(std::to_string(++next_event_id));
  }
  *event->message.mutable_websocket_event_request() = std::move(request);
  event->type = type;
  event->reply_to = std::make_shared<CallReplier>(&calls, call);
  call->request = &event->message.websocket_event_request();
  calls.Add(call);
  if (host::Event* spare = dispatcher->Submit(event)) dispatcher->Recycle(spare);

  std::unique_lock<std::mutex> lock(call->mu);
  call->answered_cv.wait(lock, [&] { return call->answered; });
  // Answered without the chain's end: the host's answer at the handler
  // timeout (its warning says which plugin).
  const nitric_status status = call->has_status ? call->status : NITRIC_ERR_INTERNAL;
  return {call->reject, status};
}

// ---- Host ----

Host::Host() : Host(std::string_view()) {}
Host::Host(std::string_view toml_text) : impl_(std::make_unique<Impl>(toml_text)) {}
Host::~Host() = default;

LoadedPlugin Host::Load(const fs::path& file) { return impl_->Load(file, false); }
LoadedPlugin Host::Reload(const fs::path& file) { return impl_->Load(file, true); }

bool Host::Connect(std::string_view socket, std::string_view connection_id, const Query& query) {
  wsproto::WebsocketEventRequest request;
  request.set_socket_name(std::string(socket));
  request.set_connection_id(std::string(connection_id));
  auto* params = request.mutable_connection()->mutable_query_params();
  for (const auto& [key, values] : query) {
    auto& entry = (*params)[key];
    for (const std::string& value : values) entry.add_value(value);
  }
  return !impl_->Deliver("Connect", wsproto::Connect, std::move(request)).first;
}

nitric_status Host::Message(std::string_view socket, std::string_view connection_id,
                            std::string_view data) {
  wsproto::WebsocketEventRequest request;
  request.set_socket_name(std::string(socket));
  request.set_connection_id(std::string(connection_id));
  request.mutable_message()->set_body(std::string(data));
  return impl_->Deliver("Message", wsproto::Message, std::move(request)).second;
}

nitric_status Host::Disconnect(std::string_view socket, std::string_view connection_id) {
  wsproto::WebsocketEventRequest request;
  request.set_socket_name(std::string(socket));
  request.set_connection_id(std::string(connection_id));
  request.mutable_disconnection();
  return impl_->Deliver("Disconnect", wsproto::Disconnect, std::move(request)).second;
}

std::vector<std::string> Host::Sent(std::string_view socket, std::string_view connection_id) const {
  return impl_->membrane->SentTo(socket, connection_id);
}

bool Host::Closed(std::string_view socket, std::string_view connection_id) const {
  return impl_->membrane->Closed(socket, connection_id);
}

std::optional<std::string> Host::KvGet(std::string_view store, std::string_view key) const {
  std::string json;
  if (!impl_->membrane->Get(store, key, &json)) return std::nullopt;
  return json;
}

bool Host::KvSet(std::string_view store, std::string_view key, std::string_view json) {
  return impl_->membrane->Set(store, key, json).ok();
}

void Host::KvDelete(std::string_view store, std::string_view key) {
  impl_->membrane->Delete(store, key);
}

std::vector<std::string> Host::KvKeys(std::string_view store, std::string_view prefix) const {
  return impl_->membrane->Keys(store, prefix);
}

void Host::FailSendsTo(std::string_view socket, std::string_view connection_id,
                       nitric_status status) {
  impl_->membrane->FailSendsTo(socket, connection_id, status);
}

void Host::SetMembraneDown(bool down) { impl_->membrane->SetDown(down); }

std::vector<std::string> Host::Logs() const { return impl_->sink->lines(); }

}  // namespace nitric::testing
