#include "host/membrane/session.h"

#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "host/membrane/declare.h"
#include "nitric/proto/event_type.h"

namespace nitric::host {

namespace {

constexpr wsproto::WebsocketEventType kEventTypes[] = {wsproto::Connect, wsproto::Disconnect,
                                                       wsproto::Message};

std::string Describe(const grpc::Status& status) {
  return std::to_string(static_cast<int>(status.error_code())) + " " + status.error_message();
}

std::string StreamName(const std::string& socket, wsproto::WebsocketEventType type) {
  return socket + "/" + proto::EventTypeName(type);
}

const char* StateName(SessionMachine::State state) {
  switch (state) {
    case SessionMachine::State::kIdle:
      return "idle";
    case SessionMachine::State::kConnecting:
      return "connecting";
    case SessionMachine::State::kBackoff:
      return "backoff";
    case SessionMachine::State::kReady:
      return "ready";
    case SessionMachine::State::kBuildRegistered:
      return "build-registered";
    case SessionMachine::State::kExited:
      return "exited";
    case SessionMachine::State::kStopped:
      return "stopped";
    case SessionMachine::State::kClosed:
      return "closed";
  }
  return "unknown";
}

}  // namespace

MembraneSession::MembraneSession(std::shared_ptr<grpc::Channel> channel, Dispatcher* dispatcher,
                                 CompletionQueueThread* queue, SessionOptions options,
                                 ReadyCallback on_ready, ExitCallback on_exit)
    : options_(std::move(options)),
      dispatcher_(dispatcher),
      queue_(queue),
      on_ready_(std::move(on_ready)),
      on_exit_(std::move(on_exit)),
      resources_(proto::resources::v1::Resources::NewStub(channel)),
      handle_events_(channel),
      machine_(options_.build_mode, options_.backoff_initial, options_.backoff_max,
               options_.log_interval) {
  supervisor_ = std::thread([this] { Supervise(); });
}

MembraneSession::~MembraneSession() { Close(std::chrono::milliseconds(0)); }

void MembraneSession::Want(const Declarations& declarations) {
  MutexLock lock(&mu_);
  Declarations merged = wanted_;
  merged.Merge(declarations);
  // Resources only accumulate (streams outlive reloads), but who uses them is
  // what the latest generation says: a plugin that is gone refuses nothing.
  merged.socket_users = declarations.socket_users;
  merged.store_users = declarations.store_users;
  bool changed = !(merged == wanted_);
  if (changed) wanted_ = std::move(merged);
  if (!refused_sockets_.empty() || !refused_stores_.empty()) {
    // Each reload retries what the membrane refused (the user may have fixed
    // it). The refused plugins stay refused until the membrane says yes.
    declared_ = Declarations{};
    changed = true;
  }
  machine_.Want(changed);
  NoteStateLocked();
  cv_.notify_all();
}

MembraneHealth MembraneSession::Health() const {
  MembraneHealth health;
  health.reconnects = counters_.reconnects.load(std::memory_order_relaxed);
  MutexLock lock(&mu_);
  health.ready = machine_.ready();
  health.state = StateName(machine_.state());
  health.since = state_since_;
  health.last_error = last_error_;
  health.last_error_at = last_error_at_;
  const std::set<std::string> served = ServedSocketsLocked();
  health.served_sockets = served.size();
  for (const std::string& socket : served) {
    for (wsproto::WebsocketEventType type : kEventTypes) {
      auto it = streams_.find(StreamKey(socket, type));
      if (it == streams_.end() || !it->second.registered) {
        health.missing.push_back(StreamName(socket, type));
      }
    }
  }
  return health;
}

void MembraneSession::NoteStateLocked() {
  if (machine_.state() == noted_state_) return;
  noted_state_ = machine_.state();
  state_since_ = std::chrono::system_clock::now();
}

void MembraneSession::NoteErrorLocked(std::string error) {
  last_error_ = std::move(error);
  last_error_at_ = std::chrono::system_clock::now();
}

std::map<std::string, std::string> MembraneSession::RefusedPlugins() const {
  MutexLock lock(&mu_);
  return refused_plugins_;
}

std::set<std::string> MembraneSession::ServedSockets() const {
  MutexLock lock(&mu_);
  return ServedSocketsLocked();
}

std::set<std::string> MembraneSession::ServedSocketsLocked() const {
  std::set<std::string> served;
  for (const std::string& socket : wanted_.sockets) {
    if (refused_sockets_.count(socket) != 0) continue;
    auto users = wanted_.socket_users.find(socket);
    bool used = users == wanted_.socket_users.end() || users->second.empty();
    if (!used) {
      for (const std::string& plugin : users->second) {
        if (refused_plugins_.count(plugin) == 0) used = true;
      }
    }
    if (used) served.insert(socket);
  }
  return served;
}

bool MembraneSession::RecordRefusalsLocked(const Declarations& want, const DeclareResult& result) {
  refused_sockets_ = result.refused_sockets;
  refused_stores_ = result.refused_stores;
  std::map<std::string, std::string> refused;
  auto refuse = [&](const std::map<std::string, std::set<std::string>>& users,
                    const std::map<std::string, grpc::Status>& resources) {
    for (const auto& [name, status] : resources) {
      auto it = users.find(name);
      if (it == users.end()) continue;
      for (const std::string& plugin : it->second) {
        std::string& reason = refused[plugin];
        reason += (reason.empty() ? "" : "; ") + status.error_message() + " (gRPC code " +
                  std::to_string(static_cast<int>(status.error_code())) + ")";
      }
    }
  };
  refuse(want.socket_users, refused_sockets_);
  refuse(want.store_users, refused_stores_);
  if (refused == refused_plugins_) return false;
  for (const auto& [plugin, reason] : refused) {
    auto before = refused_plugins_.find(plugin);
    if (before != refused_plugins_.end() && before->second == reason) continue;
    spdlog::error(
        "plugin {} refused: the membrane refused what it declared: {}. Its handlers are not "
        "called (a connect it handles is rejected), and its sockets are registered only if "
        "another plugin that is not refused uses them. Fix that resource, then reload "
        "(SIGHUP or `nitric-host reload`) to declare it again",
        plugin, reason);
  }
  for (const auto& [plugin, reason] : refused_plugins_) {
    if (refused.count(plugin) != 0) continue;
    spdlog::info("plugin {}: the membrane accepted its declarations; it serves again", plugin);
  }
  refused_plugins_ = std::move(refused);
  return true;
}

bool MembraneSession::WaitReady(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(&mu_);
  while (!machine_.closed() && !machine_.ready() &&
         mu_.WaitUntil(cv_, deadline) != std::cv_status::timeout) {
  }
  return machine_.ready();
}

void MembraneSession::StopTakingEvents() {
  std::vector<std::shared_ptr<EventStream>> streams;
  {
    MutexLock lock(&mu_);
    machine_.StopTakingEvents();
    NoteStateLocked();
    for (auto& [key, state] : streams_) streams.push_back(state.stream);
    cv_.notify_all();
  }
  for (auto& stream : streams) stream->StopTakingEvents();
}

void MembraneSession::Close(std::chrono::milliseconds grace) {
  MutexLock close_lock(&close_mu_);
  {
    MutexLock lock(&mu_);
    machine_.Close();
    NoteStateLocked();
    cv_.notify_all();
  }
  if (supervisor_.joinable()) supervisor_.join();

  MutexLock lock(&mu_);
  std::vector<std::shared_ptr<EventStream>> streams;
  for (auto& [key, state] : streams_) streams.push_back(state.stream);
  lock.Unlock();
  for (auto& stream : streams) {
    stream->StopTakingEvents();
    stream->Finish();
  }
  streams.clear();
  lock.Lock();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (!streams_.empty() && mu_.WaitUntil(cv_, deadline) != std::cv_status::timeout) {
  }
  if (!streams_.empty()) {
    for (auto& [key, state] : streams_) streams.push_back(state.stream);
    lock.Unlock();
    spdlog::debug("cancelling {} stream(s) the membrane did not end within {} ms", streams.size(),
                  grace.count());
    for (auto& stream : streams) stream->Cancel();
    streams.clear();
    lock.Lock();
    while (!streams_.empty()) mu_.Wait(cv_);
  }
}

void MembraneSession::Supervise() {
  MutexLock lock(&mu_);
  for (;;) {
    const SessionMachine::Step step =
        machine_.Next(std::chrono::steady_clock::now(), FactsLocked());
    NoteStateLocked();
    switch (step.kind) {
      case SessionMachine::Step::kExit:
        return;
      case SessionMachine::Step::kWait:
        mu_.Wait(cv_);
        break;
      case SessionMachine::Step::kWaitUntil:
        mu_.WaitUntil(cv_, step.until);
        break;
      case SessionMachine::Step::kReportReady:
        cv_.notify_all();  // WaitReady
        lock.Unlock();
        if (on_ready_) on_ready_();
        lock.Lock();
        break;
      case SessionMachine::Step::kReportExit:
        lock.Unlock();
        if (on_exit_) on_exit_(step.exit_code);
        lock.Lock();
        break;
      case SessionMachine::Step::kAttempt: {
        const grpc::Status status = Attempt();
        const SessionMachine::AttemptResult result =
            machine_.OnAttemptDone(status.ok(), std::chrono::steady_clock::now());
        NoteStateLocked();
        if (!status.ok())
          NoteErrorLocked("membrane at " + options_.address + ": " + Describe(status));
        LogAttemptLocked(result, status);
        if (result.kind == SessionMachine::AttemptResult::kExit) {
          lock.Unlock();
          if (on_exit_) on_exit_(1);
          lock.Lock();
        }
        break;
      }
    }
  }
}

grpc::Status MembraneSession::Attempt() {
  const Declarations want = wanted_;
  if (!(declared_ == want)) {
    const uint64_t epoch = epoch_;
    mu_.Unlock();
    DeclareResult declared =
        DeclareAll(resources_.get(), want, options_.service_name, options_.call_timeout);
    mu_.Lock();
    if (!declared.status.ok()) return declared.status;
    if (options_.build_mode) {
      // A build collects every declaration; a refused one fails it.
      for (const auto* refused : {&declared.refused_sockets, &declared.refused_stores}) {
        if (!refused->empty()) return refused->begin()->second;
      }
    }
    if (RecordRefusalsLocked(want, declared) && options_.on_refused) {
      mu_.Unlock();
      options_.on_refused();
      mu_.Lock();
    }
    if (epoch == epoch_) declared_ = want;
  }
  if (machine_.stopping()) return grpc::Status::OK;

  // Declarations first, then the streams (docs/PROTOCOL.md#declarations);
  // only for the sockets some plugin that is not refused uses.
  std::vector<std::shared_ptr<EventStream>> opened;
  for (const std::string& socket : ServedSocketsLocked()) {
    for (wsproto::WebsocketEventType type : kEventTypes) {
      if (build_ended_.count(StreamKey(socket, type)) != 0) continue;
      StreamState& state = streams_[StreamKey(socket, type)];
      if (state.stream) continue;
      state.stream = std::make_shared<EventStream>(
          socket, type, dispatcher_, static_cast<EventStream::Observer*>(this), &counters_);
      opened.push_back(state.stream);
    }
  }
  if (opened.empty()) return grpc::Status::OK;
  registration_error_ = grpc::Status::OK;
  mu_.Unlock();
  for (auto& stream : opened) stream->Start(handle_events_, options_.service_name, queue_);
  mu_.Lock();

  // Every new stream either registers or ends; an ended one is gone from
  // streams_ (or replaced).
  const auto deadline = std::chrono::steady_clock::now() + options_.call_timeout;
  while (!machine_.stopping() && !SettledLocked(opened) &&
         mu_.WaitUntil(cv_, deadline) != std::cv_status::timeout) {
  }
  const bool in_time = machine_.stopping() || SettledLocked(opened);
  if (machine_.stopping()) return grpc::Status::OK;
  if (!in_time) {
    std::vector<std::shared_ptr<EventStream>> late;
    for (auto& stream : opened) {
      auto it = streams_.find(StreamKey(stream->socket(), stream->type()));
      if (it != streams_.end() && it->second.stream == stream && !it->second.registered) {
        late.push_back(stream);
      }
    }
    mu_.Unlock();
    for (auto& stream : late) stream->Cancel();
    mu_.Lock();
    return grpc::Status(
        grpc::StatusCode::DEADLINE_EXCEEDED,
        "no registration response within " + std::to_string(options_.call_timeout.count()) + " ms");
  }
  for (auto& stream : opened) {
    const StreamKey key(stream->socket(), stream->type());
    auto it = streams_.find(key);
    if ((it == streams_.end() || it->second.stream != stream) && build_ended_.count(key) == 0) {
      return registration_error_.ok()
                 ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "stream " + StreamName(stream->socket(), stream->type()) + " ended")
                 : registration_error_;
    }
  }
  return grpc::Status::OK;
}

