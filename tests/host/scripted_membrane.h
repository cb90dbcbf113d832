// A membrane the test drives by hand, for what the dev membrane's gateway
// never does: many events of one connection in flight at once (the gateway
// delivers a connection's frames one at a time). A gRPC server on
// 127.0.0.1:<ephemeral> with:
//   Resources.Declare                 OK
//   Websocket.SendMessage             OK, recorded
//   Websocket.CloseConnection         OK, recorded
//   Websocket.SocketDetails           a placeholder URL
//   WebsocketHandler.HandleEvents     acknowledges each registration; the
//                                     test sends events with Send(), answers
//                                     are recorded by id.
// Thread-safety: every method is thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/server.h>

#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::testing {

class ScriptedMembrane {
 public:
  using EventType = ::nitric::proto::websockets::v1::WebsocketEventType;

  ScriptedMembrane();
  ~ScriptedMembrane();  // cancels the streams and stops the server
  ScriptedMembrane(const ScriptedMembrane&) = delete;
  ScriptedMembrane& operator=(const ScriptedMembrane&) = delete;

  // Binds 127.0.0.1:0. False if it cannot.
  bool Start();
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Waits until streams for the three event types of `socket` registered.
  bool WaitRegistered(const std::string& socket, std::chrono::milliseconds timeout);

  // Sends event `id` (Connect, Disconnect, or Message with `body`) of
  // `connection` on the stream registered for (socket, type). False when none
  // is registered or the write failed.
  bool Send(EventType type, const std::string& socket, const std::string& connection,
            const std::string& id, const std::string& body = "");

  // Waits until every id of `ids` has been answered at least once.
  bool WaitAnswered(const std::vector<std::string>& ids, std::chrono::milliseconds timeout);
  // Each id's answers (reject flags), in arrival order.
  std::map<std::string, std::vector<bool>> answers() const;

  // Waits until CloseConnection(socket, connection) was called.
  bool WaitClosed(const std::string& socket, const std::string& connection,
                  std::chrono::milliseconds timeout);
  std::set<std::pair<std::string, std::string>> closed() const;

 private:
  class Services;
  friend class Services;
  using Stream = grpc::ServerReaderWriter<::nitric::proto::websockets::v1::ServerMessage,
                                          ::nitric::proto::websockets::v1::ClientMessage>;

  // Called by the services.
  grpc::Status HandleEvents(grpc::ServerContext* context, Stream* stream);
  void RecordClose(const std::string& socket, const std::string& connection);

  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::pair<std::string, int>, Stream*> streams_;  // GUARDED_BY(mu_)
  std::map<std::string, std::vector<bool>> answers_;        // GUARDED_BY(mu_)
  std::set<std::pair<std::string, std::string>> closed_;    // GUARDED_BY(mu_)
};

}  // namespace nitric::testing
