#include "host/admin/admin_server.h"

#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace nitric::host {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

AdminResponse AdminResponse::Text(int status, std::string body) {
  AdminResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

AdminResponse AdminResponse::Json(int status, std::string body) {
  AdminResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = std::move(body);
  return response;
}

namespace {

std::string EndpointText(const tcp::endpoint& endpoint) {
  const asio::ip::address address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

class Session;

}  // namespace

class AdminServer::Impl : public std::enable_shared_from_this<AdminServer::Impl> {
 public:
  Impl(Options options, std::vector<AdminRoute> routes)
      : options_(std::move(options)), routes_(std::move(routes)) {}

  Status Listen();
  void Run() {
    Accept();
    thread_ = std::thread([this] {
      // An exception here would be a bug of ours; it must not end the host.
      for (;;) {
        try {
          ioc_.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("admin listener: {} (a bug; the listener goes on)", e.what());
        }
      }
    });
  }
  void Stop();

  // Server thread only.
  void Dispatch(const AdminRequest& request, AdminRespond respond);
  void Forget(const std::shared_ptr<Session>& session) { sessions_.erase(session); }
  const Options& options() const { return options_; }
  const std::string& address() const { return address_; }

  // Any thread: runs `fn` on the server thread unless the server stopped.
  template <typename Fn>
  void PostIfRunning(Fn&& fn) {
    std::lock_guard lock(stop_mu_);
    if (!stopped_) asio::post(ioc_, std::forward<Fn>(fn));
  }

 private:
  void Accept();

  const Options options_;
  const std::vector<AdminRoute> routes_;
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};
  asio::steady_timer accept_pause_{ioc_};  // after a failed accept (out of descriptors)
  std::string address_;
  std::set<std::shared_ptr<Session>> sessions_;  // server thread only
  bool warned_full_ = false;                     // server thread only
  bool warned_accept_ = false;                   // server thread only
  std::mutex stop_mu_;
  bool stopped_ = false;  // guarded by stop_mu_
  std::thread thread_;
};

namespace {

// One client connection: read a request, answer it, again while the client
// keeps the connection alive. Server thread only.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(AdminServer::Impl* server, tcp::socket socket)
      : server_(server),
        stream_(std::move(socket)),
        buffer_(server->options().max_header_bytes + server->options().max_body_bytes + 1024) {
    beast::error_code ec;
    const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
    peer_ = ec ? "?" : EndpointText(peer);
  }

  void Start() { ReadRequest(); }

  // Ends the connection now (the server stops).
  void Cancel() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  void Answer(AdminResponse response) {
    if (!waiting_) return;
    waiting_ = false;
    Send(std::move(response), !keep_alive_);
  }

 private:
  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options().max_header_bytes));
    parser_->body_limit(server_->options().max_body_bytes);
    // Bounds reading the request, and the idle time before it.
    stream_.expires_after(server_->options().io_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
          ec == asio::error::eof) {
        Close();  // the client left or idled out: nothing to answer
        return;
      }
      int status = 400;
      std::string what = "bad request";
      if (ec == http::error::header_limit) {
        status = 431;
        what = "request head larger than " + std::to_string(server_->options().max_header_bytes) +
               " bytes";
      } else if (ec == http::error::body_limit) {
        status = 413;
        what = "request body larger than " + std::to_string(server_->options().max_body_bytes) +
               " bytes";
      }
      spdlog::debug("admin listener: {} from {}: {}", what, peer_, ec.message());
      Send(AdminResponse::Text(status, what + "\n"), /*close=*/true);
      return;
    }
    const http::request<http::string_body> request = parser_->release();
    keep_alive_ = request.keep_alive();
    AdminRequest r;
    r.method = std::string(request.method_string());
    const std::string_view target(request.target().data(), request.target().size());
    const std::size_t question = target.find('?');
    r.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) r.query = std::string(target.substr(question + 1));
    r.peer = peer_;
    // A route may take its time (POST /reload): no deadline while it works.
    stream_.expires_never();
    waiting_ = true;
    std::weak_ptr<Session> weak = shared_from_this();
    std::shared_ptr<AdminServer::Impl> server = server_->shared_from_this();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    server_->Dispatch(r, [server, weak, answered](AdminResponse response) {
      if (answered->exchange(true)) return;  // once
      server->PostIfRunning([weak, response = std::move(response)]() mutable {
        if (auto self = weak.lock()) self->Answer(std::move(response));
      });
    });
  }

  void Send(AdminResponse answer, bool close) {
    response_ = {};
    response_.version(11);
    response_.result(static_cast<http::status>(answer.status));
    response_.set(http::field::content_type, answer.content_type);
    response_.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : answer.headers) response_.set(name, value);
    response_.body() = std::move(answer.body);
    response_.keep_alive(!close);
    response_.prepare_payload();
    close_after_ = close;
    stream_.expires_after(server_->options().io_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec || self->close_after_) {
                          self->Close();
                        } else {
                          self->ReadRequest();
                        }
                      });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
    server_->Forget(shared_from_this());
  }

  AdminServer::Impl* const server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::string peer_;
  bool keep_alive_ = false;
  bool waiting_ = false;  // a route owes the answer
  bool close_after_ = false;
};

}  // namespace