bool MembraneSession::SettledLocked(const std::vector<std::shared_ptr<EventStream>>& opened) const {
  for (const auto& stream : opened) {
    auto it = streams_.find(StreamKey(stream->socket(), stream->type()));
    if (it != streams_.end() && it->second.stream == stream && !it->second.registered) {
      return false;
    }
  }
  return true;
}

SessionMachine::Facts MembraneSession::FactsLocked() const {
  SessionMachine::Facts facts;
  facts.no_streams = streams_.empty();
  const bool declared = declared_ == wanted_;
  bool all_open = true;
  bool all_registered = true;
  for (const std::string& socket : ServedSocketsLocked()) {
    for (wsproto::WebsocketEventType type : kEventTypes) {
      if (build_ended_.count(StreamKey(socket, type)) != 0) continue;
      auto it = streams_.find(StreamKey(socket, type));
      if (it == streams_.end()) {
        all_open = false;
        all_registered = false;
      } else if (!it->second.registered) {
        all_registered = false;
      }
    }
  }
  facts.needs_work = !declared || !all_open;
  facts.all_registered = declared && all_registered;
  return facts;
}

void MembraneSession::LogAttemptLocked(const SessionMachine::AttemptResult& result,
                                       const grpc::Status& status) {
  switch (result.kind) {
    case SessionMachine::AttemptResult::kNone:
    case SessionMachine::AttemptResult::kFailedQuiet:
      break;
    case SessionMachine::AttemptResult::kRestored:
      spdlog::info("membrane session restored ({} failed attempt(s), {:.1f} s)",
                   result.failed_attempts, result.seconds);
      break;
    case SessionMachine::AttemptResult::kFailedFirst:
      spdlog::warn("membrane at {} not usable: {}; retrying with backoff", options_.address,
                   Describe(status));
      break;
    case SessionMachine::AttemptResult::kFailedAgain:
      spdlog::warn("membrane at {} still not usable after {} attempts ({:.0f} s): {}",
                   options_.address, result.failed_attempts, result.seconds, Describe(status));
      break;
    case SessionMachine::AttemptResult::kExit:
      spdlog::error("membrane at {}: {}", options_.address, status.error_message());
      break;
  }
}

