#include "host/dispatch/dispatcher.h"
#include "nitric/proto/event_type.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <system_error>

#include <spdlog/spdlog.h>

namespace nitric::host {

namespace {

// Enough spare events and connection nodes for every event in flight at
// once on a busy host; beyond that they are freed.
constexpr size_t kMaxSpareEvents = 4096;
constexpr size_t kMaxSpareConnections = 4096;
// How long an idle worker looks for new work before it sleeps.
constexpr std::chrono::microseconds kSpin{20};

// Counts an answered event (the caller answers it exactly once). `answered_at`:
// a clock reading just taken (the end of the event's last handler), or the
// epoch to read the clock here.
void CountAnswer(const Event& event, EventOutcome outcome,
                 std::chrono::steady_clock::time_point answered_at = {}) {
  if (event.metrics == nullptr) return;
  if (answered_at == std::chrono::steady_clock::time_point{}) {
    answered_at = std::chrono::steady_clock::now();
  }
  event.metrics->events[proto::ToNitricEventType(event.type)].Count(outcome,
                                                                    answered_at - event.read_at);
}

EventOutcome OutcomeOf(HandleResult result) {
  switch (result) {
    case HandleResult::kAccepted:
      break;
    case HandleResult::kRejected:
      return EventOutcome::kRejected;
    case HandleResult::kFailed:
      return EventOutcome::kError;
  }
  return EventOutcome::kOk;
}

}  // namespace

size_t Dispatcher::KeyHash::operator()(const ConnectionKeyView& k) const {
  const size_t h = std::hash<std::string_view>()(k.connection);
  return h ^
         (std::hash<std::string_view>()(k.socket) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

namespace {

Dispatcher::Options FixedPool(int workers) {
  Dispatcher::Options options;
  options.workers = workers;
  options.max_workers = workers;
  return options;
}

Dispatcher::Options Normalized(Dispatcher::Options options) {
  if (options.workers < 1) options.workers = 1;
  if (options.max_workers < options.workers) options.max_workers = options.workers;
  return options;
}

// Often enough to notice a timeout within a quarter of it, rarely enough to
// cost nothing measurable when idle.
// With inline runs, at most 10 ms: a handler that runs long on the polling
// thread without calling the host holds up the other streams until the watch
// has seen it for a whole tick (10-20 ms).
std::chrono::milliseconds TickFor(const Dispatcher::Options& options) {
  using std::chrono::milliseconds;
  const milliseconds longest = options.inline_handlers ? milliseconds(10) : milliseconds(50);
  if (options.handler_timeout.count() <= 0) return longest;
  return std::clamp(options.handler_timeout / 4, milliseconds(5), longest);
}

}  // namespace

Dispatcher::Dispatcher(int workers, const GenerationSlot* generations)
    : Dispatcher(FixedPool(workers), generations) {}

Dispatcher::Dispatcher(const Options& options, const GenerationSlot* generations, CloseFn close)
    : options_(Normalized(options)),
      generations_(generations),
      close_(std::move(close)),
      tick_(TickFor(options_)) {
  {
    MutexLock lock(&mu_);
    for (int i = 0; i < options_.workers; ++i) SpawnLocked();
  }
  watch_ = std::thread([this] { WatchLoop(); });
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
    MutexLock lock(&mu_);
    if (Event* e = TakeFreeEventLocked()) return e;
  }
  return new Event;
}

Event* Dispatcher::Submit(Event* event, InlineRun* run_here) {
  bool wake = false;
  bool unrun = false;       // answered here, without running (full queue)
  bool first_drop = false;  // ... and the connection is closed because of it
  Event* fresh = nullptr;
  {
    MutexLock lock(&mu_);
    if (draining_) {
      ++stats_.dropped;
      fresh = event;  // dropped unanswered; reused for the (last) read
    } else {
      Connection* c = FindOrAddLocked(event->message.websocket_event_request());
      // A Disconnect is always taken: the plugin must hear that the
      // connection is gone, and it comes once.
      if (options_.max_queued_per_connection != 0 && event->type != wsproto::Disconnect &&
          (c->closing || c->queued >= options_.max_queued_per_connection)) {
        unrun = true;
        ++stats_.overflow_dropped;
        if (!c->closing) {
          c->closing = true;
          first_drop = true;
          ++stats_.overflow_closes;
          closes_.push_back(CloseRequest{c->key->socket, c->key->connection});
        }
        // c has events queued (it is not empty, or it would not be full or
        // closing), so it stays in the map.
        fresh = event;
      } else {
        event->next = nullptr;
        if (c->tail != nullptr) {
          c->tail->next = event;
        } else {
          c->head = event;
        }
        c->tail = event;
        ++c->queued;
        ++queued_;
        PublishQueuedLocked();
        if (!c->scheduled && run_here != nullptr && options_.inline_handlers &&
            CurrentPollerTurn().polling()) {
          // Nothing queued for the connection: the caller runs it now.
          c->scheduled = true;
          run_here->event = event;
          run_here->connection = c;
        } else if (!c->scheduled) {
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
  }
  if (wake) work_cv_.notify_one();
  if (unrun) {
    const auto& request = event->message.websocket_event_request();
    if (first_drop) {
      watch_cv_.notify_one();  // the watch thread makes the (blocking) close call
      spdlog::warn(
          "connection {} on socket {} has {} events queued (host.max_queued_events_per_connection)"
          ": closing it; its further messages are answered without running",
          request.connection_id(), request.socket_name(), options_.max_queued_per_connection);
    } else {
      spdlog::debug(
          "connection {} on socket {} is closing for a full queue: {} event answered "
          "without running",
          request.connection_id(), request.socket_name(), proto::EventTypeName(event->type));
    }
    // Answered without running: counted as rejected.
    CountAnswer(*event, EventOutcome::kRejected);
    // Never blocks on the network (EventReplier), so fine on a stream thread.
    event->reply_to->Reply(std::move(*event->message.mutable_id()),
                           event->type == wsproto::Connect);
  }
  if (fresh == event) {
    fresh->reply_to.reset();
    fresh->message.Clear();
    return fresh;
  }
  return fresh != nullptr ? fresh : new Event;
}

std::chrono::nanoseconds Dispatcher::RunInline(const InlineRun& run) {
  auto* c = static_cast<Connection*>(run.connection);
  Event* event = run.event;
  Worker* self;
  {
    MutexLock lock(&mu_);
    self = InlineWorkerLocked(CurrentPollerTurn());
    self->event = event;
    ++self->runs;
    ++stats_.inline_runs;
    self->answered.store(false, std::memory_order_relaxed);
    self->progress.plugin.store(nullptr, std::memory_order_relaxed);
  }
  HandlerProgress* const outer = t_handler_progress;
  t_handler_progress = &self->progress;
  const bool answered_here = Run(self, event);
  t_handler_progress = outer;
  bool wake;
  std::chrono::nanoseconds took;
  {
    MutexLock lock(&mu_);
    // Read before the event is finished: from then on Drain() may return and
    // free the record (a wake-up below means events are still queued, so the
    // dispatcher is still there for it).
    took = self->inline_took;
    self->event = nullptr;
    if (self->stuck) {
      self->stuck = false;
      --stats_.stuck;
    }
    wake = FinishEventLocked(c, event, answered_here, /*wake_for_more=*/true);
  }
  if (wake) work_cv_.notify_one();
  return took;
}

Dispatcher::Worker* Dispatcher::InlineWorkerLocked(const PollerTurn& turn) {
  for (const auto& w : workers_) {
    if (w->inline_run && w->turn == turn.turn && w->poller == turn.poller) return w.get();
  }
  auto worker = std::make_unique<Worker>();
  worker->inline_run = true;
  worker->counted = false;
  worker->poller = turn.poller;
  worker->turn = turn.turn;
  workers_.push_back(std::move(worker));
  return workers_.back().get();
}

bool Dispatcher::FinishEventLocked(Connection* c, Event* event, bool answered_here,
                                   bool wake_for_more) {
  if (!answered_here) ++stats_.late_results;
  c->head = event->next;
  if (c->head == nullptr) c->tail = nullptr;
  --c->queued;
  RecycleLocked(event);
  ++stats_.handled;
  if (--queued_ == 0 && draining_) drain_cv_.notify_all();
  PublishQueuedLocked();
  bool wake = false;
  if (c->head != nullptr) {
    PushReadyLocked(c);  // behind the others: one busy connection cannot starve them
    // After an inline run no worker may be looking: bring one in as Submit would.
    if (wake_for_more && !spinning_ && sleeping_ > wakeups_pending_) {
      ++wakeups_pending_;
      wake = true;
    }
  } else {
    RemoveLocked(c);
  }
  MaybeResumeReaders();
  return wake;
}

void Dispatcher::Recycle(Event* event) {
  event->reply_to.reset();
  MutexLock lock(&mu_);
  RecycleLocked(event);
}

bool Dispatcher::HasRoom() const {
  return options_.max_queued == 0 ||
         queued_now_.load(std::memory_order_relaxed) < options_.max_queued;
}

bool Dispatcher::WaitForRoom(RoomWaiter* waiter) {
  MutexLock lock(&mu_);
  if (options_.max_queued == 0 || queued_ < options_.max_queued || draining_) return true;
  waiters_.push_back(waiter);
  return false;
}

void Dispatcher::MaybeResumeReaders() {
  if (waiters_.empty()) return;
  if (!draining_ && queued_ > options_.max_queued - options_.max_queued / 4) return;
  std::vector<RoomWaiter*> waiters;
  waiters.swap(waiters_);
  mu_.Unlock();
  for (RoomWaiter* waiter : waiters) waiter->OnRoom();
  mu_.Lock();
}

void Dispatcher::Drain() {
  {
    MutexLock lock(&mu_);
    draining_ = true;
    // Paused readers must read on to see their streams end.
    MaybeResumeReaders();
    while (queued_ != 0) mu_.Wait(drain_cv_);
    exit_ = true;
  }
  work_cv_.notify_all();
  watch_cv_.notify_all();
  MutexLock join_lock(&join_mu_);
  if (watch_.joinable()) watch_.join();
  std::vector<std::unique_ptr<Worker>> workers;
  {
    MutexLock lock(&mu_);
    workers.swap(workers_);
  }
  for (const auto& w : workers) {
    if (w->thread.joinable()) w->thread.join();
  }
}

std::vector<Dispatcher::RunningHandler> Dispatcher::Running() const {
  std::vector<RunningHandler> running;
  {
    const auto now = std::chrono::steady_clock::now();
    MutexLock lock(&mu_);
    for (const auto& w : workers_) {
      if (w->event != nullptr) running.push_back(DescribeLocked(*w, now));
    }
  }
  std::sort(running.begin(), running.end(),
            [](const RunningHandler& a, const RunningHandler& b) { return a.elapsed > b.elapsed; });
  return running;
}

Dispatcher::Stats Dispatcher::stats() const {
  MutexLock lock(&mu_);
  Stats stats = stats_;
  stats.workers = counted_;
  stats.busy = busy_;
  stats.queued = queued_;
  return stats;
}

void Dispatcher::SpawnLocked() {
  auto worker = std::make_unique<Worker>();
  Worker* raw = worker.get();
  try {
    // The new thread waits for mu_ (held here) before it looks at anything.
    raw->thread = std::thread([this, raw] { WorkerLoop(raw); });
  } catch (const std::system_error& e) {
    spdlog::error("worker pool: cannot start another worker thread ({}); {} running", e.what(),
                  counted_);
    return;
  }
  ++counted_;
  workers_.push_back(std::move(worker));
}

void Dispatcher::WorkerLoop(Worker* self) {
  t_handler_progress = &self->progress;
  MutexLock lock(&mu_);
  for (;;) {
    bool spun = false;
    while (ready_head_ == nullptr) {
      if (exit_) {
        if (self->counted) --counted_;
        self->counted = false;
        self->exited = true;
        return;
      }
      ++idle_seen_;
      if (!spinning_ && !spun) {
        // One worker lingers briefly before sleeping: under load the next
        // event usually arrives within microseconds, and catching it here
        // saves the submitter a futex wake and this thread a context switch.
        spinning_ = true;
        lock.Unlock();
        SpinForWork();
        lock.Lock();
        spinning_ = false;
        spun = true;
        continue;
      }
      ++sleeping_;
      // Only a pool above its base size needs to notice a long idle spell.
      bool idle_long = false;
      if (counted_ > options_.workers) {
        idle_long = mu_.WaitUntil(work_cv_, std::chrono::steady_clock::now() +
                                                options_.idle_retire) == std::cv_status::timeout;
      } else {
        mu_.Wait(work_cv_);
      }
      --sleeping_;
      if (wakeups_pending_ > 0) --wakeups_pending_;
      if (idle_long && ready_head_ == nullptr && !exit_ && counted_ > options_.workers) {
        // The pool shrinks back to its base size once the rush is over.
        --counted_;
        self->counted = false;
        self->exited = true;  // the watch joins the thread
        return;
      }
    }
    Connection* c = ready_head_;
    ready_count_.fetch_sub(1, std::memory_order_relaxed);
    ready_head_ = c->next_ready;
    if (ready_head_ == nullptr) ready_tail_ = nullptr;
    c->next_ready = nullptr;
    // The event stays at the head of its queue while it runs, so the
    // connection's later events line up behind it.
    Event* event = c->head;
    self->event = event;
    ++self->runs;
    ++busy_;
    self->answered.store(false, std::memory_order_relaxed);
    self->progress.plugin.store(nullptr, std::memory_order_relaxed);
    // More work waiting than this worker takes: bring a sleeper in. This
    // chains wake-ups through the pool (off the completion-queue thread) so a backlog
    // that built up while a worker was spinning still runs in parallel.
    const bool wake_another = ready_head_ != nullptr && !spinning_ && sleeping_ > wakeups_pending_;
    if (wake_another) ++wakeups_pending_;

    lock.Unlock();
    if (wake_another) work_cv_.notify_one();
    const bool answered_here = Run(self, event);
    lock.Lock();

    self->event = nullptr;
    const bool was_stuck = self->stuck;
    if (!was_stuck) --busy_;
    // This worker looks for work next: no wake-up needed for the connection.
    FinishEventLocked(c, event, answered_here, /*wake_for_more=*/false);
    if (was_stuck) {
      self->stuck = false;
      --stats_.stuck;
      if (exit_ || counted_ >= options_.max_workers) {
        self->exited = true;  // the pool was refilled meanwhile
        return;
      }
      self->counted = true;
      ++counted_;
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

bool Dispatcher::Run(Worker* self, Event* event) {
  HandleResult result = HandleResult::kAccepted;
  bool answered_here = false;
  {
    // Held until the answer is queued: the generation (and its plugins) stays
    // loaded for as long as this event runs.
    std::shared_ptr<const Generation> generation = generations_->Current();
    self->progress.last_reading = {};  // Handle() may leave its last clock reading
    const auto started = self->inline_run ? std::chrono::steady_clock::now()
                                          : std::chrono::steady_clock::time_point();
    if (generation) {
      try {
        result = generation->Handle(event->type, event->message.websocket_event_request());
      } catch (...) {
        // Handle() promises not to throw; the event is owed an answer anyway,
        // and a connect whose handlers did not finish is not let in.
        spdlog::error("handler chain threw for {} event of connection {}",
                      proto::EventTypeName(event->type),
                      event->message.websocket_event_request().connection_id());
        result = HandleResult::kFailed;
      }
    }
    if (self->inline_run) self->inline_took = std::chrono::steady_clock::now() - started;
    // Only a Connect is ever rejected (docs/PROTOCOL.md#default-answers).
    const bool reject = event->type == wsproto::Connect && result != HandleResult::kAccepted;
    const auto& request = event->message.websocket_event_request();
    if (spdlog::should_log(spdlog::level::trace)) {
      spdlog::trace("{} event {} of {}/{}: {}", proto::EventTypeName(event->type),
                    event->message.id(), request.socket_name(), request.connection_id(),
                    reject ? "reject" : "accept");
    }
    if (!self->answered.exchange(true, std::memory_order_acq_rel)) {
      CountAnswer(*event, OutcomeOf(result), self->progress.last_reading);
      event->reply_to->Reply(std::move(*event->message.mutable_id()), reject);
      answered_here = true;
    } else {
      // The watch answered at the deadline (and took reply_to); the event
      // must not be answered twice.
      const std::string* plugin = self->progress.plugin.load(std::memory_order_acquire);
      const auto late = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - self->timed_out_at);
      spdlog::warn(
          "handler of plugin {} for the {} event of connection {} on socket {} returned {} ms "
          "after it timed out (it ran at least {} ms); its result ({}) is dropped: the host "
          "answered that event already",
          plugin != nullptr ? *plugin : "?", proto::EventTypeName(event->type),
          request.connection_id(), request.socket_name(), late.count(),
          (self->elapsed_at_timeout + late).count(), reject ? "reject" : "accept");
    }
    // Letting go of a generation a reload replaced may be the last reference:
    // that runs the plugins' state export and shutdown and unloads them, which
    // must not happen on the polling thread's turn.
    if (self->inline_run && generation && generation != generations_->Current()) AboutToBlock();
  }
  if (answered_here) event->reply_to.reset();
  return answered_here;
}

void Dispatcher::WatchLoop() {
  std::vector<TimedOut> timed_out;
  std::vector<HandOffRequest> hand_offs;
  std::vector<CloseRequest> closes;
  std::vector<std::unique_ptr<Worker>> exited;
  MutexLock lock(&mu_);
  while (!exit_) {
    if (closes_.empty()) mu_.WaitUntil(watch_cv_, std::chrono::steady_clock::now() + tick_);
    if (exit_) break;
    ScanLocked(std::chrono::steady_clock::now(), &timed_out, &hand_offs);
    closes.swap(closes_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      if ((*it)->exited) {
        exited.push_back(std::move(*it));
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    if (timed_out.empty() && closes.empty() && exited.empty() && hand_offs.empty()) continue;
    lock.Unlock();
    for (const HandOffRequest& h : hand_offs) h.poller->HandOff(h.turn);
    hand_offs.clear();
    for (const auto& w : exited) w->thread.join();
    exited.clear();
    for (TimedOut& t : timed_out) {
      const RunningHandler& what = t.what;
      const bool close = what.type == wsproto::Message;
      spdlog::warn(
          "handler of plugin {} has run {} ms (host.handler_timeout_ms is {}) on the {} event of "
          "connection {} on socket {}: {}; its worker no longer counts toward the pool",
          what.plugin.empty() ? "?" : what.plugin, what.elapsed.count(),
          options_.handler_timeout.count(), proto::EventTypeName(what.type), what.connection,
          what.socket,
          what.type == wsproto::Connect ? "rejecting the connect"
          : close                       ? "answering it and closing the connection"
                                        : "answering it");
      if (t.metrics != nullptr) {
        t.metrics->events[proto::ToNitricEventType(what.type)].Count(
            EventOutcome::kTimeout, std::chrono::steady_clock::now() - t.read_at);
      }
      if (options_.metrics != nullptr) {
        options_.metrics->CountHandlerTimeout(what.plugin.empty() ? "?" : what.plugin, what.socket);
      }
      t.reply_to->Reply(std::move(t.id), what.type == wsproto::Connect);
      t.reply_to.reset();
      // A rejected connect has no connection to close, a Disconnect's is gone.
      if (close && close_) close_(what.socket, what.connection);
    }
    timed_out.clear();
    for (const CloseRequest& c : closes) {
      if (close_) close_(c.socket, c.connection);
    }
    closes.clear();
    lock.Lock();
  }
}

void Dispatcher::ScanLocked(std::chrono::steady_clock::time_point now,
                            std::vector<TimedOut>* timed_out,
                            std::vector<HandOffRequest>* hand_offs) {
  const auto timeout = options_.handler_timeout;
  for (const auto& wp : workers_) {
    Worker& w = *wp;
    if (w.event == nullptr) {
      w.seen = false;
      continue;
    }
    if (!w.seen || w.seen_runs != w.runs) {
      w.seen = true;
      w.seen_runs = w.runs;
      w.seen_at = now;
      continue;
    }
    // An inline run seen on two ticks: its thread is not polling for the
    // others, whoever it is, so pass polling on (a no-op if it did already).
    if (w.inline_run && w.handed_off_runs != w.runs) {
      w.handed_off_runs = w.runs;
      ++stats_.hand_offs;
      hand_offs->push_back(HandOffRequest{w.poller, w.turn});
    }
    if (w.stuck || timeout.count() <= 0 || now - w.seen_at < timeout) continue;
    w.timed_out_at = now;
    w.elapsed_at_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(now - w.seen_at);
    if (w.answered.exchange(true, std::memory_order_acq_rel)) continue;  // it just returned
    w.stuck = true;
    if (!w.inline_run) {  // a polling thread's record never counted
      w.counted = false;
      --counted_;
      --busy_;
    }
    ++stats_.stuck;
    ++stats_.timed_out;
    TimedOut t;
    t.what = DescribeLocked(w, now);
    t.reply_to = std::move(w.event->reply_to);
    t.id = w.event->message.id();
    t.metrics = w.event->metrics;
    t.read_at = w.event->read_at;
    timed_out->push_back(std::move(t));
  }
  if (exit_) return;
  // Stuck workers do not count: refill the base size at once.
  while (counted_ < options_.workers) {
    const int before = counted_;
    SpawnLocked();
    if (counted_ == before) break;  // could not start a thread; logged
  }
  // Grow by one when every counted worker has been busy for a whole tick
  // with events waiting; a worker that found nothing to do in between means
  // the pool kept up.
  const bool saturated = ready_head_ != nullptr && busy_ >= counted_;
  if (saturated && was_saturated_ && idle_seen_ == idle_seen_at_tick_ &&
      counted_ < options_.max_workers) {
    SpawnLocked();
  }
  was_saturated_ = saturated;
  idle_seen_at_tick_ = idle_seen_;
}

Dispatcher::RunningHandler Dispatcher::DescribeLocked(
    const Worker& worker, std::chrono::steady_clock::time_point now) const {
  RunningHandler r;
  const std::string* plugin = worker.progress.plugin.load(std::memory_order_acquire);
  if (plugin != nullptr) r.plugin = *plugin;
  const auto& request = worker.event->message.websocket_event_request();
  r.socket = request.socket_name();
  r.connection = request.connection_id();
  r.type = worker.event->type;
  if (worker.seen && worker.seen_runs == worker.runs) {
    r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - worker.seen_at);
  }
  r.timed_out = worker.stuck;
  return r;
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
