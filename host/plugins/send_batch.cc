#include "host/plugins/send_batch.h"

#include <atomic>

#include "host/base/membrane_client.h"
#include "host/base/poller.h"

namespace nitric::host {

namespace {

// A raw pointer: a trivially destructible thread_local pins nothing and
// needs no cleanup when a thread exits.
thread_local SendBatch* t_current = nullptr;

std::string TargetKey(std::string_view socket, std::string_view connection) {
  std::string key;
  key.reserve(socket.size() + 1 + connection.size());
  key.append(socket).append(1, '\n').append(connection);
  return key;
}

// A tracked send's id: the call's serial in the high 40 bits, its index + 1
// in the low 24. Call serials are unique in the process: each thread takes
// blocks of 2^20 from the shared counter (block 0 is never handed out, so
// no id is 0), as the event handles do (host_api.cc).
constexpr int kIndexBits = 24;
constexpr int kSerialBlockBits = 20;
std::atomic<uint64_t> g_next_serial_block{1};
thread_local uint64_t t_serial_next = 0;
thread_local uint64_t t_serial_end = 0;

uint64_t NextCallSerial() {
  if (t_serial_next == t_serial_end) {
    const uint64_t block = g_next_serial_block.fetch_add(1, std::memory_order_relaxed);
    t_serial_next = block << kSerialBlockBits;
    t_serial_end = t_serial_next + (uint64_t{1} << kSerialBlockBits);
  }
  return t_serial_next++;
}

}  // namespace

void SendBatch::State::WakeWaiterIfDue(int64_t completed_index) {
  const bool due = waiting_for == kAnyCompletion || (waiting_for == kAllDone && in_flight == 0) ||
                   (waiting_for == kFewInFlight && in_flight <= kResumeAt) ||
                   (waiting_for >= 0 && waiting_for == completed_index);
  if (due) done.notify_all();
}

void SendBatch::State::WaitFor(int64_t what) {
  AboutToBlock();  // the completions come through the polling thread
  waiting_for = what;
  mu.Wait(done);
  waiting_for = kNobody;
}

SendBatch::SendBatch() = default;

SendBatch::~SendBatch() { Finish(); }

SendBatch* SendBatch::Current() { return t_current; }

SendBatch::Scope::Scope(SendBatch* batch) : previous_(t_current) { t_current = batch; }

SendBatch::Scope::~Scope() { t_current = previous_; }

std::string SendBatch::Reserve(std::string_view socket, std::string_view connection) {
  std::string target = TargetKey(socket, connection);
  if (!state_) state_ = std::make_shared<State>();  // first send of this batch
  MutexLock lock(&state_->mu);
  // Loops, not single waits: a condition variable may wake up spuriously.
  if (state_->in_flight >= kMaxInFlight) {
    while (state_->in_flight > kResumeAt) state_->WaitFor(State::kFewInFlight);
  }
  // Only completions change in_flight meanwhile, so it stays below the bound.
  while (state_->targets.count(target) != 0) state_->WaitFor(State::kAnyCompletion);
  ++state_->in_flight;
  state_->targets.insert(target);
  return target;
}

void SendBatch::Start(MembraneClient* client, std::string_view socket, std::string_view connection,
                      std::string_view data) {
  std::string target = Reserve(socket, connection);
  std::shared_ptr<State> state = state_;
  client->SendAsync(socket, connection, data,
                    [state, target = std::move(target), socket = std::string(socket),
                     connection = std::string(connection)](const Status& status) {
                      MutexLock lock(&state->mu);
                      --state->in_flight;
                      state->targets.erase(state->targets.find(target));
                      if (!status.ok() && !state->failure) {
                        state->failure.reset(new Failure{status, socket, connection});
                      }
                      state->WakeWaiterIfDue(State::kNobody);
                    });
}

uint64_t SendBatch::StartTracked(MembraneClient* client, std::string_view socket,
                                 std::string_view connection, std::string_view data) {
  if (!state_) state_ = std::make_shared<State>();
  size_t index;
  {
    MutexLock lock(&state_->mu);
    if (state_->tracked.size() >= kMaxTracked) return 0;
    index = state_->tracked.size();
    state_->tracked.emplace_back();
  }
  if (call_serial_ == 0) call_serial_ = NextCallSerial();
  const uint64_t id = (call_serial_ << kIndexBits) | (index + 1);
  std::string target = Reserve(socket, connection);
  std::shared_ptr<State> state = state_;
  client->SendAsync(socket, connection, data,
                    [state, index, target = std::move(target), socket = std::string(socket),
                     connection = std::string(connection)](const Status& status) {
                      MutexLock lock(&state->mu);
                      --state->in_flight;
                      state->targets.erase(state->targets.find(target));
                      Tracked& slot = state->tracked[index];
                      slot.done = true;
                      if (!status.ok()) {
                        slot.status = status;
                        slot.socket = socket;
                        slot.connection = connection;
                      }
                      state->WakeWaiterIfDue(static_cast<int64_t>(index));
                    });
  return id;
}

SendBatch::Waited SendBatch::Wait(uint64_t id) {
  const uint64_t serial = id >> kIndexBits;
  const uint64_t low = id & ((uint64_t{1} << kIndexBits) - 1);
  if (!state_ || call_serial_ == 0 || serial != call_serial_ || low == 0) {
    return Waited{Waited::kUnknown, Status(), {}, {}};
  }
  MutexLock lock(&state_->mu);
  if (low > state_->tracked.size()) return Waited{Waited::kUnknown, Status(), {}, {}};
  Tracked& slot = state_->tracked[low - 1];
  if (slot.waited) return Waited{Waited::kAlreadyWaited, Status(), {}, {}};
  while (!slot.done) state_->WaitFor(static_cast<int64_t>(low - 1));
  slot.waited = true;
  return Waited{Waited::kCompleted, slot.status, slot.socket, slot.connection};
}

void SendBatch::Flush() {
  if (!state_) return;
  MutexLock lock(&state_->mu);
  while (state_->in_flight != 0) state_->WaitFor(State::kAllDone);
}

std::unique_ptr<SendBatch::Failure> SendBatch::Finish() {
  if (!state_) return nullptr;  // nothing was sent
  MutexLock lock(&state_->mu);
  while (state_->in_flight != 0) state_->WaitFor(State::kAllDone);
  // A tracked send nobody waited for fails the call like an untracked one.
  for (Tracked& slot : state_->tracked) {
    if (!slot.waited && !slot.status.ok() && !state_->failure) {
      state_->failure.reset(
          new Failure{slot.status, std::move(slot.socket), std::move(slot.connection)});
    }
  }
  state_->tracked.clear();
  call_serial_ = 0;  // the ids of this call are no longer valid
  return std::move(state_->failure);
}

}  // namespace nitric::host
