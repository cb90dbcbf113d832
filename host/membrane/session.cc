#include "host/membrane/session.h"

#include <vector>

#include <spdlog/spdlog.h>

#include "host/membrane/backoff.h"
#include "host/membrane/declare.h"

namespace nitric::host {

namespace {

constexpr wsproto::WebsocketEventType kEventTypes[] = {wsproto::Connect, wsproto::Disconnect,
                                                       wsproto::Message};

std::string Describe(const grpc::Status& status) {
  return std::to_string(static_cast<int>(status.error_code())) + " " + status.error_message();
}

std::string StreamName(const std::string& socket, wsproto::WebsocketEventType type) {
  return socket + "/" + wsproto::WebsocketEventType_Name(type);
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
      handler_(wsproto::WebsocketHandler::NewStub(channel)) {
  supervisor_ = std::thread([this] { Supervise(); });
}

MembraneSession::~MembraneSession() { Close(std::chrono::milliseconds(0)); }

void MembraneSession::Want(const Declarations& declarations) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!has_wants_) {
    has_wants_ = true;
    cv_.notify_all();
  }
  Declarations merged = wanted_;
  merged.Merge(declarations);
  if (merged == wanted_) return;
  wanted_ = std::move(merged);
  ready_reported_ = false;
  cv_.notify_all();
}

bool MembraneSession::WaitReady(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return closing_ || ready_reported_; }) &&
         ready_reported_;
}

void MembraneSession::StopTakingEvents() {
  std::vector<std::shared_ptr<EventStream>> streams;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& [key, state] : streams_) streams.push_back(state.stream);
    cv_.notify_all();
  }
  for (auto& stream : streams) stream->StopTakingEvents();
}

void MembraneSession::Close(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> close_lock(close_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    closing_ = true;
    cv_.notify_all();
  }
  if (supervisor_.joinable()) supervisor_.join();

  std::unique_lock<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<EventStream>> streams;
  for (auto& [key, state] : streams_) streams.push_back(state.stream);
  lock.unlock();
  for (auto& stream : streams) {
    stream->StopTakingEvents();
    stream->Finish();
  }
  streams.clear();
  lock.lock();
  if (!cv_.wait_for(lock, grace, [this] { return streams_.empty(); })) {
    for (auto& [key, state] : streams_) streams.push_back(state.stream);
    lock.unlock();
    spdlog::debug("cancelling {} stream(s) the membrane did not end within {} ms", streams.size(),
                  grace.count());
    for (auto& stream : streams) stream->Cancel();
    streams.clear();
    lock.lock();
    cv_.wait(lock, [this] { return streams_.empty(); });
  }
}

void MembraneSession::Supervise() {
  Backoff backoff(options_.backoff_initial, options_.backoff_max);
  std::unique_lock<std::mutex> lock(mu_);
  while (!closing_) {
    if (build_done_ && !exit_reported_) {
      ReportExit(lock, 0);
      continue;
    }
    if (!NeedsWorkLocked()) {
      if (!ready_reported_ && has_wants_ && !stopping_ && AllRegisteredLocked()) {
        ready_reported_ = true;
        cv_.notify_all();
        if (options_.build_mode) {
          build_registered_ = true;
          if (streams_.empty()) build_done_ = true;  // nothing to register
        }
        lock.unlock();
        if (on_ready_) on_ready_();
        lock.lock();
        continue;
      }
      cv_.wait(lock);
      continue;
    }
    if (std::chrono::steady_clock::now() < next_attempt_) {
      cv_.wait_until(lock, next_attempt_);
      continue;
    }
    const grpc::Status status = Attempt(lock);
    if (closing_ || stopping_) continue;
    if (status.ok()) {
      if (failed_attempts_ > 0 || outage_) {
        const auto seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - first_failure_)
                .count();
        spdlog::info("membrane session restored ({} failed attempt(s), {:.1f} s)", failed_attempts_,
                     seconds);
      }
      failed_attempts_ = 0;
      outage_ = false;
      backoff.Reset();
      continue;
    }
    if (options_.build_mode) {
      spdlog::error("membrane at {}: {}", options_.address, status.error_message());
      ReportExit(lock, 1);
      continue;
    }
    LogFailureLocked(status);
    next_attempt_ = std::chrono::steady_clock::now() + backoff.Next();
  }
}

void MembraneSession::ReportExit(std::unique_lock<std::mutex>& lock, int code) {
  exit_reported_ = true;
  lock.unlock();
  if (on_exit_) on_exit_(code);
  lock.lock();
  // Nothing more to do until Close().
  cv_.wait(lock, [this] { return closing_; });
}

