// WebsocketHandler.HandleEvents: registration rules and request/response
// pairing, exercised with the generated client stub over a real loopback gRPC
// server that serves a HandlerRegistry.
#include "devserver/handler_registry.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "log_capture.h"

namespace nitric::devserver {
namespace {

using namespace std::chrono_literals;
using wsproto::ClientMessage;
using wsproto::ServerMessage;

// One HandleEvents call from the service's side, driven synchronously.
class HandlerClient {
 public:
  explicit HandlerClient(wsproto::WebsocketHandler::Stub& stub) {
    ctx_.AddMetadata("x-nitric-service-name", "registry-test");
    stream_ = stub.HandleEvents(&ctx_);
  }
  ~HandlerClient() {
    if (finished_) return;
    ctx_.TryCancel();
    Drain();
  }

  bool Send(const ClientMessage& msg) { return stream_->Write(msg); }

  bool SendRegistration(const std::string& socket, wsproto::WebsocketEventType type) {
    ClientMessage msg;
    msg.mutable_registration_request()->set_socket_name(socket);
    msg.mutable_registration_request()->set_event_type(type);
    return Send(msg);
  }

  // Registers and waits for the acknowledgement.
  ::testing::AssertionResult Register(const std::string& socket, wsproto::WebsocketEventType type) {
    if (!SendRegistration(socket, type)) return ::testing::AssertionFailure() << "write failed";
    ServerMessage ack;
    if (!stream_->Read(&ack)) {
      return ::testing::AssertionFailure() << "stream ended: " << Drain().error_message();
    }
    if (!ack.has_registration_response() || !ack.id().empty()) {
      return ::testing::AssertionFailure() << "unexpected ack: " << ack.ShortDebugString();
    }
    return ::testing::AssertionSuccess();
  }

  bool Read(ServerMessage* msg) { return stream_->Read(msg); }

  bool Answer(const std::string& id, bool reject) {
    ClientMessage msg;
    msg.set_id(id);
    msg.mutable_websocket_event_response()->mutable_connection_response()->set_reject(reject);
    return Send(msg);
  }

  // Half-closes and returns the final status.
  grpc::Status Close() {
    stream_->WritesDone();
    return Drain();
  }

  // Reads until the server ends the stream and returns its status.
  grpc::Status Drain() {
    if (finished_) return status_;
    ServerMessage ignored;
    while (stream_->Read(&ignored)) {
    }
    finished_ = true;
    status_ = stream_->Finish();
    return status_;
  }

  void Cancel() { ctx_.TryCancel(); }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<ClientMessage, ServerMessage>> stream_;
  bool finished_ = false;
  grpc::Status status_;
};

wsproto::WebsocketEventRequest MessageEvent(const std::string& socket, const std::string& conn,
                                            const std::string& body) {
  wsproto::WebsocketEventRequest event;
  event.set_socket_name(socket);
  event.set_connection_id(conn);
  event.mutable_message()->set_body(body);
  return event;
}

class HandlerRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_unique<HandlerRegistry>(
        [this](const std::string& socket) {
          std::lock_guard lock(mu_);
          hooked_sockets_.push_back(socket);
          return grpc::Status::OK;
        },
        registry_options_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    registry_->AddTo(builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    registry_->Start();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
    stub_ = wsproto::WebsocketHandler::NewStub(channel_);
  }

  void TearDown() override {
    registry_->Shutdown();
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + 2s);
      server_->Wait();
    }
    registry_->Stop();
    server_.reset();
    registry_.reset();
  }

  std::future<DeliveryResult> Deliver(wsproto::WebsocketEventType type,
                                      wsproto::WebsocketEventRequest event) {
    auto promise = std::make_shared<std::promise<DeliveryResult>>();
    auto future = promise->get_future();
    registry_->Deliver(type, std::move(event),
                       [promise](DeliveryResult r) { promise->set_value(std::move(r)); });
    return future;
  }

