// The admin listener (host/admin/admin_server.h) in-process: routing, answers
// from another thread, and what a bad or slow client gets. No client can
// block or crash it.
#include "host/admin/admin_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "support/ws_client.h"

namespace nitric::host {
namespace {

using namespace std::chrono_literals;
using testing::HttpReply;
using testing::HttpRequest;

// A raw TCP client: what a hostile or broken client sends.
class RawClient {
 public:
  explicit RawClient(const std::string& address) {
    const std::size_t colon = address.rfind(':');
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
    inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() { close(fd_); }

  bool connected() const { return connected_; }
  bool Send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Everything until the server closes the connection; nullopt if it did
  // not within `deadline` (a bound on a hang, not a measurement).
  std::optional<std::string> ReadUntilClosed(std::chrono::milliseconds deadline = 60s) {
    std::string out;
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buffer[4096];
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return out;  // closed (or reset)
      out.append(buffer, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

int StatusOf(const std::string& response) {
  // "HTTP/1.1 431 ..."
  if (response.size() < 12 || response.compare(0, 9, "HTTP/1.1 ") != 0) return 0;
  return std::stoi(response.substr(9, 3));
}

class AdminServerTest : public ::testing::Test {
 protected:
  void Start(AdminServer::Options options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    std::vector<AdminRoute> routes;
    routes.push_back({"GET", "/hello", [](const AdminRequest& r, AdminRespond respond) {
                        respond(AdminResponse::Text(200, "hello " + r.query));
                      }});
    routes.push_back({"POST", "/later", [this](const AdminRequest&, AdminRespond respond) {
                        std::lock_guard lock(mu_);
                        later_ = std::move(respond);
                        later_promise_.set_value();
                      }});
    routes.push_back({"GET", "/throws",
                      [](const AdminRequest&, AdminRespond) { throw std::runtime_error("boom"); }});
    StatusOr<std::unique_ptr<AdminServer>> started =
        AdminServer::Start(std::move(options), std::move(routes));
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(started.value());
    url_ = "http://" + server_->address();
  }

  std::unique_ptr<AdminServer> server_;
  std::string url_;
  std::mutex mu_;
  AdminRespond later_;
  std::promise<void> later_promise_;
};

TEST_F(AdminServerTest, RoutesByPathAndMethod) {
  ASSERT_NO_FATAL_FAILURE(Start());
  HttpReply hello = HttpRequest(url_ + "/hello?x=1");
  EXPECT_EQ(hello.status, 200) << hello.error;
  EXPECT_EQ(hello.body, "hello x=1");
  EXPECT_EQ(HttpRequest(url_ + "/nope").status, 404);
  HttpReply wrong = HttpRequest(url_ + "/hello", "POST");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_NE(wrong.body.find("GET only"), std::string::npos);
  EXPECT_EQ(HttpRequest(url_ + "/throws").status, 500);
  // Still serving after all of that.
  EXPECT_EQ(HttpRequest(url_ + "/hello").status, 200);
}

TEST_F(AdminServerTest, KeepsAConnectionAliveForSeveralRequests) {
  ASSERT_NO_FATAL_FAILURE(Start());
  RawClient client(server_->address());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(
      client.Send("GET /hello?a HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /hello?b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::optional<std::string> both = client.ReadUntilClosed();
  ASSERT_TRUE(both);
  EXPECT_NE(both->find("hello a"), std::string::npos) << *both;
  EXPECT_NE(both->find("hello b"), std::string::npos) << *both;
}

TEST_F(AdminServerTest, ARouteMayAnswerLaterFromAnotherThread) {
  ASSERT_NO_FATAL_FAILURE(Start());
  auto reply = std::async(std::launch::async, [&] { return HttpRequest(url_ + "/later", "POST"); });
  later_promise_.get_future().wait();
  // Meanwhile the server goes on serving others.
  EXPECT_EQ(HttpRequest(url_ + "/hello").status, 200);
  std::thread([&] {
    std::lock_guard lock(mu_);
    later_(AdminResponse::Json(200, "{\"done\": true}"));
    later_(AdminResponse::Json(500, "a second answer is ignored"));
  }).join();
  HttpReply answered = reply.get();
  EXPECT_EQ(answered.status, 200);
  EXPECT_EQ(answered.body, "{\"done\": true}");
  EXPECT_EQ(answered.content_type, "application/json");
}

TEST_F(AdminServerTest, AnAnswerAfterStopIsDropped) {
  ASSERT_NO_FATAL_FAILURE(Start());
  auto reply = std::async(std::launch::async, [&] { return HttpRequest(url_ + "/later", "POST"); });
  later_promise_.get_future().wait();
  server_->Stop();
  EXPECT_NE(reply.get().status, 200);  // the connection was closed
  std::lock_guard lock(mu_);
  later_(AdminResponse::Text(200, "too late"));  // must not crash
  server_.reset();
}

TEST_F(AdminServerTest, OversizedHeadIs431AndOversizedBodyIs413) {
  AdminServer::Options options;
  options.max_header_bytes = 1024;
  options.max_body_bytes = 16;
  ASSERT_NO_FATAL_FAILURE(Start(options));
  {
    RawClient client(server_->address());
    ASSERT_TRUE(client.Send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'a') +
                            "\r\n\r\n"));
    std::optional<std::string> response = client.ReadUntilClosed();
    ASSERT_TRUE(response);
    EXPECT_EQ(StatusOf(*response), 431) << *response;
  }
  {
    RawClient client(server_->address());
    ASSERT_TRUE(client.Send("POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" +
                            std::string(100, 'b')));
    std::optional<std::string> response = client.ReadUntilClosed();
    ASSERT_TRUE(response);
    EXPECT_EQ(StatusOf(*response), 413) << *response;
  }
  EXPECT_EQ(HttpRequest(url_ + "/hello").status, 200);
}

TEST_F(AdminServerTest, GarbageIs400) {
  ASSERT_NO_FATAL_FAILURE(Start());
  RawClient client(server_->address());
  ASSERT_TRUE(client.Send("\x16\x03\x01 this is not HTTP\r\n\r\n"));
  std::optional<std::string> response = client.ReadUntilClosed();
  ASSERT_TRUE(response);
  EXPECT_EQ(StatusOf(*response), 400) << *response;
}

TEST_F(AdminServerTest, ASilentClientIsDroppedAfterTheTimeout) {
  AdminServer::Options options;
  options.io_timeout = 200ms;
  ASSERT_NO_FATAL_FAILURE(Start(options));
  RawClient silent(server_->address());
  ASSERT_TRUE(silent.connected());
  RawClient half(server_->address());
  ASSERT_TRUE(half.Send("GET /hello HTTP/1.1\r\nHo"));  // and nothing more
  // Both are closed by the server (nothing to answer), however long it takes.
  EXPECT_EQ(silent.ReadUntilClosed(), std::string());
  EXPECT_EQ(half.ReadUntilClosed(), std::string());
}

TEST_F(AdminServerTest, ConnectionsBeyondTheLimitAreClosedAtOnce) {
  AdminServer::Options options;
  options.max_connections = 2;
  options.io_timeout = 600s;  // the first two stay open for the whole test
  ASSERT_NO_FATAL_FAILURE(Start(options));
  RawClient first(server_->address());
  RawClient second(server_->address());
  ASSERT_TRUE(first.connected() && second.connected());
  // The server has accepted both once it answers one of them.
  ASSERT_TRUE(first.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(second.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  RawClient third(server_->address());
  ASSERT_TRUE(third.connected());  // the kernel accepts; the server closes it
  // Within half the test's ctest timeout, so a server that keeps it open
  // fails here rather than timing out.
  EXPECT_EQ(third.ReadUntilClosed(30s), std::string());
}

TEST(AdminServerStartTest, AnAddressInUseIsAClearError) {
  StatusOr<std::unique_ptr<AdminServer>> first = AdminServer::Start({"127.0.0.1", 0}, {});
  ASSERT_TRUE(first.ok());
  const std::string address = first.value()->address();
  const uint16_t port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  StatusOr<std::unique_ptr<AdminServer>> second = AdminServer::Start({"127.0.0.1", port}, {});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot bind to " + address), std::string::npos)
      << second.status().message();
  StatusOr<std::unique_ptr<AdminServer>> name = AdminServer::Start({"localhost", 0}, {});
  ASSERT_FALSE(name.ok());
  EXPECT_NE(name.status().message().find("not a numeric IP address"), std::string::npos);
}

}  // namespace
}  // namespace nitric::host
