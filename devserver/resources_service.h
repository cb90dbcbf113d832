// The Resources gRPC service (docs/PROTOCOL.md#declarations,
// nitric.proto.resources.v1): records and logs what a service declares, and
// brings declared websockets (gateway listener) and key-value stores
// (database file) into existence.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "devserver/cq_poller.h"
#include "devserver/cq_unary.h"
#include "devserver/gateway.h"
#include "devserver/kv_store.h"
#include "nitric/proto/resources/v1/resources.grpc.pb.h"

namespace nitric::devserver {

namespace resproto = ::nitric::proto::resources::v1;

// Served on the completion-queue API, on the dev membrane's polling threads
// (CqPoller; docs/ARCHITECTURE.md#dev-membrane).
//
// Thread-safety: thread-safe. REQUIRES: `gateway` and `stores` outlive it.
class ResourcesService final : public resproto::Resources::AsyncService {
 public:
  ResourcesService(Gateway& gateway, KvStores& stores) : gateway_(gateway), stores_(stores) {}

  // Starts serving on `poller`'s queue (see WebsocketService::Start).
  void Start(CqPoller& poller);

  grpc::Status DoDeclare(grpc::ServerContext& ctx, resproto::ResourceDeclareRequest& request,
                         resproto::ResourceDeclareResponse* response);

  // Whether a resource of that type and name has been declared.
  bool Declared(resproto::ResourceType type, const std::string& name) const;

 private:
  grpc::Status Apply(const resproto::ResourceDeclareRequest& request);

  Gateway& gateway_;
  KvStores& stores_;
  CqUnaryMethod<ResourcesService, resproto::ResourceDeclareRequest,
                resproto::ResourceDeclareResponse>
      declare_;
  mutable std::mutex mu_;
  std::set<std::pair<int, std::string>> declared_;  // GUARDED_BY(mu_)
};

// One-line description of a declaration for the log, e.g.
// "Websocket 'chat'" or "Policy: [WebsocketManage] on [Websocket 'chat'] for [Service '']".
std::string DescribeDeclaration(const resproto::ResourceDeclareRequest& request);

}  // namespace nitric::devserver
