// nitric-dev-membrane --collect FILE: Nitric's build-time collector
// (docs/PROTOCOL.md#collect), run as a real process against a real nitric-host
// in build mode and against a scripted service speaking gRPC.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "host/host_process.h"
#include "membrane_process.h"
#include "nitric/proto/resources/v1/resources.grpc.pb.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"
#include "support/temp_dir.h"

namespace nitric::devserver {
namespace {

namespace resproto = ::nitric::proto::resources::v1;
namespace wsproto = ::nitric::proto::websockets::v1;

const std::regex kAddress("SERVICE_ADDRESS=(127\\.0\\.0\\.1:[0-9]+)");

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class CollectTest : public ::testing::Test {
 protected:
  CollectTest() : plugins_(dir_.path() / "plugins"), out_(dir_.path() / "spec.json") {}

  // The three example plugins, auth guarding socket "public".
  void InstallExamples() {
    std::filesystem::create_directories(plugins_);
    for (const char* name : {"auth", "broadcast", "echo"}) {
      const auto so =
          std::filesystem::path(NITRIC_EXAMPLE_PLUGIN_DIR) / (std::string(name) + ".so");
      ASSERT_TRUE(std::filesystem::exists(so)) << so << " was not built";
      std::filesystem::copy_file(so, plugins_ / so.filename());
    }
    config_ = dir_.path() / "nitric-host.toml";
    std::ofstream(config_) << "[host]\nplugins_dir = \"" << plugins_.string()
                           << "\"\n[plugins.auth]\nsockets = [\"public\"]\ntoken = \"t\"\n";
  }

  nitric::testing::TempDir dir_;
  std::filesystem::path plugins_;
  std::filesystem::path config_;
  std::filesystem::path out_;
};

// What the example plugins declare and register, as the collector writes it.
constexpr const char* kExamplesSpec = R"({
  "services": ["nitric-host"],
  "websockets": [
    {"name": "echo", "handlers": {"connect": {"service": "nitric-host"}, "disconnect": {"service": "nitric-host"}, "message": {"service": "nitric-host"}}},
    {"name": "public", "handlers": {"connect": {"service": "nitric-host"}, "disconnect": {"service": "nitric-host"}, "message": {"service": "nitric-host"}}}
  ],
  "stores": [
    {"name": "connections"}
  ],
  "policies": [
    {"principals": [{"type": "Service", "name": "nitric-host"}], "actions": ["WebsocketManage"], "resources": [{"type": "Websocket", "name": "echo"}]},
    {"principals": [{"type": "Service", "name": "nitric-host"}], "actions": ["WebsocketManage"], "resources": [{"type": "Websocket", "name": "public"}]},
    {"principals": [{"type": "Service", "name": "nitric-host"}], "actions": ["KeyValueStoreRead", "KeyValueStoreWrite", "KeyValueStoreDelete"], "resources": [{"type": "KeyValueStore", "name": "connections"}]}
  ]
}
)";

TEST_F(CollectTest, HostInBuildModeExitsZeroAndTheFileHoldsWhatThePluginsDeclared) {
  ASSERT_NO_FATAL_FAILURE(InstallExamples());
  Membrane collector({"--collect", out_.string(), "--listen", "127.0.0.1:0"});
  const std::string address = collector.WaitFor(kAddress);
  ASSERT_FALSE(address.empty()) << collector.output();

  nitric::testing::HostProcess host;
  EXPECT_EQ(host.Run({"--config", config_.string()},
                     {{"SERVICE_ADDRESS", address}, {"NITRIC_ENVIRONMENT", "build"}}),
            0)
      << host.stderr_text();
  EXPECT_FALSE(std::filesystem::exists(out_)) << "written before the collection ended";

  collector.Signal(SIGTERM);
  ASSERT_EQ(collector.Wait(), 0) << collector.output();
  EXPECT_EQ(ReadFile(out_), kExamplesSpec);
}

TEST_F(CollectTest, RunsTheServiceAfterDoubleDashInBuildModeAndEndsWithIt) {
  ASSERT_NO_FATAL_FAILURE(InstallExamples());
  // The host exits by itself only in build mode, and finds the collector only
  // through SERVICE_ADDRESS: both must be set for it.
  Membrane collector({"--collect", out_.string(), "--listen", "127.0.0.1:0", "--",
                      NITRIC_HOST_BINARY, "--config", config_.string()});
  ASSERT_EQ(collector.Wait(), 0) << collector.output();
  EXPECT_EQ(ReadFile(out_), kExamplesSpec);
}

TEST_F(CollectTest, AServiceThatFailsFailsTheCollectionAndWritesNothing) {
  Membrane collector({"--collect", out_.string(), "--listen", "127.0.0.1:0", "--", "false"});
  EXPECT_EQ(collector.Wait(), 1) << collector.output();
  EXPECT_NE(collector.output().find("the service exited with code 1"), std::string::npos)
      << collector.output();
  EXPECT_FALSE(std::filesystem::exists(out_));
}

// A service that speaks the protocol itself: declares, then registers the
// given event types of socket "chat" one stream at a time.
class ScriptedService {
 public:
  explicit ScriptedService(const std::string& address)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())) {}

  grpc::Status DeclareWebsocket(const std::string& name) {
    resproto::ResourceDeclareRequest req;
    req.mutable_id()->set_type(resproto::Websocket);
    req.mutable_id()->set_name(name);
    resproto::ResourceDeclareResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    return resproto::Resources::NewStub(channel_)->Declare(&ctx, req, &resp);
  }

  // Registers and checks what Nitric's collector does with the stream: one
  // registration_response, then the end of the call with OK.
  void Register(const std::string& socket, wsproto::WebsocketEventType type) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    ctx.AddMetadata("x-nitric-service-name", "scripted");
    auto stream = wsproto::WebsocketHandler::NewStub(channel_)->HandleEvents(&ctx);
    wsproto::ClientMessage reg;
    reg.mutable_registration_request()->set_socket_name(socket);
    reg.mutable_registration_request()->set_event_type(type);
    ASSERT_TRUE(stream->Write(reg));
    wsproto::ServerMessage ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_TRUE(ack.has_registration_response());
    EXPECT_FALSE(stream->Read(&ack)) << "the collector did not end the stream";
    const grpc::Status status = stream->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(CollectTest, AMissingOrDuplicateHandlerIsASpecErrorAndNothingIsWritten) {
  Membrane collector({"--collect", out_.string(), "--listen", "127.0.0.1:0"});
  const std::string address = collector.WaitFor(kAddress);
  ASSERT_FALSE(address.empty()) << collector.output();
  ScriptedService service(address);
  ASSERT_TRUE(service.DeclareWebsocket("chat").ok());
  ASSERT_TRUE(service.DeclareWebsocket("news").ok());
  ASSERT_NO_FATAL_FAILURE(service.Register("chat", wsproto::Connect));
  ASSERT_NO_FATAL_FAILURE(service.Register("chat", wsproto::Connect));
  ASSERT_NO_FATAL_FAILURE(service.Register("chat", wsproto::Disconnect));
  for (auto type : {wsproto::Connect, wsproto::Disconnect, wsproto::Message}) {
    ASSERT_NO_FATAL_FAILURE(service.Register("news", type));
  }

  collector.Signal(SIGTERM);
  EXPECT_EQ(collector.Wait(), 1) << collector.output();
  const std::string& out = collector.output();
  EXPECT_NE(out.find("Errors found in project:\n"
                     "  - 'connect' handler already registered for websocket 'chat'\n"
                     "  - missing message handler for websocket chat\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("websocket news"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(out_));
}

}  // namespace
}  // namespace nitric::devserver