void MembraneSession::OnRegistered(EventStream* stream) {
  MutexLock lock(&mu_);
  auto it = streams_.find(StreamKey(stream->socket(), stream->type()));
  if (it != streams_.end() && it->second.stream.get() == stream) it->second.registered = true;
  spdlog::debug("stream {} registered", StreamName(stream->socket(), stream->type()));
  cv_.notify_all();
}

void MembraneSession::OnEnded(EventStream* stream, const grpc::Status& status, bool registered,
                              bool failed) {
  std::shared_ptr<EventStream> ended;  // released outside the lock
  MutexLock lock(&mu_);
  auto it = streams_.find(StreamKey(stream->socket(), stream->type()));
  if (it != streams_.end() && it->second.stream.get() == stream) {
    ended = std::move(it->second.stream);
    streams_.erase(it);
  }
  const std::string name = StreamName(stream->socket(), stream->type());
  const auto now = std::chrono::steady_clock::now();
  const SessionMachine::StreamEnd end =
      machine_.OnStreamEnded(registered, failed, streams_.empty(), now);
  NoteStateLocked();
  switch (end) {
    case SessionMachine::StreamEnd::kIgnored:
      break;
    case SessionMachine::StreamEnd::kFailed:
      NoteErrorLocked("stream " + name + " failed (the host could not use it)");
      spdlog::warn(
          "stream {} failed; registering it again in {} ms", name,
          std::chrono::duration_cast<std::chrono::milliseconds>(machine_.retry_at() - now).count());
      break;
    case SessionMachine::StreamEnd::kNotRegistered:
      registration_error_ =
          grpc::Status(status.error_code(), "register " + name + ": " + status.error_message());
      NoteErrorLocked(registration_error_.error_message());
      break;
    case SessionMachine::StreamEnd::kBuildEnded:
      build_ended_.insert(StreamKey(stream->socket(), stream->type()));
      break;
    case SessionMachine::StreamEnd::kOutageStarted:
    case SessionMachine::StreamEnd::kOutageGoesOn:
      if (end == SessionMachine::StreamEnd::kOutageStarted) {
        counters_.reconnects.fetch_add(1, std::memory_order_relaxed);
        NoteErrorLocked("membrane ended stream " + name + " (" + Describe(status) + ")");
        spdlog::warn("membrane ended stream {} ({}); re-registering", name, Describe(status));
      } else if (end == SessionMachine::StreamEnd::kOutageGoesOn) {
        spdlog::debug("membrane ended stream {} ({})", name, Describe(status));
      }
      // The membrane may have restarted: declare everything again.
      declared_ = Declarations{};
      ++epoch_;
      break;
  }
  cv_.notify_all();
  // `ended` is released after the lock (declared first, destroyed last).
}

}  // namespace nitric::host
