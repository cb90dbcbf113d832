// The membrane channel's connection attempts (host/membrane/channel.cc):
// a membrane whose HTTP/2 handshake is slow (a loaded machine, a distant
// membrane) is reached on the first attempt, not refused by a connect timeout
// shorter than the handshake.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "host/membrane/channel.h"
#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"

namespace {

using namespace std::chrono_literals;

// Accepts on 127.0.0.1 and forwards each connection to `target_port`, holding
// back the server's first bytes (its SETTINGS frame) for `delay`.
class SlowHandshakeProxy {
 public:
  SlowHandshakeProxy(int target_port, std::chrono::milliseconds delay)
      : target_port_(target_port), delay_(delay) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listener_, 16), 0);
    socklen_t len = sizeof addr;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~SlowHandshakeProxy() {
    stop_ = true;
    shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    for (auto& t : pumps_) t.join();
    close(listener_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void Accept() {
    for (;;) {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 50) < 0 || stop_) return;
      if (!(p.revents & POLLIN)) continue;
      const int client = accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      ++accepted_;
      pumps_.emplace_back([this, client] { Pump(client); });
    }
  }
  void Pump(int client) {
    const int server = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(target_port_));
    if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      const auto release = std::chrono::steady_clock::now() + delay_;
      char buf[16384];
      while (!stop_) {
        const bool hold = std::chrono::steady_clock::now() < release;
        pollfd p[2] = {{client, POLLIN, 0}, {server, static_cast<short>(hold ? 0 : POLLIN), 0}};
        if (poll(p, 2, 20) < 0) break;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
          const ssize_t n = read(client, buf, sizeof buf);
          if (n <= 0 || write(server, buf, static_cast<size_t>(n)) != n) break;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
          const ssize_t n = read(server, buf, sizeof buf);
          if (n <= 0 || write(client, buf, static_cast<size_t>(n)) != n) break;
        }
      }
    }
    close(server);
    close(client);
  }

  int target_port_;
  std::chrono::milliseconds delay_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::vector<std::thread> pumps_;
};

TEST(MembraneChannel, ASlowHandshakeConnectsOnTheFirstAttempt) {
  int server_port = 0;
  // Any service will do: the test only needs the server's HTTP/2 handshake.
  nitric::proto::kvstore::v1::KvStore::Service service;
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &server_port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server_port, 0);

  // 600 ms: longer than any backoff step the channel starts with, far shorter
  // than the connect timeout it must allow.
  SlowHandshakeProxy proxy(server_port, 600ms);
  auto channel = nitric::host::OpenMembraneChannel("127.0.0.1:" + std::to_string(proxy.port()));
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + 30s))
      << "the channel never became ready through a 600 ms handshake";
  EXPECT_EQ(proxy.accepted(), 1)
      << "the first connection attempt was abandoned before the handshake completed";
  channel.reset();
  server->Shutdown();
}

}  // namespace