  // Waits until `socket` has exactly `count` registered types.
  bool WaitForTypes(const std::string& socket, std::size_t count) {
    for (int i = 0; i < 6000; ++i) {  // 60 s: bounds a hang only
      if (registry_->RegisteredTypes(socket).size() == count) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  HandlerRegistryOptions registry_options_;  // used by SetUp
  std::mutex mu_;
  std::vector<std::string> hooked_sockets_;
  std::unique_ptr<HandlerRegistry> registry_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<wsproto::WebsocketHandler::Stub> stub_;
};

TEST_F(HandlerRegistryTest, RegistrationIsAcknowledgedAndOpensTheSocket) {
  HandlerClient client(*stub_);
  ASSERT_TRUE(client.Register("chat", wsproto::Message));

  EXPECT_EQ(registry_->RegisteredTypes("chat"),
            std::vector<wsproto::WebsocketEventType>{wsproto::Message});
  std::lock_guard lock(mu_);
  EXPECT_EQ(hooked_sockets_, std::vector<std::string>{"chat"});
}

TEST_F(HandlerRegistryTest, DuplicateRegistrationIsRefusedWithAlreadyExists) {
  HandlerClient first(*stub_);
  ASSERT_TRUE(first.Register("chat", wsproto::Message));

  HandlerClient second(*stub_);
  ASSERT_TRUE(second.SendRegistration("chat", wsproto::Message));
  grpc::Status status = second.Drain();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(status.error_message(),
            "websocket handler already registered for socket 'chat' event 'message'");
  // The first registration is untouched and still receives events.
  auto result = Deliver(wsproto::Message, MessageEvent("chat", "c1", "hi"));
  ServerMessage event;
  ASSERT_TRUE(first.Read(&event));
  ASSERT_TRUE(first.Answer(event.id(), false));
  EXPECT_TRUE(result.get().delivered);
}

TEST_F(HandlerRegistryTest, EachEventTypeOfASocketHasItsOwnRegistration) {
  HandlerClient connect(*stub_), disconnect(*stub_), message(*stub_);
  ASSERT_TRUE(connect.Register("chat", wsproto::Connect));
  ASSERT_TRUE(disconnect.Register("chat", wsproto::Disconnect));
  ASSERT_TRUE(message.Register("chat", wsproto::Message));
  HandlerClient other_socket(*stub_);
  ASSERT_TRUE(other_socket.Register("news", wsproto::Message));

  EXPECT_EQ(registry_->RegisteredTypes("chat").size(), 3u);
  EXPECT_EQ(registry_->RegisteredTypes("news").size(), 1u);
}

TEST_F(HandlerRegistryTest, RegistrationIsRemovedWhenTheStreamCloses) {
  {
    HandlerClient client(*stub_);
    ASSERT_TRUE(client.Register("chat", wsproto::Message));
    EXPECT_TRUE(client.Close().ok());
  }
  EXPECT_TRUE(registry_->RegisteredTypes("chat").empty());

  HandlerClient again(*stub_);
  EXPECT_TRUE(again.Register("chat", wsproto::Message));
}

TEST_F(HandlerRegistryTest, RegistrationIsRemovedWhenTheClientCancels) {
  {
    HandlerClient client(*stub_);
    ASSERT_TRUE(client.Register("chat", wsproto::Message));
    client.Cancel();
    client.Drain();
  }
  ASSERT_TRUE(WaitForTypes("chat", 0));

  HandlerClient again(*stub_);
  EXPECT_TRUE(again.Register("chat", wsproto::Message));
}

TEST_F(HandlerRegistryTest, FirstMessageThatIsNotARegistrationIsRefused) {
  HandlerClient client(*stub_);
  ASSERT_TRUE(client.Answer("1", false));

  grpc::Status status = client.Drain();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(HandlerRegistryTest, RegistrationWithoutSocketNameIsRefused) {
  HandlerClient client(*stub_);
  ASSERT_TRUE(client.SendRegistration("", wsproto::Message));

  EXPECT_EQ(client.Drain().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(HandlerRegistryTest, HundredEventsInFlightAnsweredInReverseOrderAreMatched) {
  HandlerClient client(*stub_);
  ASSERT_TRUE(client.Register("chat", wsproto::Message));
  constexpr int kEvents = 100;
  std::vector<std::future<DeliveryResult>> results;
  for (int i = 0; i < kEvents; ++i) {
    results.push_back(Deliver(wsproto::Message, MessageEvent("chat", "c", std::to_string(i))));
  }

  std::vector<ServerMessage> received(kEvents);
  for (auto& msg : received) ASSERT_TRUE(client.Read(&msg));
  // Answer last-first; event i is rejected exactly when i is odd, so each
  // callback can tell whether it got its own answer.
  for (int i = kEvents - 1; i >= 0; --i) {
    const ServerMessage& msg = received[i];
    ASSERT_TRUE(msg.has_websocket_event_request());
    int n = std::stoi(msg.websocket_event_request().message().body());
    ASSERT_TRUE(client.Answer(msg.id(), n % 2 == 1));
  }

  for (int i = 0; i < kEvents; ++i) {
    ASSERT_EQ(results[i].wait_for(5s), std::future_status::ready) << "event " << i;
    DeliveryResult r = results[i].get();
    EXPECT_TRUE(r.delivered) << "event " << i << ": " << r.error;
    EXPECT_EQ(r.reject, i % 2 == 1) << "event " << i;
  }
}

TEST_F(HandlerRegistryTest, EventCarriesSocketConnectionAndUniqueId) {
  HandlerClient client(*stub_);
  ASSERT_TRUE(client.Register("chat", wsproto::Connect));
  wsproto::WebsocketEventRequest connect;
  connect.set_socket_name("chat");
  connect.set_connection_id("conn-1");
  (*connect.mutable_connection()->mutable_query_params())["token"].add_value("abc");
  auto first = Deliver(wsproto::Connect, connect);
  auto second = Deliver(wsproto::Connect, connect);

  ServerMessage a, b;
  ASSERT_TRUE(client.Read(&a));
  ASSERT_TRUE(client.Read(&b));

  EXPECT_FALSE(a.id().empty());
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(a.websocket_event_request().socket_name(), "chat");
  EXPECT_EQ(a.websocket_event_request().connection_id(), "conn-1");
  EXPECT_EQ(a.websocket_event_request().connection().query_params().at("token").value(0), "abc");
  ASSERT_TRUE(client.Answer(a.id(), true));
  ASSERT_TRUE(client.Answer(b.id(), false));
  EXPECT_TRUE(first.get().reject);
  EXPECT_FALSE(second.get().reject);
}

TEST_F(HandlerRegistryTest, AnswersWithUnknownIdsAreIgnored) {
  HandlerClient client(*stub_);
  ASSERT_TRUE(client.Register("chat", wsproto::Message));
  for (const char* id : {"", "nope", "424242", "-1", "99999999999999999999999"}) {
    ASSERT_TRUE(client.Answer(id, true));
  }
  // An event that is not a response at all is ignored too.
  ClientMessage stray;
  stray.set_id("7");
  ASSERT_TRUE(client.Send(stray));

  auto result = Deliver(wsproto::Message, MessageEvent("chat", "c", "still alive"));
  ServerMessage event;
  ASSERT_TRUE(client.Read(&event));
  ASSERT_TRUE(client.Answer(event.id(), false));

  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  DeliveryResult r = result.get();
  EXPECT_TRUE(r.delivered);
  EXPECT_FALSE(r.reject);
}

TEST_F(HandlerRegistryTest, DeliveryWithoutRegisteredHandlerFails) {
  HandlerClient client(*stub_);
  ASSERT_TRUE(client.Register("chat", wsproto::Message));

  DeliveryResult r = Deliver(wsproto::Connect, MessageEvent("chat", "c", "x")).get();

  EXPECT_FALSE(r.delivered);
  EXPECT_NE(r.error.find("no websocket handler registered for socket 'chat' event 'connect'"),
            std::string::npos)
      << r.error;
}

TEST_F(HandlerRegistryTest, EventsStillWaitingFailWhenTheStreamEnds) {
  HandlerClient client(*stub_);
  ASSERT_TRUE(client.Register("chat", wsproto::Message));
  std::vector<std::future<DeliveryResult>> results;
  for (int i = 0; i < 3; ++i) {
    results.push_back(Deliver(wsproto::Message, MessageEvent("chat", "c", "x")));
  }
  ServerMessage event;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.Read(&event));

  client.Close();

  for (auto& f : results) {
    ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
    EXPECT_FALSE(f.get().delivered);
  }
}

TEST_F(HandlerRegistryTest, ConcurrentDeliveriesFromManyThreadsAreAllAnswered) {
  HandlerClient client(*stub_);
  ASSERT_TRUE(client.Register("chat", wsproto::Message));
  constexpr int kThreads = 8;
  constexpr int kPerThread = 250;
  std::atomic<int> answered{0}, wrong{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        bool odd = (t + i) % 2 == 1;
        registry_->Deliver(wsproto::Message, MessageEvent("chat", "c", odd ? "odd" : "even"),
                           [&, odd](DeliveryResult r) {
                             if (!r.delivered || r.reject != odd) ++wrong;
                             ++answered;
                           });
      }
    });
  }
  // The service answers each event as it arrives.
  for (int n = 0; n < kThreads * kPerThread; ++n) {
    ServerMessage msg;
    ASSERT_TRUE(client.Read(&msg));
    ASSERT_TRUE(client.Answer(msg.id(), msg.websocket_event_request().message().body() == "odd"));
  }
  for (auto& t : senders) t.join();
  for (int i = 0; i < 6000 && answered < kThreads * kPerThread; ++i)
    std::this_thread::sleep_for(10ms);

  EXPECT_EQ(answered, kThreads * kPerThread);
  EXPECT_EQ(wrong, 0);
}

TEST_F(HandlerRegistryTest, ShutdownEndsStreamsAndRefusesDeliveries) {
  HandlerClient client(*stub_);
  ASSERT_TRUE(client.Register("chat", wsproto::Message));

  registry_->Shutdown();

  EXPECT_EQ(client.Drain().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(Deliver(wsproto::Message, MessageEvent("chat", "c", "x")).get().delivered);
  HandlerClient late(*stub_);
  EXPECT_FALSE(late.Register("chat", wsproto::Message));
}

// Event deadlines (docs/PROTOCOL.md#dev-gateway): the events below are never
// answered, so the short deadline decides every outcome and nothing depends
// on how fast the test runs.
class HandlerRegistryDeadlineTest : public HandlerRegistryTest {
 protected:
  HandlerRegistryDeadlineTest() { registry_options_.event_timeout = 100ms; }
};

TEST_F(HandlerRegistryDeadlineTest, AnEventNotAnsweredInTimeFailsAndTheStreamStays) {
  HandlerClient client(*stub_);
  ASSERT_TRUE(client.Register("chat", wsproto::Message));

  auto result = Deliver(wsproto::Message, MessageEvent("chat", "c", "x"));
  ServerMessage event;
  ASSERT_TRUE(client.Read(&event));  // the service got it and says nothing

  ASSERT_EQ(result.wait_for(60s), std::future_status::ready);
  const DeliveryResult r = result.get();
  EXPECT_FALSE(r.delivered);
  EXPECT_NE(r.error.find("the handler for socket 'chat' event 'message' did not answer within "
                         "0.1 s"),
            std::string::npos)
      << r.error;
  EXPECT_EQ(registry_->RegisteredTypes("chat").size(), 1u) << "one slow event is not a dead stream";
  // Its answer, when it comes, is for an event that is gone.
  EXPECT_TRUE(client.Answer(event.id(), false));
}

TEST_F(HandlerRegistryDeadlineTest, SeveralTimeoutsInARowLogTheStreamAsUnhealthy) {
  using nitric::devserver::testing::LogCapture;
  LogCapture log;
  HandlerClient client(*stub_);
  ASSERT_TRUE(client.Register("chat", wsproto::Message));
  const auto time_out = [&](int n) {
    std::vector<std::future<DeliveryResult>> results;
    for (int i = 0; i < n; ++i) {
      results.push_back(Deliver(wsproto::Message, MessageEvent("chat", "c", "x")));
    }
    for (auto& result : results) {
      ASSERT_EQ(result.wait_for(60s), std::future_status::ready);
      EXPECT_FALSE(result.get().delivered);
    }
  };

  ASSERT_NO_FATAL_FAILURE(time_out(registry_options_.unhealthy_after - 1));
  EXPECT_EQ(log.Text().find("is unhealthy"), std::string::npos) << "not yet";
  ASSERT_NO_FATAL_FAILURE(time_out(1));

  EXPECT_NE(log.Text().find("HandleEvents stream for socket 'chat' event 'message' (service "
                            "'registry-test') is unhealthy: 3 events in a row were not answered"),
            std::string::npos)
      << log.Text();
}

}  // namespace
}  // namespace nitric::devserver