Status AdminServer::Impl::Listen() {
  beast::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(options_.host, ec);
  if (ec) {
    return Status(NITRIC_ERR_INVALID_ARGUMENT,
                  "admin listener: \"" + options_.host + "\" is not a numeric IP address");
  }
  const tcp::endpoint endpoint(ip, options_.port);
  const std::string where = EndpointText(endpoint);
  auto fail = [&](const char* step) {
    return Status(NITRIC_ERR_UNAVAILABLE,
                  fmt::format("admin listener: cannot {} {}: {}; choose another [admin] listen "
                              "address (or --admin), or stop what holds it",
                              step, where, ec.message()));
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open a socket for");
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind to");
  acceptor_.listen(64, ec);
  if (ec) return fail("listen on");
  address_ = EndpointText(acceptor_.local_endpoint(ec));
  return Status();
}

void AdminServer::Impl::Accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors, say: accepting again at once would spin.
      if (!warned_accept_) {
        warned_accept_ = true;
        spdlog::warn("admin listener: accept failed: {}; trying again every 100 ms", ec.message());
      }
      accept_pause_.expires_after(std::chrono::milliseconds(100));
      accept_pause_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && acceptor_.is_open()) Accept();
      });
      return;
    } else if (sessions_.size() >= options_.max_connections) {
      // Refused at once: a flood of connections costs nothing but this.
      if (!warned_full_) {
        warned_full_ = true;
        spdlog::warn(
            "admin listener: {} connections are open (the limit); closing new ones until some "
            "end",
            sessions_.size());
      }
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      warned_full_ = false;
      warned_accept_ = false;
      auto session = std::make_shared<Session>(this, std::move(socket));
      sessions_.insert(session);
      session->Start();
    }
    Accept();
  });
}

void AdminServer::Impl::Dispatch(const AdminRequest& request, AdminRespond respond) {
  std::string allowed;
  for (const AdminRoute& route : routes_) {
    if (route.path != request.path) continue;
    if (route.method == request.method) {
      try {
        route.handle(request, respond);
      } catch (const std::exception& e) {
        spdlog::error("admin listener: {} {} failed: {}", request.method, request.path, e.what());
        respond(AdminResponse::Text(500, "internal error\n"));
      }
      return;
    }
    allowed += allowed.empty() ? route.method : ", " + route.method;
  }
  if (allowed.empty()) {
    respond(AdminResponse::Text(404, "not found: " + request.path + "\n"));
    return;
  }
  AdminResponse response =
      AdminResponse::Text(405, request.path + " answers " + allowed + " only\n");
  response.headers.emplace_back("Allow", allowed);
  respond(std::move(response));
}

void AdminServer::Impl::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    // The last thing the server thread does.
    asio::post(ioc_, [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      accept_pause_.cancel();
      for (const auto& session : sessions_) session->Cancel();
      sessions_.clear();
      ioc_.stop();
    });
  }
  if (thread_.joinable()) thread_.join();
}

StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(Options options,
                                                          std::vector<AdminRoute> routes) {
  auto impl = std::make_shared<Impl>(std::move(options), std::move(routes));
  if (Status listening = impl->Listen(); !listening.ok()) return listening;
  impl->Run();
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Stop() { impl_->Stop(); }

const std::string& AdminServer::address() const { return impl_->address(); }

}  // namespace nitric::host
