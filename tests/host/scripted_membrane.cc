#include "host/scripted_membrane.h"

#include <grpcpp/grpcpp.h>

#include "nitric/proto/resources/v1/resources.grpc.pb.h"

namespace nitric::testing {

namespace wsproto = ::nitric::proto::websockets::v1;
namespace resproto = ::nitric::proto::resources::v1;

class ScriptedMembrane::Services final : public resproto::Resources::Service,
                                         public wsproto::Websocket::Service,
                                         public wsproto::WebsocketHandler::Service {
 public:
  explicit Services(ScriptedMembrane* membrane) : membrane_(membrane) {}

  grpc::Status Declare(grpc::ServerContext*, const resproto::ResourceDeclareRequest*,
                       resproto::ResourceDeclareResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status SendMessage(grpc::ServerContext*, const wsproto::WebsocketSendRequest*,
                           wsproto::WebsocketSendResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status CloseConnection(grpc::ServerContext*,
                               const wsproto::WebsocketCloseConnectionRequest* request,
                               wsproto::WebsocketCloseConnectionResponse*) override {
    membrane_->RecordClose(request->socket_name(), request->connection_id());
    return grpc::Status::OK;
  }
  grpc::Status SocketDetails(grpc::ServerContext*, const wsproto::WebsocketDetailsRequest*,
                             wsproto::WebsocketDetailsResponse* response) override {
    response->set_url("ws://127.0.0.1:1");
    return grpc::Status::OK;
  }
  grpc::Status HandleEvents(grpc::ServerContext* context, Stream* stream) override {
    return membrane_->HandleEvents(context, stream);
  }

 private:
  ScriptedMembrane* const membrane_;
};

ScriptedMembrane::ScriptedMembrane() : services_(std::make_unique<Services>(this)) {}

ScriptedMembrane::~ScriptedMembrane() {
  // Cancels the open streams at once: their handlers return.
  if (server_) server_->Shutdown(std::chrono::system_clock::now());
}

bool ScriptedMembrane::Start() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(static_cast<resproto::Resources::Service*>(services_.get()));
  builder.RegisterService(static_cast<wsproto::Websocket::Service*>(services_.get()));
  builder.RegisterService(static_cast<wsproto::WebsocketHandler::Service*>(services_.get()));
  server_ = builder.BuildAndStart();
  return server_ != nullptr && port_ != 0;
}

grpc::Status ScriptedMembrane::HandleEvents(grpc::ServerContext*, Stream* stream) {
  wsproto::ClientMessage message;
  if (!stream->Read(&message) || !message.has_registration_request()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "expected a registration");
  }
  const auto key = std::make_pair(message.registration_request().socket_name(),
                                  static_cast<int>(message.registration_request().event_type()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    wsproto::ServerMessage ack;
    ack.mutable_registration_response();
    stream->Write(ack);
    streams_[key] = stream;
  }
  cv_.notify_all();
  while (stream->Read(&message)) {
    if (!message.has_websocket_event_response()) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      answers_[message.id()].push_back(
          message.websocket_event_response().connection_response().reject());
    }
    cv_.notify_all();
  }
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(key);
  return grpc::Status::OK;
}

void ScriptedMembrane::RecordClose(const std::string& socket, const std::string& connection) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_.emplace(socket, connection);
  }
  cv_.notify_all();
}

bool ScriptedMembrane::WaitRegistered(const std::string& socket,
                                      std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    for (EventType type : {wsproto::Connect, wsproto::Disconnect, wsproto::Message}) {
      if (streams_.count({socket, static_cast<int>(type)}) == 0) return false;
    }
    return true;
  });
}

bool ScriptedMembrane::Send(EventType type, const std::string& socket,
                            const std::string& connection, const std::string& id,
                            const std::string& body) {
  wsproto::ServerMessage message;
  message.set_id(id);
  wsproto::WebsocketEventRequest* request = message.mutable_websocket_event_request();
  request->set_socket_name(socket);
  request->set_connection_id(connection);
  if (type == wsproto::Connect) request->mutable_connection();
  if (type == wsproto::Disconnect) request->mutable_disconnection();
  if (type == wsproto::Message) request->mutable_message()->set_body(body);
  // Held while writing: the stream cannot end (and be erased) meanwhile.
  std::lock_guard<std::mutex> lock(mu_);
  auto it = streams_.find({socket, static_cast<int>(type)});
  return it != streams_.end() && it->second->Write(message);
}

bool ScriptedMembrane::WaitAnswered(const std::vector<std::string>& ids,
                                    std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    for (const std::string& id : ids) {
      if (answers_.count(id) == 0) return false;
    }
    return true;
  });
}

std::map<std::string, std::vector<bool>> ScriptedMembrane::answers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return answers_;
}

bool ScriptedMembrane::WaitClosed(const std::string& socket, const std::string& connection,
                                  std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return closed_.count({socket, connection}) != 0; });
}

std::set<std::pair<std::string, std::string>> ScriptedMembrane::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

}  // namespace nitric::testing
