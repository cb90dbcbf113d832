#include "devserver/handler_registry.h"
#include "nitric/proto/event_type.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <deque>
#include <optional>
#include <unordered_map>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

namespace nitric::devserver {
namespace {

constexpr const char* kServiceNameMetadata = "x-nitric-service-name";

bool ValidType(int type) {
  return type >= 0 && type < 3 && wsproto::WebsocketEventType_IsValid(type);
}

DeliveryResult Failed(std::string why) {
  DeliveryResult r;
  r.delivered = false;
  r.error = std::move(why);
  return r;
}

std::string PairName(const std::string& socket, wsproto::WebsocketEventType type) {
  return "socket '" + socket + "' event '" + proto::EventTypeName(type) + "'";
}

double Seconds(std::chrono::milliseconds d) { return std::chrono::duration<double>(d).count(); }

// How often the deadline thread looks for overdue events: a quarter of the
// deadline, so an event fails at most 25% late, within sane bounds.
std::chrono::milliseconds DeadlineTick(std::chrono::milliseconds timeout) {
  return std::clamp<std::chrono::milliseconds>(timeout / 4, std::chrono::milliseconds(10),
                                               std::chrono::seconds(1));
}

}  // namespace

// ---- Stream ----------------------------------------------------------------

// One HandleEvents call, on the completion-queue API. Owned by the registry:
// by accepting_ while gRPC has not handed it a call yet, then by live_ until
// gRPC has handed back every operation started on it (Forget); Deliver() holds
// an extra reference while it queues.
//
// gRPC allows one read, one write and one finish outstanding at a time; the
// flags under mu_ say which are, and are set before the operation starts and
// cleared by its completion, so the stream is released only once all are back.
// Completions may run on any polling thread (CqPoller), a read's and a write's
// possibly at once.
// The read chain (OnRead) is sequential, so `in_`, `socket_` and `type_` are
// only written there (and `socket_`/`type_` only before `registered_` is
// published under mu_). Writes are serialised through `writes_`: the front is
// in flight while `writing_`; the rest wait in order and the completion of one
// starts the next.
class HandlerRegistry::Stream final : public CqPoller::Handler,
                                      public std::enable_shared_from_this<HandlerRegistry::Stream> {
 public:
  explicit Stream(HandlerRegistry* registry) : registry_(registry) {
    // Before the call starts, as gRPC requires: kDone comes back once the call
    // is over, finished or cancelled.
    ctx_.AsyncNotifyWhenDone(&done_tag_);
  }

  grpc::ServerContext* context() { return &ctx_; }
  grpc::ServerAsyncReaderWriter<wsproto::ServerMessage, wsproto::ClientMessage>* rw() {
    return &rw_;
  }

  // A polling thread, with what a completion says.
  void OnCompletion(uint8_t op, bool ok) override {
    // The operation that completed keeps the stream from being released until
    // this thread has cleared its flag; from here on, this reference keeps it
    // alive should another polling thread release it meanwhile.
    const std::shared_ptr<Stream> self = shared_from_this();
    switch (op) {
      case kRead:
        OnRead(ok);
        break;
      case kWrite:
        OnWrite(ok);
        break;
      case kFinish: {
        std::lock_guard lock(mu_);
        finishing_ = false;
        finished_ = true;
        break;
      }
      case kDone:
        OnDone();
        break;
    }
    MaybeRelease();
  }

  // The call was accepted (kAccept, ok); before the registry publishes the
  // stream, as label_ is read without a lock.
  void Accepted() {
    const auto& md = ctx_.client_metadata();
    auto it = md.find(kServiceNameMetadata);
    label_ = it != md.end() ? "service '" + std::string(it->second.data(), it->second.size()) + "'"
                            : "peer " + ctx_.peer();
  }

  // Once published: the stream starts reading, or is ended at once when the
  // registry is shut down.
  void Begin(bool shut_down) {
    if (shut_down) {
      End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "membrane is shutting down"));
    } else {
      ReadNext();
    }
  }

  // Queues `event` under `id`; `done` runs when the answer arrives or the
  // stream ends, whichever is first.
  void Send(uint64_t id, wsproto::WebsocketEventRequest event, Callback done) {
    const wsproto::ServerMessage* start = nullptr;
    bool accepted = false;
    const auto deadline = std::chrono::steady_clock::now() + registry_->options_.event_timeout;
    {
      std::lock_guard lock(mu_);
      if (!ending_) {
        accepted = true;
        pending_.emplace(id, Pending{std::move(done), deadline});
        wsproto::ServerMessage& msg = writes_.emplace_back();
        msg.set_id(std::to_string(id));
        *msg.mutable_websocket_event_request() = std::move(event);
        start = StartWriteLocked();
      }
    }
    if (!accepted) {
      done(Failed("handler stream for " + PairName(socket_, type_) + " has ended"));
      return;
    }
    if (start) rw_.Write(*start, &write_tag_);
  }

  // Ends the call with `status` (deferred until the write in flight, if any,
  // completes), removes the registration and fails every waiting event.
  // Idempotent; thread-safe. REQUIRES: the call was accepted.
  void End(grpc::Status status) {
    std::unordered_map<uint64_t, Pending> failed;
    bool registered = false;
    bool finish_now = false;
    {
      std::lock_guard lock(mu_);
      if (ending_) return;
      ending_ = true;
      failed.swap(pending_);
      registered = registered_;
      if (writing_) {
        // Keep only the message gRPC is writing; it must stay alive until its
        // completion, which then finishes the call.
        writes_.resize(1);
        deferred_finish_ = status;
      } else {
        finishing_ = true;
      }
      finish_now = finishing_;
    }
    if (registered) {
      registry_->Unregister(socket_, type_, this);
      spdlog::info("websocket handler for {} removed ({}): {}", PairName(socket_, type_), label_,
                   status.ok() ? "stream closed" : status.error_message());
    }
    for (auto& [id, pending] : failed) {
      pending.done(
          Failed("handler stream for " + PairName(socket_, type_) + " ended before answering"));
    }
    if (finish_now) StartFinish(status);
  }

  // Fails every event whose deadline is before `now`; called by the
  // registry's deadline thread. The stream itself stays: one slow event is
  // not a dead service, but a run of them is logged as unhealthy.
  void ExpireOverdue(std::chrono::steady_clock::time_point now) {
    std::vector<std::pair<uint64_t, Callback>> expired;
    int in_a_row = 0;
    {
      std::lock_guard lock(mu_);
      if (ending_) return;  // End fails whatever is left
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.deadline < now) {
          expired.emplace_back(it->first, std::move(it->second.done));
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
      if (expired.empty()) return;
      const int before = consecutive_timeouts_;
      consecutive_timeouts_ += static_cast<int>(expired.size());
      if (before < registry_->options_.unhealthy_after &&
          consecutive_timeouts_ >= registry_->options_.unhealthy_after) {
        in_a_row = consecutive_timeouts_;
      }
    }
    const double seconds = Seconds(registry_->options_.event_timeout);
    for (const auto& [id, done] : expired) {
      spdlog::warn("HandleEvents ({}, {}): event {} not answered within {} s; its delivery failed",
                   PairName(socket_, type_), label_, id, seconds);
    }
    if (in_a_row > 0) {  // logged before the callbacks run: they may take a while
      spdlog::error(
          "HandleEvents stream for {} ({}) is unhealthy: {} events in a row were not answered "
          "within {} s; is the service stuck? Restart it if this goes on",
          PairName(socket_, type_), label_, in_a_row, seconds);
    }
    for (auto& [id, done] : expired) {
      done(Failed("the handler for " + PairName(socket_, type_) + " did not answer within " +
                  fmt::format("{}", seconds) + " s"));
    }
  }

 private:
  // REQUIRES: finishing_ was set under mu_.
  void StartFinish(const grpc::Status& status) {
    if (registry_->poller_.IfOpen([&] { rw_.Finish(status, &finish_tag_); })) return;
    // The queue is gone (an accepted call met after the server's shutdown):
    // the call was cancelled with the server, and its completions never come.
    std::lock_guard lock(mu_);
    finishing_ = false;
  }

  void ReadNext() {
    {
      std::lock_guard lock(mu_);
      if (ending_) return;  // no further reads; the finish ends the call
      reading_ = true;
    }
    rw_.Read(&in_, &read_tag_);
  }

  void OnRead(bool ok) {
    bool registered;
    bool ending;
    {
      std::lock_guard lock(mu_);
      reading_ = false;
      registered = registered_;
      ending = ending_;
    }
    if (!ok) {
      // The client half-closed or the call broke: either way the stream is over.
      End(grpc::Status::OK);
      return;
    }
    if (ending) return;
    if (!registered) {
      if (!HandleRegistration()) return;
    } else if (in_.has_websocket_event_response()) {
      HandleAnswer();
    } else {
      spdlog::warn("HandleEvents ({}, {}): ignoring a message that is not an event response",
                   PairName(socket_, type_), label_);
    }
    ReadNext();
  }

  void OnWrite(bool ok) {
    std::optional<grpc::Status> finish;
    const wsproto::ServerMessage* next = nullptr;
    bool broken = false;
    {
      std::lock_guard lock(mu_);
      writes_.pop_front();
      if (ending_) {
        writes_.clear();
        writing_ = false;
        finish = std::move(deferred_finish_);
        deferred_finish_.reset();
        if (finish) finishing_ = true;
      } else if (!ok) {
        writes_.clear();
        writing_ = false;
        broken = true;
      } else if (!writes_.empty()) {
        next = &writes_.front();
      } else {
        writing_ = false;
      }
    }
    if (finish) {
      StartFinish(*finish);
    } else if (broken) {
      End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write to the handler stream failed"));
    } else if (next) {
      rw_.Write(*next, &write_tag_);
    }
  }

  // The call is over, finished by us or cancelled by the client or gRPC.
  void OnDone() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    if (ctx_.IsCancelled()) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "handler stream cancelled"));
    }
  }

  // Hands the stream back to the registry once gRPC holds none of its
  // operations and the call is over.
  void MaybeRelease() {
    {
      std::lock_guard lock(mu_);
      if (released_ || !done_ || reading_ || writing_ || finishing_ || !ending_) return;
      released_ = true;
    }
    // Last statement: Forget may destroy this object.
    registry_->Forget(this);
  }

  // Handles the first message. Returns false when the stream was ended.
  bool HandleRegistration() {
    if (!in_.has_registration_request()) {
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "the first HandleEvents message must be a registration_request"));
      return false;
    }
    const wsproto::RegistrationRequest& req = in_.registration_request();
    if (req.socket_name().empty() || !ValidType(req.event_type())) {
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "registration_request needs a socket_name and a known event_type"));
      return false;
    }
    socket_ = req.socket_name();
    type_ = req.event_type();
    grpc::Status s = registry_->Register(socket_, type_, this);
    if (!s.ok()) {
      spdlog::warn("HandleEvents ({}): {}", label_, s.error_message());
      End(std::move(s));
      return false;
    }
    {
      std::lock_guard lock(mu_);
      if (ending_) {
        // Ended concurrently (shutdown) before the registration was published
        // here, so End() did not remove it.
        registry_->Unregister(socket_, type_, this);
        return false;
      }
      registered_ = true;
    }
    if (registry_->on_socket_registered_) {
      grpc::Status hook = registry_->on_socket_registered_(socket_);
      if (!hook.ok()) {
        spdlog::error("socket '{}' has no gateway listener: {}", socket_, hook.error_message());
      }
    }
    spdlog::info("websocket handler registered for {} ({})", PairName(socket_, type_), label_);
    const wsproto::ServerMessage* start = nullptr;
    {
      std::lock_guard lock(mu_);
      if (!ending_) {
        writes_.emplace_back().mutable_registration_response();
        start = StartWriteLocked();
      }
    }
    if (start) rw_.Write(*start, &write_tag_);
    return true;
  }

  void HandleAnswer() {
    const std::string& text = in_.id();
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    bool parsed = ec == std::errc() && end == text.data() + text.size();
    Callback done;
    bool found = false;
    bool recovered = false;
    if (parsed) {
      std::lock_guard lock(mu_);
      auto it = pending_.find(id);
      if (it != pending_.end()) {
        done = std::move(it->second.done);
        pending_.erase(it);
        found = true;
        recovered = consecutive_timeouts_ >= registry_->options_.unhealthy_after;
        consecutive_timeouts_ = 0;
      }
    }
    if (recovered) {
      spdlog::info("HandleEvents stream for {} ({}) answers again", PairName(socket_, type_),
                   label_);
    }
    if (!found) {
      spdlog::warn("HandleEvents ({}, {}): answer with unknown id '{}' ignored",
                   PairName(socket_, type_), label_, text);
      return;
    }
    const wsproto::WebsocketEventResponse& resp = in_.websocket_event_response();
    DeliveryResult result;
    result.delivered = true;
    result.reject = resp.has_connection_response() && resp.connection_response().reject();
    done(std::move(result));
  }

  // REQUIRES: mu_ held, a message just queued at the back of writes_. Returns
  // the message to start writing, or null when a write is already in flight
  // (its completion will start this one).
  const wsproto::ServerMessage* StartWriteLocked() {
    if (writing_) return nullptr;
    writing_ = true;
    return &writes_.front();
  }

  struct Pending {
    Callback done;
    std::chrono::steady_clock::time_point deadline;
  };

  HandlerRegistry* const registry_;
  grpc::ServerContext ctx_;
  grpc::ServerAsyncReaderWriter<wsproto::ServerMessage, wsproto::ClientMessage> rw_{&ctx_};
  enum Op : uint8_t { kRead, kWrite, kFinish, kDone };
  CqPoller::Tag read_tag_{this, kRead};
  CqPoller::Tag write_tag_{this, kWrite};
  CqPoller::Tag finish_tag_{this, kFinish};
  CqPoller::Tag done_tag_{this, kDone};
  std::string label_;  // for logs: the service name, or the peer address; set by Accepted

  // Read chain only (see class comment).
  wsproto::ClientMessage in_;
  std::string socket_;
  wsproto::WebsocketEventType type_ = wsproto::Connect;

  std::mutex mu_;
  bool registered_ = false;  // GUARDED_BY(mu_)
  bool ending_ = false;      // GUARDED_BY(mu_): End() ran; no new reads or writes
  bool reading_ = false;     // GUARDED_BY(mu_): a Read is outstanding
  bool writing_ = false;     // GUARDED_BY(mu_): a Write is outstanding
  bool finishing_ = false;   // GUARDED_BY(mu_): the Finish is outstanding
  bool finished_ = false;    // GUARDED_BY(mu_)
  bool done_ = false;        // GUARDED_BY(mu_): kDone came back
  bool released_ = false;    // GUARDED_BY(mu_)
  // Front is the message in flight when writing_. std::deque keeps element
  // addresses stable across emplace_back, which Write relies on.
  std::deque<wsproto::ServerMessage> writes_;      // GUARDED_BY(mu_)
  std::optional<grpc::Status> deferred_finish_;    // GUARDED_BY(mu_)
  std::unordered_map<uint64_t, Pending> pending_;  // GUARDED_BY(mu_)
  int consecutive_timeouts_ = 0;                   // GUARDED_BY(mu_); reset by an answer
};

