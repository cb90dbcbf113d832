#include "host/membrane/declare.h"

#include "host/membrane/channel.h"
#include "nitric/plugin.h"

namespace nitric::host {

namespace resproto = ::nitric::proto::resources::v1;

namespace {

resproto::ResourceDeclareRequest Resource(resproto::ResourceType type, const std::string& name) {
  resproto::ResourceDeclareRequest request;
  request.mutable_id()->set_type(type);
  request.mutable_id()->set_name(name);
  return request;
}

// Declare{id{Policy, ""}, policy{principals[{Service, ""}], actions, resources[{type, name}]}}
resproto::ResourceDeclareRequest Policy(resproto::ResourceType type, const std::string& name,
                                        std::initializer_list<resproto::Action> actions) {
  resproto::ResourceDeclareRequest request = Resource(resproto::Policy, "");
  resproto::PolicyResource* policy = request.mutable_policy();
  resproto::ResourceIdentifier* principal = policy->add_principals();
  principal->set_type(resproto::Service);
  principal->set_name("");
  for (resproto::Action action : actions) policy->add_actions(action);
  resproto::ResourceIdentifier* resource = policy->add_resources();
  resource->set_type(type);
  resource->set_name(name);
  return request;
}

}  // namespace

std::vector<resproto::ResourceDeclareRequest> DeclareRequests(const Declarations& declarations) {
  std::vector<resproto::ResourceDeclareRequest> requests;
  for (const std::string& socket : declarations.sockets) {
    requests.push_back(Resource(resproto::Websocket, socket));
    requests.push_back(Policy(resproto::Websocket, socket, {resproto::WebsocketManage}));
  }
  for (const auto& [store, allow] : declarations.stores) {
    resproto::ResourceDeclareRequest kv = Resource(resproto::KeyValueStore, store);
    kv.mutable_key_value_store();
    requests.push_back(std::move(kv));
    resproto::ResourceDeclareRequest policy = Policy(resproto::KeyValueStore, store, {});
    if (allow & NITRIC_KV_GET) policy.mutable_policy()->add_actions(resproto::KeyValueStoreRead);
    if (allow & NITRIC_KV_SET) policy.mutable_policy()->add_actions(resproto::KeyValueStoreWrite);
    if (allow & NITRIC_KV_DELETE) {
      policy.mutable_policy()->add_actions(resproto::KeyValueStoreDelete);
    }
    requests.push_back(std::move(policy));
  }
  return requests;
}

grpc::Status DeclareAll(resproto::Resources::Stub* resources, const Declarations& declarations,
                        const std::string& service_name, std::chrono::milliseconds timeout) {
  for (const resproto::ResourceDeclareRequest& request : DeclareRequests(declarations)) {
    grpc::ClientContext context;
    PrepareContext(&context, service_name, timeout);
    resproto::ResourceDeclareResponse response;
    grpc::Status status = resources->Declare(&context, request, &response);
    if (!status.ok()) {
      return grpc::Status(status.error_code(),
                          "declare " + resproto::ResourceType_Name(request.id().type()) + " \"" +
                              request.id().name() + "\": " + status.error_message());
    }
  }
  return grpc::Status::OK;
}

}  // namespace nitric::host
