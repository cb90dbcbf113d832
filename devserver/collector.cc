#include "devserver/collector.h"

#include <chrono>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "devserver/json_text.h"
#include "nitric/proto/event_type.h"
#include "nitric/proto/resources/v1/resources.grpc.pb.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::devserver {
namespace {

namespace resproto = ::nitric::proto::resources::v1;
namespace wsproto = ::nitric::proto::websockets::v1;

constexpr const char* kServiceNameMetadata = "x-nitric-service-name";
constexpr wsproto::WebsocketEventType kEventTypes[] = {wsproto::Connect, wsproto::Disconnect,
                                                       wsproto::Message};

std::string ServiceOf(const grpc::CallbackServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(kServiceNameMetadata);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

std::string TypeName(resproto::ResourceType type) {
  const std::string& name = resproto::ResourceType_Name(type);
  return name.empty() ? "type " + std::to_string(static_cast<int>(type)) : name;
}

std::string ActionName(int action) {
  const std::string& name = resproto::Action_Name(static_cast<resproto::Action>(action));
  return name.empty() ? "action " + std::to_string(action) : name;
}

}  // namespace

// ---- Collection ------------------------------------------------------------

grpc::Status Collection::Declare(const resproto::ResourceDeclareRequest& request,
                                 const std::string& service) {
  if (!request.has_id()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "declaration without a resource id");
  }
  const resproto::ResourceIdentifier& id = request.id();
  const bool named = id.type() == resproto::Websocket || id.type() == resproto::KeyValueStore;
  if (named && id.name().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, TypeName(id.type()) + " name is empty");
  }
  std::lock_guard lock(mu_);
  if (!service.empty()) services_.insert(service);
  switch (id.type()) {
    case resproto::Websocket:
      websockets_[id.name()];
      break;
    case resproto::KeyValueStore:
      stores_.insert(id.name());
      break;
    case resproto::Policy: {
      Policy policy;
      for (const auto& p : request.policy().principals()) {
        // Services do not know their own name; Nitric's collector fills it in.
        const bool self = p.type() == resproto::Service && p.name().empty();
        policy.principals.emplace_back(TypeName(p.type()), self ? service : p.name());
      }
      for (int action : request.policy().actions()) policy.actions.push_back(ActionName(action));
      for (const auto& r : request.policy().resources()) {
        policy.resources.emplace_back(TypeName(r.type()), r.name());
      }
      bool known = false;
      for (const Policy& p : policies_) known = known || p == policy;
      if (!known) policies_.push_back(std::move(policy));
      break;
    }
    default:
      spdlog::warn("collect: {} '{}' declared; only websockets, stores and policies are collected",
                   TypeName(id.type()), id.name());
      break;
  }
  return grpc::Status::OK;
}

grpc::Status Collection::Register(const wsproto::RegistrationRequest& request,
                                  const std::string& service) {
  if (request.socket_name().empty() || !wsproto::WebsocketEventType_IsValid(request.event_type())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "registration_request needs a socket_name and a known event_type");
  }
  const std::string type = proto::EventTypeName(request.event_type());
  std::lock_guard lock(mu_);
  if (!service.empty()) services_.insert(service);
  auto& handlers = websockets_[request.socket_name()];
  if (handlers.count(type) != 0) {
    duplicates_.push_back("'" + type + "' handler already registered for websocket '" +
                          request.socket_name() + "'");
  } else {
    handlers[type] = service;
  }
  return grpc::Status::OK;
}

std::string Collection::Json() const {
  // Written by hand so that the output is stable: keys in a fixed order,
  // websockets and stores by name, policies in declaration order.
  std::string out;
  auto str = [&out](std::string_view text) { AppendJsonString(text, &out); };
  auto ids = [&](const std::vector<std::pair<std::string, std::string>>& list) {
    out += "[";
    for (std::size_t i = 0; i < list.size(); ++i) {
      out += i ? ", {\"type\": " : "{\"type\": ";
      str(list[i].first);
      out += ", \"name\": ";
      str(list[i].second);
      out += "}";
    }
    out += "]";
  };
  std::lock_guard lock(mu_);
  out += "{\n  \"services\": [";
  bool first = true;
  for (const std::string& s : services_) {
    out += first ? "" : ", ";
    first = false;
    str(s);
  }
  out += "],\n  \"websockets\": [";
  first = true;
  for (const auto& [name, handlers] : websockets_) {
    out += first ? "\n    {\"name\": " : ",\n    {\"name\": ";
    first = false;
    str(name);
    out += ", \"handlers\": {";
    bool first_type = true;
    for (wsproto::WebsocketEventType type : kEventTypes) {
      auto it = handlers.find(proto::EventTypeName(type));
      if (it == handlers.end()) continue;
      out += first_type ? "" : ", ";
      first_type = false;
      str(it->first);
      out += ": {\"service\": ";
      str(it->second);
      out += "}";
    }
    out += "}}";
  }
  out += first ? "]" : "\n  ]";
  out += ",\n  \"stores\": [";
  first = true;
  for (const std::string& name : stores_) {
    out += first ? "\n    {\"name\": " : ",\n    {\"name\": ";
    first = false;
    str(name);
    out += "}";
  }
  out += first ? "]" : "\n  ]";
  out += ",\n  \"policies\": [";
  first = true;
  for (const Policy& p : policies_) {
    out += first ? "\n    {\"principals\": " : ",\n    {\"principals\": ";
    first = false;
    ids(p.principals);
    out += ", \"actions\": [";
    for (std::size_t i = 0; i < p.actions.size(); ++i) {
      out += i ? ", " : "";
      str(p.actions[i]);
    }
    out += "], \"resources\": ";
    ids(p.resources);
    out += "}";
  }
  out += first ? "]" : "\n  ]";
  out += "\n}\n";
  return out;
}

