#include "host/dispatch/dispatcher.h"

#include <sched.h>

#include <chrono>
#include <functional>

#include <spdlog/spdlog.h>

namespace nitric::host {

namespace {

// Enough spare events and connection nodes for every event in flight at
// once on a busy host; beyond that they are freed.
constexpr size_t kMaxSpareEvents = 4096;
constexpr size_t kMaxSpareConnections = 4096;
// How long an idle worker looks for new work before it sleeps.
constexpr std::chrono::microseconds kSpin{20};

}  // namespace

size_t Dispatcher::KeyHash::operator()(const ConnectionKeyView& k) const {
  const size_t h = std::hash<std::string_view>()(k.connection);
  return h ^
         (std::hash<std::string_view>()(k.socket) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

Dispatcher::Dispatcher(int workers, const GenerationSlot* generations) : generations_(generations) {
  workers_.reserve(workers);
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

Dispatcher::~Dispatcher() {
  Drain();
  while (free_events_ != nullptr) {
    Event* e = free_events_;
    free_events_ = e->next;
    delete e;
  }
}

Event* Dispatcher::NewEvent() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (Event* e = TakeFreeEventLocked()) return e;
  }
  return new Event;
}

Event* Dispatcher::Submit(Event* event) {
  bool wake = false;
  Event* fresh = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) {
      ++stats_.dropped;
      fresh = event;  // dropped unanswered; reused for the (last) read
    } else {
      Connection* c = FindOrAddLocked(event->message.websocket_event_request());
      event->next = nullptr;
      if (c->tail != nullptr) {
        c->tail->next = event;
      } else {
        c->head = event;
      }
      c->tail = event;
      ++queued_;
      if (!c->scheduled) {
        c->scheduled = true;
        PushReadyLocked(c);
        // Wake a sleeper only if no worker is looking for work already and
        // no wake-up is on its way: busy workers pick ready connections up
        // without being told, and chain further wake-ups (WorkerLoop).
        if (!spinning_ && sleeping_ > wakeups_pending_) {
          ++wakeups_pending_;
          wake = true;
        }
      }
      fresh = TakeFreeEventLocked();
    }
  }
  if (wake) work_cv_.notify_one();
  if (fresh == event) {
    fresh->reply_to.reset();
    fresh->message.Clear();
    return fresh;
  }
  return fresh != nullptr ? fresh : new Event;
}

void Dispatcher::Recycle(Event* event) {
  event->reply_to.reset();
  std::lock_guard<std::mutex> lock(mu_);
  RecycleLocked(event);
}

void Dispatcher::Drain() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    draining_ = true;
    drain_cv_.wait(lock, [this] { return queued_ == 0; });
    exit_ = true;
  }
  work_cv_.notify_all();
  std::lock_guard<std::mutex> join_lock(join_mu_);
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
}

Dispatcher::Stats Dispatcher::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Dispatcher::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    bool spun = false;
    while (ready_head_ == nullptr) {
      if (exit_) return;
      if (!spinning_ && !spun) {
        // One worker lingers briefly before sleeping: under load the next
        // event usually arrives within microseconds, and catching it here
        // saves the submitter a futex wake and this thread a context switch.
        spinning_ = true;
        lock.unlock();
        SpinForWork();
        lock.lock();
        spinning_ = false;
        spun = true;
        continue;
      }
      ++sleeping_;
      work_cv_.wait(lock);
      --sleeping_;
      if (wakeups_pending_ > 0) --wakeups_pending_;
    }
    Connection* c = ready_head_;
    ready_count_.fetch_sub(1, std::memory_order_relaxed);
    ready_head_ = c->next_ready;
    if (ready_head_ == nullptr) ready_tail_ = nullptr;
    c->next_ready = nullptr;
    // The event stays at the head of its queue while it runs, so the
    // connection's later events line up behind it.
    Event* event = c->head;
    // More work waiting than this worker takes: bring a sleeper in. This
    // chains wake-ups through the pool (off the gRPC threads) so a backlog
    // that built up while a worker was spinning still runs in parallel.
    const bool wake_another = ready_head_ != nullptr && !spinning_ && sleeping_ > wakeups_pending_;
    if (wake_another) ++wakeups_pending_;

    lock.unlock();
    if (wake_another) work_cv_.notify_one();
    Run(event);
    lock.lock();

    c->head = event->next;
    if (c->head == nullptr) c->tail = nullptr;
    RecycleLocked(event);
    ++stats_.handled;
    if (--queued_ == 0 && draining_) drain_cv_.notify_all();
    if (c->head != nullptr) {
      PushReadyLocked(c);  // behind the others: one busy connection cannot starve them
    } else {
      RemoveLocked(c);
    }
  }
}

