// The Websocket gRPC service (docs/PROTOCOL.md#websocket-calls, nitric.proto.websockets.v1):
// SendMessage / CloseConnection / SocketDetails, answered by the gateway.
#pragma once

#include "devserver/event_sink.h"
#include "devserver/gateway.h"
#include "devserver/resources_service.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::devserver {

// Thread-safety: thread-safe (the gateway is). REQUIRES: the references
// outlive the service.
class WebsocketService final : public wsproto::Websocket::CallbackService {
 public:
  WebsocketService(Gateway& gateway, const ResourcesService& resources, const EventSink& handlers)
      : gateway_(gateway), resources_(resources), handlers_(handlers) {}

  // NOT_FOUND for an unknown socket or connection.
  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* ctx,
                                        const wsproto::WebsocketSendRequest* request,
                                        wsproto::WebsocketSendResponse* response) override;
  // Closes the client with 1000. NOT_FOUND for an unknown socket or connection.
  grpc::ServerUnaryReactor* CloseConnection(
      grpc::CallbackServerContext* ctx, const wsproto::WebsocketCloseConnectionRequest* request,
      wsproto::WebsocketCloseConnectionResponse* response) override;
  // "ws://HOST:PORT" of the socket's listener; NOT_FOUND for a socket that was
  // never declared nor registered.
  grpc::ServerUnaryReactor* SocketDetails(grpc::CallbackServerContext* ctx,
                                          const wsproto::WebsocketDetailsRequest* request,
                                          wsproto::WebsocketDetailsResponse* response) override;

 private:
  Gateway& gateway_;
  const ResourcesService& resources_;
  const EventSink& handlers_;
};

}  // namespace nitric::devserver