std::vector<std::string> Collection::Errors() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> errors = duplicates_;
  for (const auto& [name, handlers] : websockets_) {
    for (wsproto::WebsocketEventType type : kEventTypes) {
      const std::string type_name = proto::EventTypeName(type);
      if (handlers.count(type_name) == 0) {
        errors.push_back("missing " + type_name + " handler for websocket " + name);
      }
    }
  }
  return errors;
}

// ---- gRPC services ---------------------------------------------------------

class Collector::ResourcesService final : public resproto::Resources::CallbackService {
 public:
  explicit ResourcesService(Collection& collection) : collection_(collection) {}

  grpc::ServerUnaryReactor* Declare(grpc::CallbackServerContext* ctx,
                                    const resproto::ResourceDeclareRequest* request,
                                    resproto::ResourceDeclareResponse* /*response*/) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(collection_.Declare(*request, ServiceOf(ctx)));
    return reactor;
  }

 private:
  Collection& collection_;
};

// One HandleEvents call: read the registration, record it, acknowledge it,
// end the call. Deletes itself when gRPC is done with it.
class CollectStream final
    : public grpc::ServerBidiReactor<wsproto::ClientMessage, wsproto::ServerMessage> {
 public:
  CollectStream(Collection& collection, std::string service)
      : collection_(collection), service_(std::move(service)) {
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);  // the service went away before registering
      return;
    }
    if (!in_.has_registration_request()) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the first HandleEvents message must be a registration_request"));
      return;
    }
    grpc::Status s = collection_.Register(in_.registration_request(), service_);
    if (!s.ok()) {
      Finish(std::move(s));
      return;
    }
    spdlog::info("collected websocket handler: socket '{}' event '{}'",
                 in_.registration_request().socket_name(),
                 proto::EventTypeName(in_.registration_request().event_type()));
    out_.mutable_registration_response();
    StartWrite(&out_);
  }

  // Acknowledged: the stream ends here, which tells a service in build mode
  // that the collector has what it needs.
  void OnWriteDone(bool /*ok*/) override { Finish(grpc::Status::OK); }

  void OnDone() override { delete this; }

 private:
  Collection& collection_;
  const std::string service_;
  wsproto::ClientMessage in_;
  wsproto::ServerMessage out_;
};

class Collector::HandlerService final : public wsproto::WebsocketHandler::CallbackService {
 public:
  explicit HandlerService(Collection& collection) : collection_(collection) {}

  grpc::ServerBidiReactor<wsproto::ClientMessage, wsproto::ServerMessage>* HandleEvents(
      grpc::CallbackServerContext* ctx) override {
    return new CollectStream(collection_, ServiceOf(ctx));
  }

 private:
  Collection& collection_;
};

// ---- Collector -------------------------------------------------------------

Collector::Collector(std::string listen)
    : listen_(std::move(listen)),
      resources_(std::make_unique<ResourcesService>(collection_)),
      handlers_(std::make_unique<HandlerService>(collection_)) {}

Collector::~Collector() { Shutdown(); }

grpc::Status Collector::Start() {
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a busy port is an error
  builder.AddListeningPort(listen_, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(resources_.get());
  builder.RegisterService(handlers_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    if (server_) server_->Shutdown();
    server_.reset();
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "cannot listen on " + listen_ + " (address in use or invalid)");
  }
  const std::string host = listen_.substr(0, listen_.rfind(':'));
  address_ = host + ":" + std::to_string(port);
  return grpc::Status::OK;
}

std::string Collector::grpc_address() const { return address_; }

void Collector::Shutdown() {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  server_.reset();
}

}  // namespace nitric::devserver