// ---- HandlerRegistry -------------------------------------------------------

HandlerRegistry::HandlerRegistry(SocketHook on_socket_registered, HandlerRegistryOptions options)
    : on_socket_registered_(std::move(on_socket_registered)),
      options_(options),
      deadline_thread_([this] { ExpireOverdueLoop(); }) {}

HandlerRegistry::~HandlerRegistry() {
  Stop();
  StopDeadlines();
}

void HandlerRegistry::Stop() {
  Shutdown();
  poller_.Stop();
  accepting_.reset();
  std::lock_guard lock(mu_);
  if (!live_.empty()) {
    spdlog::error("{} HandleEvents streams not handed back by gRPC at registry teardown",
                  live_.size());
  }
}

void HandlerRegistry::AddTo(grpc::ServerBuilder& builder) {
  builder.RegisterService(&service_);
  poller_.AddTo(builder);
}

void HandlerRegistry::Start() {
  RequestCall();
  poller_.Start();
}

void HandlerRegistry::RequestCall() {
  // Published before gRPC may hand the call to a polling thread.
  accepting_ = std::make_shared<Stream>(this);
  if (!poller_.IfOpen([&] {
        service_.RequestHandleEvents(accepting_->context(), accepting_->rw(), poller_.cq(),
                                     poller_.cq(), &accept_tag_);
      })) {
    accepting_.reset();
  }
}

