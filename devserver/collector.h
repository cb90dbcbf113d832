// `nitric-dev-membrane --collect FILE`: the collector that Nitric's `nitric up`
// runs a service against in build mode (NITRIC_ENVIRONMENT=build), to learn
// what the service declares before deploying it (docs/PROTOCOL.md#collect).
//
// It serves Resources.Declare and WebsocketHandler.HandleEvents only. Every
// declaration is acknowledged and recorded; every HandleEvents stream gets
// its registration recorded and acknowledged, and is then ended (OK) at
// once, which is what tells a service in build mode that it is done. What
// was collected becomes a JSON document; the spec check is Nitric's: every
// websocket needs a registration for each of connect, disconnect and
// message, and one (socket, event type) registered twice is an error.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "nitric/proto/resources/v1/resources.pb.h"
#include "nitric/proto/websockets/v1/websockets.pb.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace nitric::devserver {

// What one or more services declared and registered. Thread-safe.
class Collection {
 public:
  // Records a declaration from `service` (the x-nitric-service-name metadata,
  // empty when absent). Websockets, key-value stores and policies are
  // collected; other resource types are only counted in the log.
  grpc::Status Declare(const ::nitric::proto::resources::v1::ResourceDeclareRequest& request,
                       const std::string& service);

  // Records a HandleEvents registration from `service`. A second registration
  // of one (socket, event type) is recorded as a spec error, as Nitric's
  // collector does, and still acknowledged.
  grpc::Status Register(const ::nitric::proto::websockets::v1::RegistrationRequest& request,
                        const std::string& service);

  // The collected app as a JSON document (keys sorted, two-space indent):
  //   {"services": [...], "websockets": [{"name", "handlers": {"connect":
  //   {"service"}, ...}}], "stores": [{"name"}], "policies": [{"principals",
  //   "actions", "resources"}]}
  std::string Json() const;

  // Spec errors, in Nitric's wording ("missing message handler for
  // websocket chat"); empty when the app can be deployed.
  std::vector<std::string> Errors() const;

 private:
  struct Policy {
    std::vector<std::pair<std::string, std::string>> principals;  // (type, name)
    std::vector<std::string> actions;
    std::vector<std::pair<std::string, std::string>> resources;  // (type, name)
    bool operator==(const Policy&) const = default;
  };

  mutable std::mutex mu_;
  std::set<std::string> services_;  // GUARDED_BY(mu_)
  // socket -> event type name -> registering service. A socket declared but
  // never registered has an empty map.
  std::map<std::string, std::map<std::string, std::string>> websockets_;  // GUARDED_BY(mu_)
  std::set<std::string> stores_;                                          // GUARDED_BY(mu_)
  std::vector<Policy> policies_;         // GUARDED_BY(mu_); in declaration order, no duplicates
  std::vector<std::string> duplicates_;  // GUARDED_BY(mu_)
};

// The collector's gRPC server around a Collection.
class Collector {
 public:
  // `listen` as DevMembraneOptions::listen ("127.0.0.1:0" picks a port).
  explicit Collector(std::string listen);
  ~Collector();  // Shutdown()
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Binds and serves. Not OK when the address is busy or invalid.
  grpc::Status Start();
  // The bound address, e.g. "127.0.0.1:50051".
  std::string grpc_address() const;
  // Stops serving (calls still in progress get a moment). Idempotent.
  void Shutdown();

  const Collection& collection() const { return collection_; }

 private:
  class ResourcesService;
  class HandlerService;

  const std::string listen_;
  Collection collection_;
  std::unique_ptr<ResourcesService> resources_;
  std::unique_ptr<HandlerService> handlers_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace nitric::devserver
