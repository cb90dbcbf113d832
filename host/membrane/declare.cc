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

// The two requests of one resource (the resource, then its policy).
std::vector<resproto::ResourceDeclareRequest> SocketRequests(const std::string& socket) {
  std::vector<resproto::ResourceDeclareRequest> requests;
  requests.push_back(Resource(resproto::Websocket, socket));
  requests.push_back(Policy(resproto::Websocket, socket, {resproto::WebsocketManage}));
  return requests;
}

std::vector<resproto::ResourceDeclareRequest> StoreRequests(const std::string& store,
                                                            KvPermissions allow) {
  std::vector<resproto::ResourceDeclareRequest> requests;
  resproto::ResourceDeclareRequest kv = Resource(resproto::KeyValueStore, store);
  kv.mutable_key_value_store();
  requests.push_back(std::move(kv));
  resproto::ResourceDeclareRequest policy = Policy(resproto::KeyValueStore, store, {});
  if (allow & NITRIC_KV_GET) policy.mutable_policy()->add_actions(resproto::KeyValueStoreRead);
  if (allow & NITRIC_KV_SET) policy.mutable_policy()->add_actions(resproto::KeyValueStoreWrite);
  if (allow & NITRIC_KV_DELETE) policy.mutable_policy()->add_actions(resproto::KeyValueStoreDelete);
  requests.push_back(std::move(policy));
  return requests;
}

}  // namespace

bool IsOutage(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return true;
    default:
      return false;
  }
}

std::vector<resproto::ResourceDeclareRequest> DeclareRequests(const Declarations& declarations) {
  std::vector<resproto::ResourceDeclareRequest> requests;
  for (const std::string& socket : declarations.sockets) {
    for (auto& request : SocketRequests(socket)) requests.push_back(std::move(request));
  }
  for (const auto& [store, allow] : declarations.stores) {
    for (auto& request : StoreRequests(store, allow)) requests.push_back(std::move(request));
  }
  return requests;
}

DeclareResult DeclareAll(resproto::Resources::Stub* resources, const Declarations& declarations,
                         const std::string& service_name, std::chrono::milliseconds timeout) {
  DeclareResult result;
  // Declares one resource and its policy. False when the membrane could not
  // be asked (result.status set); a refusal is recorded and the caller goes
  // on with the next resource.
  auto declare = [&](const std::vector<resproto::ResourceDeclareRequest>& requests,
                     std::map<std::string, grpc::Status>* refused) {
    for (const resproto::ResourceDeclareRequest& request : requests) {
      grpc::ClientContext context;
      PrepareContext(&context, service_name, timeout);
      resproto::ResourceDeclareResponse response;
      grpc::Status status = resources->Declare(&context, request, &response);
      if (status.ok()) continue;
      const resproto::ResourceIdentifier& id =
          request.id().type() == resproto::Policy ? request.policy().resources(0) : request.id();
      grpc::Status named(
          status.error_code(),
          "declare " +
              std::string(request.id().type() == resproto::Policy ? "the policy of " : "") +
              resproto::ResourceType_Name(id.type()) + " \"" + id.name() +
              "\": " + status.error_message());
      if (IsOutage(status.error_code())) {
        result.status = std::move(named);
        return false;
      }
      (*refused)[id.name()] = std::move(named);
      return true;  // its policy would only be refused too
    }
    return true;
  };
  for (const std::string& socket : declarations.sockets) {
    if (!declare(SocketRequests(socket), &result.refused_sockets)) return result;
  }
  for (const auto& [store, allow] : declarations.stores) {
    if (!declare(StoreRequests(store, allow), &result.refused_stores)) return result;
  }
  return result;
}

}  // namespace nitric::host