grpc::Status MembraneSession::Attempt(std::unique_lock<std::mutex>& lock) {
  const Declarations want = wanted_;
  if (!(declared_ == want)) {
    const uint64_t epoch = epoch_;
    lock.unlock();
    grpc::Status status =
        DeclareAll(resources_.get(), want, options_.service_name, options_.call_timeout);
    lock.lock();
    if (!status.ok()) return status;
    if (epoch == epoch_) declared_ = want;
  }
  if (stopping_ || closing_) return grpc::Status::OK;

  // Declarations first, then the streams (PROTOCOL.md).
  std::vector<std::shared_ptr<EventStream>> opened;
  for (const std::string& socket : want.sockets) {
    for (wsproto::WebsocketEventType type : kEventTypes) {
      StreamState& state = streams_[StreamKey(socket, type)];
      if (state.stream) continue;
      state.stream = std::make_shared<EventStream>(socket, type, dispatcher_,
                                                   static_cast<EventStream::Observer*>(this));
      opened.push_back(state.stream);
    }
  }
  if (opened.empty()) return grpc::Status::OK;
  registration_error_ = grpc::Status::OK;
  lock.unlock();
  for (auto& stream : opened) stream->Start(handler_.get(), options_.service_name, queue_);
  lock.lock();

  // Every new stream either registers or ends; an ended one is gone from
  // streams_ (or replaced).
  auto settled = [&] {
    for (auto& stream : opened) {
      auto it = streams_.find(StreamKey(stream->socket(), stream->type()));
      if (it != streams_.end() && it->second.stream == stream && !it->second.registered) {
        return false;
      }
    }
    return true;
  };
  const bool in_time =
      cv_.wait_for(lock, options_.call_timeout, [&] { return closing_ || stopping_ || settled(); });
  if (closing_ || stopping_) return grpc::Status::OK;
  if (!in_time) {
    std::vector<std::shared_ptr<EventStream>> late;
    for (auto& stream : opened) {
      auto it = streams_.find(StreamKey(stream->socket(), stream->type()));
      if (it != streams_.end() && it->second.stream == stream && !it->second.registered) {
        late.push_back(stream);
      }
    }
    lock.unlock();
    for (auto& stream : late) stream->Cancel();
    lock.lock();
    return grpc::Status(
        grpc::StatusCode::DEADLINE_EXCEEDED,
        "no registration response within " + std::to_string(options_.call_timeout.count()) + " ms");
  }
  for (auto& stream : opened) {
    auto it = streams_.find(StreamKey(stream->socket(), stream->type()));
    if (it == streams_.end() || it->second.stream != stream) {
      return registration_error_.ok()
                 ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "stream " + StreamName(stream->socket(), stream->type()) + " ended")
                 : registration_error_;
    }
  }
  return grpc::Status::OK;
}

bool MembraneSession::NeedsWorkLocked() const {
  if (closing_ || stopping_) return false;
  if (options_.build_mode && (build_registered_ || exit_reported_)) return false;
  if (!(declared_ == wanted_)) return true;
  for (const std::string& socket : wanted_.sockets) {
    for (wsproto::WebsocketEventType type : kEventTypes) {
      if (streams_.find(StreamKey(socket, type)) == streams_.end()) return true;
    }
  }
  return false;
}

bool MembraneSession::AllRegisteredLocked() const {
  if (!(declared_ == wanted_)) return false;
  for (const std::string& socket : wanted_.sockets) {
    for (wsproto::WebsocketEventType type : kEventTypes) {
      auto it = streams_.find(StreamKey(socket, type));
      if (it == streams_.end() || !it->second.registered) return false;
    }
  }
  return true;
}

void MembraneSession::LogFailureLocked(const grpc::Status& status) {
  const auto now = std::chrono::steady_clock::now();
  ++failed_attempts_;
  if (failed_attempts_ == 1 && !outage_) first_failure_ = now;
  if (failed_attempts_ == 1) {
    spdlog::warn("membrane at {} not usable: {}; retrying with backoff", options_.address,
                 Describe(status));
    last_failure_log_ = now;
  } else if (now - last_failure_log_ >= options_.log_interval) {
    const auto seconds = std::chrono::duration<double>(now - first_failure_).count();
    spdlog::warn("membrane at {} still not usable after {} attempts ({:.0f} s): {}",
                 options_.address, failed_attempts_, seconds, Describe(status));
    last_failure_log_ = now;
  }
}

void MembraneSession::OnRegistered(EventStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = streams_.find(StreamKey(stream->socket(), stream->type()));
  if (it != streams_.end() && it->second.stream.get() == stream) it->second.registered = true;
  spdlog::debug("stream {} registered", StreamName(stream->socket(), stream->type()));
  cv_.notify_all();
}

void MembraneSession::OnEnded(EventStream* stream, const grpc::Status& status, bool registered) {
  std::shared_ptr<EventStream> ended;  // released outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  auto it = streams_.find(StreamKey(stream->socket(), stream->type()));
  if (it != streams_.end() && it->second.stream.get() == stream) {
    ended = std::move(it->second.stream);
    streams_.erase(it);
  }
  const std::string name = StreamName(stream->socket(), stream->type());
  if (!stopping_ && !closing_) {
    if (registered) {
      // The membrane may have restarted: declare everything again.
      declared_ = Declarations{};
      ++epoch_;
      ready_reported_ = false;
      if (options_.build_mode) {
        if (streams_.empty()) build_done_ = true;
      } else if (!outage_) {
        outage_ = true;
        first_failure_ = std::chrono::steady_clock::now();
        spdlog::warn("membrane ended stream {} ({}); re-registering", name, Describe(status));
      } else {
        spdlog::debug("membrane ended stream {} ({})", name, Describe(status));
      }
    } else {
      registration_error_ =
          grpc::Status(status.error_code(), "register " + name + ": " + status.error_message());
    }
  }
  cv_.notify_all();
  // `ended` is released after the lock (declared first, destroyed last).
}

}  // namespace nitric::host
