#include "devserver/resources_service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

namespace nitric::devserver {
namespace {

std::string Describe(const resproto::ResourceIdentifier& id) {
  return resproto::ResourceType_Name(id.type()) + " '" + id.name() + "'";
}

template <typename List, typename Fn>
std::string Join(const List& items, Fn describe) {
  std::string out = "[";
  for (int i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += describe(items.Get(i));
  }
  return out + "]";
}

std::string ActionName(int action) {
  const std::string& name = resproto::Action_Name(static_cast<resproto::Action>(action));
  return name.empty() ? "action " + std::to_string(action) : name;
}

std::string IdentifierName(const resproto::ResourceIdentifier& id) { return Describe(id); }

}  // namespace

std::string DescribeDeclaration(const resproto::ResourceDeclareRequest& request) {
  if (request.has_policy()) {
    const resproto::PolicyResource& p = request.policy();
    return "Policy: " + Join(p.actions(), ActionName) + " on " +
           Join(p.resources(), IdentifierName) + " for " + Join(p.principals(), IdentifierName);
  }
  return Describe(request.id());
}

void ResourcesService::Start(CqPoller& poller) {
  declare_ = {this, &poller, &ResourcesService::RequestDeclare, &ResourcesService::DoDeclare};
  ServeOnQueue(&declare_, 2);
}

grpc::Status ResourcesService::DoDeclare(grpc::ServerContext& ctx,
                                         resproto::ResourceDeclareRequest& request,
                                         resproto::ResourceDeclareResponse* /*response*/) {
  grpc::Status status = Apply(request);
  std::string who;
  const auto& md = ctx.client_metadata();
  if (auto it = md.find("x-nitric-service-name"); it != md.end()) {
    who = " by service '" + std::string(it->second.data(), it->second.size()) + "'";
  }
  if (status.ok()) {
    spdlog::info("declared {}{}", DescribeDeclaration(request), who);
  } else {
    spdlog::warn("declaration of {}{} refused: {}", DescribeDeclaration(request), who,
                 status.error_message());
  }
  return status;
}

grpc::Status ResourcesService::Apply(const resproto::ResourceDeclareRequest& request) {
  if (!request.has_id()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "declaration without a resource id");
  }
  const resproto::ResourceIdentifier& id = request.id();
  bool named = id.type() == resproto::Websocket || id.type() == resproto::KeyValueStore;
  if (named && id.name().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        resproto::ResourceType_Name(id.type()) + " name is empty");
  }
  {
    // Recorded before it takes effect: a websocket whose port was busy is
    // still known, and SocketDetails retries its listener.
    std::lock_guard lock(mu_);
    declared_.emplace(static_cast<int>(id.type()), id.name());
  }
  switch (id.type()) {
    case resproto::Websocket: {
      std::string url;
      grpc::Status s = gateway_.EnsureSocket(id.name(), &url);
      if (!s.ok()) return s;
      break;
    }
    case resproto::KeyValueStore: {
      KvStore* store = nullptr;
      grpc::Status s = stores_.Get(id.name(), &store);
      if (!s.ok()) return s;
      break;
    }
    default:
      // Recorded only: the dev membrane serves websockets and KV alone.
      break;
  }
  return grpc::Status::OK;
}

bool ResourcesService::Declared(resproto::ResourceType type, const std::string& name) const {
  std::lock_guard lock(mu_);
  return declared_.count({static_cast<int>(type), name}) > 0;
}

}  // namespace nitric::devserver