void HandlerRegistry::OnCompletion(uint8_t /*op: only the accept*/, bool ok) {
  if (!ok) {
    // The server is shutting down: no call came, and none will.
    accepting_.reset();
    return;
  }
  std::shared_ptr<Stream> stream = std::move(accepting_);
  RequestCall();
  stream->Accepted();
  const bool shut_down = !Adopt(stream);
  stream->Begin(shut_down);
}

void HandlerRegistry::Deliver(wsproto::WebsocketEventType type,
                              wsproto::WebsocketEventRequest event, Callback done) {
  if (!ValidType(type)) {
    done(Failed("unknown websocket event type " + std::to_string(static_cast<int>(type))));
    return;
  }
  std::shared_ptr<Stream> stream;
  {
    std::lock_guard lock(mu_);
    if (!shut_down_) {
      auto it = registered_.find(event.socket_name());
      if (it != registered_.end()) stream = it->second[type];
    }
  }
  if (!stream) {
    done(Failed("no websocket handler registered for " + PairName(event.socket_name(), type)));
    return;
  }
  stream->Send(NextId(), std::move(event), std::move(done));
}

std::vector<wsproto::WebsocketEventType> HandlerRegistry::RegisteredTypes(
    const std::string& socket) const {
  std::vector<wsproto::WebsocketEventType> types;
  std::lock_guard lock(mu_);
  auto it = registered_.find(socket);
  if (it == registered_.end()) return types;
  for (std::size_t i = 0; i < kTypes; ++i) {
    if (it->second[i]) types.push_back(static_cast<wsproto::WebsocketEventType>(i));
  }
  return types;
}