void Dispatcher::SpinForWork() const {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (int i = 1;; ++i) {
    if (ready_count_.load(std::memory_order_relaxed) > 0) return;
    if (i % 16 == 0) {
      if (std::chrono::steady_clock::now() >= deadline) return;
      // Give the core away: on a busy machine the submitter may need it.
      sched_yield();
    } else {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }
}

void Dispatcher::Run(Event* event) {
  bool reject = false;
  {
    // Held until the answer is queued: the generation (and its plugins) stays
    // loaded for as long as this event runs.
    std::shared_ptr<const Generation> generation = generations_->Current();
    if (generation) {
      try {
        reject = generation->Handle(event->type, event->message.websocket_event_request());
      } catch (...) {
        // Handle() promises not to throw; the event is owed an answer anyway,
        // and a connect whose handlers did not finish is not let in.
        spdlog::error("handler chain threw for {} event of connection {}",
                      wsproto::WebsocketEventType_Name(event->type),
                      event->message.websocket_event_request().connection_id());
        reject = event->type == wsproto::Connect;
      }
    }
    if (spdlog::should_log(spdlog::level::trace)) {
      const auto& request = event->message.websocket_event_request();
      spdlog::trace("{} event {} of {}/{}: {}", wsproto::WebsocketEventType_Name(event->type),
                    event->message.id(), request.socket_name(), request.connection_id(),
                    reject ? "reject" : "accept");
    }
    event->reply_to->Reply(std::move(*event->message.mutable_id()), reject);
  }
  event->reply_to.reset();
}

Dispatcher::Connection* Dispatcher::FindOrAddLocked(const wsproto::WebsocketEventRequest& request) {
  const ConnectionKeyView view{request.socket_name(), request.connection_id()};
  auto it = connections_.find(view);
  if (it != connections_.end()) return &it->second;

  ConnectionMap::iterator added;
  if (!spare_.empty()) {
    ConnectionMap::node_type node = std::move(spare_.back());
    spare_.pop_back();
    node.key().socket.assign(view.socket);
    node.key().connection.assign(view.connection);
    node.mapped() = Connection{};
    added = connections_.insert(std::move(node)).position;
  } else {
    added = connections_
                .try_emplace(ConnectionKey{std::string(view.socket), std::string(view.connection)})
                .first;
  }
  added->second.key = &added->first;
  return &added->second;
}

void Dispatcher::RemoveLocked(Connection* connection) {
  auto it =
      connections_.find(ConnectionKeyView{connection->key->socket, connection->key->connection});
  ConnectionMap::node_type node = connections_.extract(it);
  if (spare_.size() < kMaxSpareConnections) spare_.push_back(std::move(node));
}

void Dispatcher::PushReadyLocked(Connection* connection) {
  ready_count_.fetch_add(1, std::memory_order_relaxed);
  connection->next_ready = nullptr;
  if (ready_tail_ != nullptr) {
    ready_tail_->next_ready = connection;
  } else {
    ready_head_ = connection;
  }
  ready_tail_ = connection;
}

Event* Dispatcher::TakeFreeEventLocked() {
  Event* e = free_events_;
  if (e != nullptr) {
    free_events_ = e->next;
    --free_event_count_;
    e->next = nullptr;
  }
  return e;
}

void Dispatcher::RecycleLocked(Event* event) {
  if (free_event_count_ >= kMaxSpareEvents) {
    delete event;
    return;
  }
  event->next = free_events_;
  free_events_ = event;
  ++free_event_count_;
}

}  // namespace nitric::host
