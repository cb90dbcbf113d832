// WebsocketHandler.HandleEvents and the registry of handler streams.
//
// A service opens one HandleEvents stream per (socket, event type) and
// registers it with its first message. The gateway then delivers events
// through the EventSink interface; each event goes out on the registered
// stream with a fresh id, and the answer that carries the same id completes it.
// Many events may be in flight on one stream and answers may come in any order.
//
// Stream lifecycle (docs/PROTOCOL.md#dev-gateway):
//   first message not a registration        -> stream ends INVALID_ARGUMENT
//   (socket, type) already taken            -> stream ends ALREADY_EXISTS
//   registered                              -> ack: ServerMessage{registration_response}
//   stream ends (either side, any reason)   -> registration removed, every event
//                                              still waiting fails (delivered=false)
//   event not answered within event_timeout -> that event fails (delivered=false);
//                                              the stream stays, and after
//                                              unhealthy_after timeouts in a row
//                                              it is logged as unhealthy
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <grpcpp/completion_queue.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/status.h>

#include "devserver/cq_poller.h"
#include "devserver/event_sink.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::devserver {

struct HandlerRegistryOptions {
  // An event not answered by then fails its delivery: a Connect is refused,
  // a message's connection is closed, a Disconnect is given up.
  std::chrono::milliseconds event_timeout = std::chrono::seconds(30);
  // This many timeouts in a row on one stream (no answer in between) log it
  // as unhealthy, once per run of timeouts.
  int unhealthy_after = 3;
};

// Thread-safety: every public method is thread-safe. Deliver() never blocks on
// the network and never calls a callback while holding a lock. No thread is
// dedicated to a stream: the calls are served with gRPC's completion-queue API
// on a queue of the registry's own (CqPoller), which its thread polls
// (accepting calls, reads, write and finish completions, and the answers'
// callbacks); another thread fails events whose deadline passed
// (docs/ARCHITECTURE.md#dev-membrane).
class HandlerRegistry final : public EventSink, private CqPoller::Handler {
 public:
  // Called (outside any lock) when a stream registers for a socket, so that
  // the socket's gateway listener exists; a failure is logged and does not
  // refuse the registration.
  using SocketHook = std::function<grpc::Status(const std::string& socket)>;

  explicit HandlerRegistry(SocketHook on_socket_registered = nullptr,
                           HandlerRegistryOptions options = {});
  // REQUIRES: Stop() was called, or the server built with AddTo() was never
  // built or started. Stop()s.
  ~HandlerRegistry() override;
  HandlerRegistry(const HandlerRegistry&) = delete;
  HandlerRegistry& operator=(const HandlerRegistry&) = delete;

  // Registers the WebsocketHandler service and the registry's completion
  // queue with `builder`. Call once, before builder.BuildAndStart().
  void AddTo(grpc::ServerBuilder& builder);
  // Starts accepting HandleEvents calls on the server built from that
  // builder, and the polling threads. Call once, after BuildAndStart()
  // succeeded.
  void Start();
  // The completion queue and its thread, which other services of the same
  // server may share (WebsocketService::Start).
  CqPoller& poller() { return poller_; }

  // EventSink.
  void Deliver(wsproto::WebsocketEventType type, wsproto::WebsocketEventRequest event,
               Callback done) override;
  std::vector<wsproto::WebsocketEventType> RegisteredTypes(
      const std::string& socket) const override;

  // Ends every stream with UNAVAILABLE, fails every waiting event and refuses
  // new streams and deliveries from now on. Idempotent.
  void Shutdown();

  // REQUIRES: the gRPC server built with AddTo() has been shut down
  // (Server::Shutdown returned) and not yet destroyed: gRPC's own requests on
  // the completion queue refer to it. Shuts the completion queue down and
  // polls it until gRPC has handed back every operation, which the server's
  // shutdown has ended. Idempotent.
  void Stop();

 private:
  class Stream;
  static constexpr std::size_t kTypes = 3;  // Connect, Disconnect, Message
  using Slots = std::array<std::shared_ptr<Stream>, kTypes>;

  // Stream bookkeeping, called by Stream.
  // Moves an accepted call into live_; false when shut down (the stream is
  // kept anyway, to be ended).
  bool Adopt(std::shared_ptr<Stream> stream);
  grpc::Status Register(const std::string& socket, wsproto::WebsocketEventType type,
                        Stream* stream);
  void Unregister(const std::string& socket, wsproto::WebsocketEventType type, Stream* stream);
  void Forget(Stream* stream);  // once gRPC has handed back every operation of the call
  // REQUIRES: only a polling thread (one accept is outstanding at a time), or
  // Start() before they run. Asks gRPC for the next HandleEvents call.
  void RequestCall();
  // A polling thread: a HandleEvents call was accepted (or, not ok, the
  // server is shutting down).
  void OnCompletion(uint8_t op, bool ok) override;
  uint64_t NextId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  // The deadline thread: every tick, fails the overdue events of every stream.
  void ExpireOverdueLoop();
  void StopDeadlines();

  const SocketHook on_socket_registered_;
  const HandlerRegistryOptions options_;
  wsproto::WebsocketHandler::AsyncService service_;
  CqPoller poller_;
  CqPoller::Tag accept_tag_{this, 0};
  // The call gRPC will fill next (RequestCall); only the polling thread
  // handling the accept touches it once Start() returned.
  std::shared_ptr<Stream> accepting_;
  std::atomic<uint64_t> next_id_{1};

  mutable std::mutex mu_;
  bool shut_down_ = false;  // GUARDED_BY(mu_)
  // socket -> stream per event type.
  std::unordered_map<std::string, Slots> registered_;  // GUARDED_BY(mu_)
  // Every call gRPC has handed us and not yet handed back (Forget).
  std::unordered_map<Stream*, std::shared_ptr<Stream>> live_;  // GUARDED_BY(mu_)

  std::mutex deadline_mu_;
  std::condition_variable deadline_cv_;
  bool deadline_stop_ = false;   // GUARDED_BY(deadline_mu_)
  std::thread deadline_thread_;  // last: started once everything above exists
};

}  // namespace nitric::devserver