void HandlerRegistry::Shutdown() {
  std::vector<std::shared_ptr<Stream>> streams;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    streams.reserve(live_.size());
    for (auto& [ptr, stream] : live_) streams.push_back(stream);
  }
  for (auto& stream : streams) {
    stream->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "membrane is shutting down"));
  }
}

void HandlerRegistry::ExpireOverdueLoop() {
  const auto tick = DeadlineTick(options_.event_timeout);
  std::unique_lock deadline_lock(deadline_mu_);
  while (!deadline_cv_.wait_for(deadline_lock, tick, [this] { return deadline_stop_; })) {
    deadline_lock.unlock();
    std::vector<std::shared_ptr<Stream>> streams;
    {
      std::lock_guard lock(mu_);
      streams.reserve(live_.size());
      for (auto& [ptr, stream] : live_) streams.push_back(stream);
    }
    const auto now = std::chrono::steady_clock::now();
    for (auto& stream : streams) stream->ExpireOverdue(now);
    streams.clear();  // released before waiting again
    deadline_lock.lock();
  }
}

void HandlerRegistry::StopDeadlines() {
  {
    std::lock_guard lock(deadline_mu_);
    deadline_stop_ = true;
  }
  deadline_cv_.notify_all();
  if (deadline_thread_.joinable()) deadline_thread_.join();
}

