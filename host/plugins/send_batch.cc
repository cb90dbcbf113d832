#include "host/plugins/send_batch.h"

#include "host/base/membrane_client.h"

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

}  // namespace

SendBatch::SendBatch() = default;

SendBatch::~SendBatch() { Finish(); }

SendBatch* SendBatch::Current() { return t_current; }

SendBatch::Scope::Scope(SendBatch* batch) : previous_(t_current) { t_current = batch; }

SendBatch::Scope::~Scope() { t_current = previous_; }

void SendBatch::Start(MembraneClient* client, std::string_view socket, std::string_view connection,
                      std::string_view data) {
  std::string target = TargetKey(socket, connection);
  if (!state_) state_ = std::make_shared<State>();  // first send of this batch
  {
    MutexLock lock(&state_->mu);
    while (state_->in_flight >= kMaxInFlight || state_->targets.count(target) != 0) {
      state_->mu.Wait(state_->done);
    }
    ++state_->in_flight;
    state_->targets.insert(target);
  }
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
                      state->done.notify_all();
                    });
}

void SendBatch::Flush() {
  if (!state_) return;
  MutexLock lock(&state_->mu);
  while (state_->in_flight != 0) state_->mu.Wait(state_->done);
}

std::unique_ptr<SendBatch::Failure> SendBatch::Finish() {
  if (!state_) return nullptr;  // nothing was sent
  MutexLock lock(&state_->mu);
  while (state_->in_flight != 0) state_->mu.Wait(state_->done);
  return std::move(state_->failure);
}

}  // namespace nitric::host
