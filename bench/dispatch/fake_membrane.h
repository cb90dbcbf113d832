// The membrane as the dispatch benchmark plays it: a gRPC server on
// 127.0.0.1:<ephemeral> with the four Nitric services, cut down to what a
// process under test needs to start and serve events.
//
//   Resources.Declare          accepted, counted
//   KvStore                    Get: NOT_FOUND, Set/Delete: OK, ScanKeys: no keys
//   Websocket                  SendMessage / CloseConnection: OK, SocketDetails: a URL
//   WebsocketHandler.HandleEvents
//                              the Nitric semantics that matter for load: the
//                              first message must be a registration; one stream
//                              per (socket, event type), a second is refused;
//                              ack with registration_response; events go out
//                              as ServerMessage{id, websocket_event_request}
//                              with any number in flight, and answers are
//                              matched by id by the caller's AnswerFn.
//
// Every service runs on gRPC's completion-queue (CQ) async API, on one
// completion queue drained by one thread of the membrane's own: HandleEvents
// through its typed AsyncService, the others through the generic service. So
// the driver costs less CPU per event than the process it measures. Measured
// on 2 cores with the ceiling contender: 20-25 us of CPU per event at N=100
// and 49-53 at N=1, where the callback API took 27-31 and 100-108 (and a
// whole core at N=100: the driver was the bottleneck). Leaving only the unary
// services on the callback API still costs ~35 us at N=100: their threads
// poll the same connections and hand every read over to the queue's thread.
//
// Writes: by default each event is its own gRPC write, and gRPC 1.51 gives
// each its own sendmsg. With `batch_writes` the writer batches the way
// grpc-go's does (flush when the stream's queue runs empty): see
// EventStream::WriteFrontLocked.
//
// Thread-safety: every public method is thread-safe. AnswerFn runs on the
// membrane's one completion-queue thread, one answer at a time; it may call
// Send() but must not block.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/server.h>

#include "nitric/proto/websockets/v1/websockets.pb.h"

namespace nitric::bench {

using EventType = ::nitric::proto::websockets::v1::WebsocketEventType;

class EventStream;

class FakeMembrane {
 public:
  // Called for every answer: the event id as sent and the reject flag.
  using AnswerFn = std::function<void(const std::string& id, bool reject)>;

  explicit FakeMembrane(AnswerFn on_answer, bool batch_writes = false);
  ~FakeMembrane();  // Shutdown()
  FakeMembrane(const FakeMembrane&) = delete;
  FakeMembrane& operator=(const FakeMembrane&) = delete;

  // Binds 127.0.0.1:0 and serves. False (with *error) if it cannot.
  bool Start(std::string* error);
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Blocks until streams for all three event types of `socket` are registered,
  // or the deadline passes. Returns the time the last one registered.
  std::optional<std::chrono::steady_clock::time_point> WaitRegistered(
      const std::string& socket, std::chrono::steady_clock::time_point deadline);

  // Number of (socket, type) pairs registered right now.
  std::size_t RegisteredCount() const;

  // Queues `message` (an event with its id) on the stream registered for
  // (socket, type). False when no live stream is registered for it: the event
  // is not sent.
  bool Send(EventType type, const std::string& socket,
            ::nitric::proto::websockets::v1::ServerMessage message);

  // Counters for the report.
  uint64_t declares() const;
  uint64_t refused_streams() const;
  // Event-stream writes, and those that flushed the transport (written without
  // the buffer hint): writes / flushes is the events per TCP write, at most.
  uint64_t writes() const { return writes_.load(std::memory_order_relaxed); }
  uint64_t flushes() const { return flushes_.load(std::memory_order_relaxed); }

  // Ends every stream and stops the server. Idempotent.
  void Shutdown();

 private:
  friend class EventStream;
  class Services;

  // The completion-queue thread: runs the tag of every call's operations.
  void ServeEvents();
  // Asks gRPC for the next HandleEvents call (one is asked for at a time).
  void RequestStream();
  // On the completion-queue thread before the queue shuts down: no stream
  // starts another operation.
  void CloseStreams();

  // Called by streams. Register returns false for a duplicate registration.
  bool Register(const std::string& socket, EventType type, std::shared_ptr<EventStream> stream);
  void Unregister(EventStream* stream);
  void StreamDone(EventStream* stream);
  void Answer(const std::string& id, bool reject) { on_answer_(id, reject); }
  void CountDeclare();
  bool OnQueueThread() const { return std::this_thread::get_id() == queue_thread_; }
  // On the completion-queue thread: `stream` holds a write until the queue
  // runs empty.
  void Hold(std::shared_ptr<EventStream> stream) { held_.push_back(std::move(stream)); }
  void FlushHeld();
  void CountWrite(bool flush) {
    writes_.fetch_add(1, std::memory_order_relaxed);
    if (flush) flushes_.fetch_add(1, std::memory_order_relaxed);
  }

  AnswerFn on_answer_;
  const bool batch_writes_;
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> flushes_{0};
  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::thread events_thread_;
  std::thread::id queue_thread_;  // set by the thread before it runs anything
  // Touched by the completion-queue thread only.
  std::vector<std::shared_ptr<EventStream>> held_;
  std::vector<std::shared_ptr<EventStream>> flushing_;
  bool closing_ = false;  // touched by the completion-queue thread only

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  // Streams are shared: Send takes a reference under mutex_, so a Send racing
  // with a stream ending never touches freed memory.
  std::map<std::pair<std::string, int>, std::shared_ptr<EventStream>> registered_;
  std::map<std::pair<std::string, int>, std::chrono::steady_clock::time_point> registered_at_;
  // Every stream with an operation pending, or not yet over.
  std::map<EventStream*, std::shared_ptr<EventStream>> live_;
  uint64_t declares_ = 0;
  uint64_t refused_streams_ = 0;
  bool shut_down_ = false;
};

}  // namespace nitric::bench