bool HandlerRegistry::Adopt(std::shared_ptr<Stream> stream) {
  std::lock_guard lock(mu_);
  Stream* raw = stream.get();
  live_.emplace(raw, std::move(stream));
  return !shut_down_;
}

grpc::Status HandlerRegistry::Register(const std::string& socket, wsproto::WebsocketEventType type,
                                       Stream* stream) {
  std::lock_guard lock(mu_);
  if (shut_down_) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "membrane is shutting down");
  }
  auto live = live_.find(stream);
  if (live == live_.end()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "handler stream is not live");
  }
  std::shared_ptr<Stream>& slot = registered_[socket][type];
  if (slot) {
    return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                        "websocket handler already registered for " + PairName(socket, type));
  }
  slot = live->second;
  return grpc::Status::OK;
}

void HandlerRegistry::Unregister(const std::string& socket, wsproto::WebsocketEventType type,
                                 Stream* stream) {
  std::shared_ptr<Stream> removed;  // released after the lock
  std::lock_guard lock(mu_);
  auto it = registered_.find(socket);
  if (it == registered_.end() || it->second[type].get() != stream) return;
  removed = std::move(it->second[type]);
  bool empty = true;
  for (const auto& s : it->second) empty = empty && !s;
  if (empty) registered_.erase(it);
}

void HandlerRegistry::Forget(Stream* stream) {
  std::shared_ptr<Stream> last;  // may destroy the stream once the lock is released
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(stream);
    if (it == live_.end()) return;
    last = std::move(it->second);
    live_.erase(it);
  }
}

}  // namespace nitric::devserver
