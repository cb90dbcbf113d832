#include "devserver/websocket_service.h"

#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace nitric::devserver {
namespace {

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, grpc::Status status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

grpc::Status CheckTarget(const std::string& socket, const std::string& connection) {
  if (socket.empty())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "socket_name is empty");
  if (connection.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "connection_id is empty");
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::ServerUnaryReactor* WebsocketService::SendMessage(
    grpc::CallbackServerContext* ctx, const wsproto::WebsocketSendRequest* request,
    wsproto::WebsocketSendResponse* /*response*/) {
  grpc::Status s = CheckTarget(request->socket_name(), request->connection_id());
  if (!s.ok()) return Done(ctx, std::move(s));
  // The request is const under the callback API, so the payload is copied once
  // into the gateway's send queue.
  return Done(ctx,
              gateway_.Send(request->socket_name(), request->connection_id(), request->data()));
}

grpc::ServerUnaryReactor* WebsocketService::CloseConnection(
    grpc::CallbackServerContext* ctx, const wsproto::WebsocketCloseConnectionRequest* request,
    wsproto::WebsocketCloseConnectionResponse* /*response*/) {
  grpc::Status s = CheckTarget(request->socket_name(), request->connection_id());
  if (!s.ok()) return Done(ctx, std::move(s));
  return Done(ctx, gateway_.Close(request->socket_name(), request->connection_id()));
}

grpc::ServerUnaryReactor* WebsocketService::SocketDetails(
    grpc::CallbackServerContext* ctx, const wsproto::WebsocketDetailsRequest* request,
    wsproto::WebsocketDetailsResponse* response) {
  const std::string& socket = request->socket_name();
  if (socket.empty()) {
    return Done(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "socket_name is empty"));
  }
  if (std::optional<std::string> url = gateway_.Url(socket)) {
    response->set_url(std::move(*url));
    return Done(ctx, grpc::Status::OK);
  }
  // A known socket whose listener could not be opened earlier (port busy):
  // try again, so the caller gets the real reason.
  bool known = resources_.Declared(resproto::Websocket, socket) ||
               !handlers_.RegisteredTypes(socket).empty();
  if (!known) {
    return Done(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                  "socket '" + socket + "' was never declared or registered"));
  }
  std::string url;
  grpc::Status s = gateway_.EnsureSocket(socket, &url);
  if (s.ok()) response->set_url(std::move(url));
  return Done(ctx, std::move(s));
}

}  // namespace nitric::devserver
