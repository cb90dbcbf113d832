// The Websocket gRPC service (docs/PROTOCOL.md#websocket-calls, nitric.proto.websockets.v1):
// SendMessage / CloseConnection / SocketDetails, answered by the gateway.
#pragma once

#include "devserver/cq_poller.h"
#include "devserver/cq_unary.h"
#include "devserver/event_sink.h"
#include "devserver/gateway.h"
#include "devserver/resources_service.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::devserver {

// Served on the completion-queue API, on the dev membrane's polling threads
// (CqPoller; docs/ARCHITECTURE.md#dev-membrane).
//
// Thread-safety: thread-safe (the gateway is). REQUIRES: the references
// outlive the service.
class WebsocketService final : public wsproto::Websocket::AsyncService {
 public:
  WebsocketService(Gateway& gateway, const ResourcesService& resources, const EventSink& handlers)
      : gateway_(gateway), resources_(resources), handlers_(handlers) {}

  // Starts serving on `poller`'s queue, that of the server this service is
  // registered with. Call once, after BuildAndStart(); the calls end with the
  // server, and `poller` must be Stop()ped before this service is destroyed.
  void Start(CqPoller& poller);

  // NOT_FOUND for an unknown socket or connection.
  grpc::Status DoSendMessage(grpc::ServerContext& ctx, wsproto::WebsocketSendRequest& request,
                             wsproto::WebsocketSendResponse* response);
  // Closes the client with 1000. NOT_FOUND for an unknown socket or connection.
  grpc::Status DoCloseConnection(grpc::ServerContext& ctx,
                                 wsproto::WebsocketCloseConnectionRequest& request,
                                 wsproto::WebsocketCloseConnectionResponse* response);
  // "ws://HOST:PORT" of the socket's listener; NOT_FOUND for a socket that was
  // never declared nor registered.
  grpc::Status DoSocketDetails(grpc::ServerContext& ctx, wsproto::WebsocketDetailsRequest& request,
                               wsproto::WebsocketDetailsResponse* response);

 private:
  Gateway& gateway_;
  const ResourcesService& resources_;
  const EventSink& handlers_;
  CqUnaryMethod<WebsocketService, wsproto::WebsocketSendRequest, wsproto::WebsocketSendResponse>
      send_;
  CqUnaryMethod<WebsocketService, wsproto::WebsocketCloseConnectionRequest,
                wsproto::WebsocketCloseConnectionResponse>
      close_;
  CqUnaryMethod<WebsocketService, wsproto::WebsocketDetailsRequest,
                wsproto::WebsocketDetailsResponse>
      details_;
};

}  // namespace nitric::devserver
