#include "devserver/websocket_service.h"

#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace nitric::devserver {
namespace {

grpc::Status CheckTarget(const std::string& socket, const std::string& connection) {
  if (socket.empty())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "socket_name is empty");
  if (connection.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "connection_id is empty");
  }
  return grpc::Status::OK;
}

}  // namespace

void WebsocketService::Start(CqPoller& poller) {
  send_ = {this, &poller, &WebsocketService::RequestSendMessage, &WebsocketService::DoSendMessage};
  close_ = {this, &poller, &WebsocketService::RequestCloseConnection,
            &WebsocketService::DoCloseConnection};
  details_ = {this, &poller, &WebsocketService::RequestSocketDetails,
              &WebsocketService::DoSocketDetails};
  // SendMessage comes once per websocket message sent (a broadcast makes one
  // per recipient, pipelined), so several calls wait for it.
  ServeOnQueue(&send_, 8);
  ServeOnQueue(&close_, 1);
  ServeOnQueue(&details_, 1);
}

grpc::Status WebsocketService::DoSendMessage(grpc::ServerContext& /*ctx*/,
                                             wsproto::WebsocketSendRequest& request,
                                             wsproto::WebsocketSendResponse* /*response*/) {
  grpc::Status s = CheckTarget(request.socket_name(), request.connection_id());
  if (!s.ok()) return s;
  // The request is ours under this API: its payload moves into the gateway's
  // send queue.
  return gateway_.Send(request.socket_name(), request.connection_id(),
                       std::move(*request.mutable_data()));
}

grpc::Status WebsocketService::DoCloseConnection(
    grpc::ServerContext& /*ctx*/, wsproto::WebsocketCloseConnectionRequest& request,
    wsproto::WebsocketCloseConnectionResponse* /*response*/) {
  grpc::Status s = CheckTarget(request.socket_name(), request.connection_id());
  if (!s.ok()) return s;
  return gateway_.Close(request.socket_name(), request.connection_id());
}

grpc::Status WebsocketService::DoSocketDetails(grpc::ServerContext& /*ctx*/,
                                               wsproto::WebsocketDetailsRequest& request,
                                               wsproto::WebsocketDetailsResponse* response) {
  const std::string& socket = request.socket_name();
  if (socket.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "socket_name is empty");
  }
  if (std::optional<std::string> url = gateway_.Url(socket)) {
    response->set_url(std::move(*url));
    return grpc::Status::OK;
  }
  // A known socket whose listener could not be opened earlier (port busy):
  // try again, so the caller gets the real reason.
  bool known = resources_.Declared(resproto::Websocket, socket) ||
               !handlers_.RegisteredTypes(socket).empty();
  if (!known) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "socket '" + socket + "' was never declared or registered");
  }
  std::string url;
  grpc::Status s = gateway_.EnsureSocket(socket, &url);
  if (s.ok()) response->set_url(std::move(url));
  return s;
}

}  // namespace nitric::devserver
