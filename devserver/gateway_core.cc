#include "devserver/gateway_core.h"

#include "devserver/gateway_http_session.h"
#include "devserver/gateway_ws_session.h"

namespace nitric::devserver {

GatewayCore::GatewayCore(GatewayOptions options, EventSink& sink)
    : options_(std::move(options)), sink_(sink) {}

void GatewayCore::AddHttp(const std::shared_ptr<HttpSession>& session) {
  std::unique_lock lock(mu_);
  http_.emplace(session.get(), session);
}

void GatewayCore::RemoveHttp(const HttpSession* session) {
  std::shared_ptr<HttpSession> last;  // released outside the lock
  std::unique_lock lock(mu_);
  auto it = http_.find(session);
  if (it == http_.end()) return;
  last = std::move(it->second);
  http_.erase(it);
}

bool GatewayCore::AddConnection(const std::shared_ptr<WsSession>& session) {
  std::unique_lock lock(mu_);
  if (stopping()) return false;
  sockets_[session->socket()].by_id[session->id()] = session;
  return true;
}

void GatewayCore::RemoveConnection(const WsSession& session) {
  std::shared_ptr<WsSession> last;  // released outside the lock
  std::unique_lock lock(mu_);
  auto socket = sockets_.find(session.socket());
  if (socket == sockets_.end()) return;
  auto it = socket->second.by_id.find(session.id());
  if (it == socket->second.by_id.end() || it->second.get() != &session) return;
  last = std::move(it->second);
  socket->second.by_id.erase(it);
}

std::shared_ptr<WsSession> GatewayCore::FindConnection(const std::string& socket,
                                                       const std::string& connection_id) const {
  std::shared_lock lock(mu_);
  auto s = sockets_.find(socket);
  if (s == sockets_.end()) return nullptr;
  auto it = s->second.by_id.find(connection_id);
  return it == s->second.by_id.end() ? nullptr : it->second;
}

bool GatewayCore::Admit(const std::string& socket) {
  std::unique_lock lock(mu_);
  std::size_t& admitted = sockets_[socket].admitted;
  if (admitted >= options_.max_connections) return false;
  ++admitted;
  return true;
}

void GatewayCore::Release(const std::string& socket) {
  std::unique_lock lock(mu_);
  std::size_t& admitted = sockets_[socket].admitted;
  if (admitted > 0) --admitted;
}

void GatewayCore::AddOpen(const std::string& socket, int delta) {
  std::unique_lock lock(mu_);
  std::size_t& open = sockets_[socket].open;
  open = delta < 0 && open < static_cast<std::size_t>(-delta) ? 0 : open + delta;
}

std::size_t GatewayCore::OpenCount(const std::string& socket) const {
  std::shared_lock lock(mu_);
  auto it = sockets_.find(socket);
  return it == sockets_.end() ? 0 : it->second.open;
}

SocketMetrics& GatewayCore::MetricsFor(const std::string& socket) {
  std::lock_guard lock(metrics_mu_);
  std::unique_ptr<SocketMetrics>& metrics = metrics_[socket];
  if (!metrics) {
    metrics = std::make_unique<SocketMetrics>(socket, options_.profile.name,
                                              [this, socket] { return OpenCount(socket); });
  }
  return *metrics;
}

void GatewayCore::SessionStarted() {
  std::lock_guard lock(sessions_mu_);
  ++live_sessions_;
}

void GatewayCore::SessionEnded() {
  std::lock_guard lock(sessions_mu_);
  if (live_sessions_ > 0 && --live_sessions_ == 0) sessions_cv_.notify_all();
}

bool GatewayCore::WaitForSessionsEnded(std::chrono::milliseconds grace) {
  std::unique_lock lock(sessions_mu_);
  return sessions_cv_.wait_for(lock, grace, [this] { return live_sessions_ == 0; });
}

void GatewayCore::BeginStop(std::vector<std::shared_ptr<HttpSession>>* http,
                            std::vector<std::shared_ptr<WsSession>>* connections) {
  std::unique_lock lock(mu_);
  stopping_.store(true, std::memory_order_release);
  for (const auto& [ptr, session] : http_) http->push_back(session);
  for (const auto& [name, socket] : sockets_) {
    for (const auto& [id, session] : socket.by_id) connections->push_back(session);
  }
}

void GatewayCore::Clear() {
  std::unordered_map<std::string, SocketConnections> sockets;
  std::unordered_map<const HttpSession*, std::shared_ptr<HttpSession>> http;
  {
    std::unique_lock lock(mu_);
    sockets.swap(sockets_);
    http.swap(http_);
  }
  // Sessions are destroyed here, outside the lock.
}

}  // namespace nitric::devserver
