#include "devserver/dev_membrane.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "devserver/gateway.h"
#include "devserver/handler_registry.h"
#include "devserver/kv_service.h"
#include "devserver/kv_store.h"
#include "devserver/resources_service.h"
#include "devserver/websocket_service.h"

namespace nitric::devserver {
namespace {

// How long Shutdown() lets calls still in progress finish before gRPC cancels
// them.
constexpr auto kShutdownGrace = std::chrono::seconds(2);

// The host part of "HOST:PORT" / "[V6]:PORT" (brackets dropped).
std::string HostOf(const std::string& address) {
  if (!address.empty() && address.front() == '[') {
    auto close = address.find(']');
    return close == std::string::npos ? address : address.substr(1, close - 1);
  }
  auto colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

class DevMembrane::Impl {
 public:
  explicit Impl(DevMembraneOptions options) : options_(std::move(options)) {}
  ~Impl() { Shutdown(); }

  grpc::Status Start();
  void Shutdown();
  void Wait();

  std::string grpc_address() const {
    std::lock_guard lock(mu_);
    return address_;
  }

  std::optional<std::string> SocketUrl(const std::string& socket) const {
    Gateway* gateway;
    {
      std::lock_guard lock(mu_);
      gateway = gateway_.get();
    }
    if (!gateway) return std::nullopt;
    return gateway->Url(socket);
  }

 private:
  enum class State { kIdle, kRunning, kStopping, kStopped };

  void WarnIfExposed() const;

  const DevMembraneOptions options_;

  mutable std::mutex mu_;
  std::condition_variable state_changed_;
  State state_ = State::kIdle;  // GUARDED_BY(mu_)
  std::string address_;         // GUARDED_BY(mu_)

  // Written once by Start() before the server runs, then only read; torn down
  // in reverse order (the server first, the stores last).
  std::unique_ptr<KvStores> stores_;
  std::unique_ptr<HandlerRegistry> registry_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<ResourcesService> resources_;
  std::unique_ptr<WebsocketService> websocket_;
  std::unique_ptr<KvService> kv_;
  std::unique_ptr<grpc::Server> server_;
};

void DevMembrane::Impl::WarnIfExposed() const {
  if (IsLoopbackHost(HostOf(options_.listen))) return;
  spdlog::warn("!!! gRPC is listening on {}, which is not a loopback address.", options_.listen);
  spdlog::warn("!!! The dev membrane is a development tool, not an edge server: Debian 12's");
  spdlog::warn("!!! gRPC 1.51 server has no HTTP/2 rapid-reset guard (CVE-2023-44487), and");
  spdlog::warn("!!! the membrane has no authentication. Bind to 127.0.0.1 unless every peer");
  spdlog::warn("!!! on that network is trusted.");
}

grpc::Status DevMembrane::Impl::Start() {
  std::lock_guard lock(mu_);
  if (state_ != State::kIdle) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "dev membrane already started");
  }
  // A failed start is final: the object is then only good for destruction.
  stores_ = std::make_unique<KvStores>(options_.data_dir);
  grpc::Status s = stores_->Open();
  if (!s.ok()) {
    state_ = State::kStopped;
    return s;
  }

  // The registry opens a socket's listener when a handler registers for it;
  // the gateway is created right below and outlives every stream.
  HandlerRegistryOptions registry_options;
  registry_options.event_timeout = options_.event_timeout;
  registry_ = std::make_unique<HandlerRegistry>(
      [this](const std::string& socket) {
        std::string url;
        return gateway_->EnsureSocket(socket, &url);
      },
      registry_options);
  GatewayOptions gateway_options;
  gateway_options.host = options_.gateway_host;
  gateway_options.base_port = options_.gateway_base_port;
  gateway_options.pinned_ports = options_.socket_ports;
  gateway_options.profile = options_.profile;
  gateway_options.max_send_queue_bytes = options_.max_send_queue_bytes;
  gateway_options.allowed_origins = options_.allowed_origins;
  gateway_options.connect_timeout = options_.connect_timeout;
  gateway_options.max_connections = options_.max_connections;
  gateway_ = std::make_unique<Gateway>(std::move(gateway_options), *registry_);
  resources_ = std::make_unique<ResourcesService>(*gateway_, *stores_);
  websocket_ = std::make_unique<WebsocketService>(*gateway_, *resources_, *registry_);
  kv_ = std::make_unique<KvService>(*stores_);

  WarnIfExposed();
  int port = 0;
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which would let a second membrane bind
  // the same port silently and split the traffic; a busy port must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port);
  registry_->AddTo(builder);
  builder.RegisterService(resources_.get());
  builder.RegisterService(websocket_.get());
  builder.RegisterService(kv_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    if (server_) server_->Shutdown();
    registry_->Stop();
    server_.reset();
    gateway_->Shutdown();
    registry_->Shutdown();
    stores_->Close();
    state_ = State::kStopped;
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "cannot listen on " + options_.listen + " (address in use or invalid)");
  }
  registry_->Start();
  // The registry's polling threads serve every call (docs/ARCHITECTURE.md#dev-membrane).
  websocket_->Start(registry_->poller());
  resources_->Start(registry_->poller());
  kv_->Start(registry_->poller());
  std::string host = HostOf(options_.listen);
  address_ =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  state_ = State::kRunning;
  spdlog::info("gRPC listening on {}", address_);
  spdlog::info("KV data in {}", stores_->folder().string());
  if (options_.profile.name != "local") {
    const GatewayProfile& p = options_.profile;
    spdlog::info(
        "gateway profile {}: {}messages up to {} bytes, a rejected connect answered {}, {} query "
        "parameters, idle connections closed after {} s, every connection after {} s",
        p.name, p.text_only ? "text only, " : "", p.max_message_bytes, p.reject_status,
        p.single_valued_query ? "single-valued" : "multi-valued",
        std::chrono::duration<double>(p.idle_timeout).count(),
        std::chrono::duration<double>(p.max_duration).count());
  }
  return grpc::Status::OK;
}

void DevMembrane::Impl::Shutdown() {
  {
    std::unique_lock lock(mu_);
    switch (state_) {
      case State::kIdle:
        state_ = State::kStopped;
        state_changed_.notify_all();
        return;
      case State::kStopping:
        state_changed_.wait(lock, [this] { return state_ == State::kStopped; });
        return;
      case State::kStopped:
        return;
      case State::kRunning:
        state_ = State::kStopping;
        break;
    }
  }
  // Clients first (1001, and their Disconnect events can still reach the
  // handlers and their KV calls), then the handler streams, then the server,
  // and the KV data last so nothing writes after the flush.
  gateway_->Shutdown();
  registry_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  server_->Wait();
  registry_->Stop();  // before the server is destroyed (handler_registry.h)
  stores_->Close();
  spdlog::info("dev membrane stopped");
  std::lock_guard lock(mu_);
  state_ = State::kStopped;
  state_changed_.notify_all();
}

void DevMembrane::Impl::Wait() {
  std::unique_lock lock(mu_);
  state_changed_.wait(lock, [this] { return state_ == State::kStopped; });
}

DevMembrane::DevMembrane(DevMembraneOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

DevMembrane::~DevMembrane() = default;

grpc::Status DevMembrane::Start() { return impl_->Start(); }

std::string DevMembrane::grpc_address() const { return impl_->grpc_address(); }

std::optional<std::string> DevMembrane::SocketUrl(const std::string& socket) const {
  return impl_->SocketUrl(socket);
}

void DevMembrane::Shutdown() { impl_->Shutdown(); }

void DevMembrane::Wait() { impl_->Wait(); }

}  // namespace nitric::devserver
