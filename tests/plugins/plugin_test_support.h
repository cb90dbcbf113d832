// Helpers for the plugin tests: a fake MembraneClient that records calls and
// keeps KV data in memory, a log capture, event builders and a scratch
// plugins folder.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "host/base/membrane_client.h"
#include "host/plugins/generation_loader.h"
#include "nitric/proto/websockets/v1/websockets.pb.h"

namespace nitric::host::testing {

namespace fs = std::filesystem;
namespace wsproto = ::nitric::proto::websockets::v1;

inline const fs::path kTestPlugins = NITRIC_TEST_PLUGIN_DIR;
inline const fs::path kExamplePlugins = NITRIC_EXAMPLE_PLUGIN_DIR;

// The seam between the plugin host and the gRPC session: records what the
// plugins asked for.
class FakeMembrane : public MembraneClient {
 public:
  struct Sent {
    std::string socket, connection, data;
  };

  ~FakeMembrane() override {
    std::lock_guard<std::mutex> lock(completers_mu_);
    for (auto& t : completers_) t.join();
  }

  Status Send(std::string_view socket, std::string_view id, std::string_view data) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_sends_) return Status(NITRIC_ERR_UNAVAILABLE, "membrane down");
    sent_.push_back({std::string(socket), std::string(id), std::string(data)});
    calls_.push_back("send " + std::string(id) + " " + std::string(data));
    return Status();
  }
  // With set_pipelined(true), like the gRPC client: the send completes later
  // (5 ms), on another thread.
  bool PipelinesSends() const override { return pipelined_; }
  void SendAsync(std::string_view socket, std::string_view id, std::string_view data,
                 SendDone done) override {
    if (!pipelined_) {
      done(Send(socket, id, data));
      return;
    }
    std::lock_guard<std::mutex> lock(completers_mu_);
    completers_.emplace_back([this, socket = std::string(socket), id = std::string(id),
                              data = std::string(data), done = std::move(done)] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      done(Send(socket, id, data));
    });
  }
  Status Close(std::string_view socket, std::string_view id) override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_.push_back(std::string(socket) + "/" + std::string(id));
    calls_.push_back("close " + std::string(id));
    return Status();
  }
  Status SocketUrl(std::string_view socket, std::string* url) override {
    *url = "ws://127.0.0.1:4001/" + std::string(socket);
    return Status();
  }
  Status KvGet(std::string_view store, std::string_view key, std::string* json) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = kv_.find(Key(store, key));
    if (it == kv_.end()) return Status(NITRIC_ERR_NOT_FOUND, "no such key");
    *json = it->second;
    return Status();
  }
  Status KvSet(std::string_view store, std::string_view key, std::string_view json) override {
    std::lock_guard<std::mutex> lock(mu_);
    kv_[Key(store, key)] = std::string(json);
    calls_.push_back("kv_set " + std::string(key));
    return Status();
  }
  Status KvDelete(std::string_view store, std::string_view key) override {
    std::lock_guard<std::mutex> lock(mu_);
    kv_.erase(Key(store, key));
    return Status();
  }
  Status KvKeys(std::string_view store, std::string_view prefix,
                std::vector<std::string>* keys) override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string head = std::string(store) + '\0' + std::string(prefix);
    for (const auto& [k, v] : kv_) {
      if (k.rfind(head, 0) == 0) keys->push_back(k.substr(store.size() + 1));
    }
    return Status();
  }

  std::vector<Sent> sent() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  // The data sent to `connection`, in order.
  std::vector<std::string> SentTo(std::string_view connection) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& s : sent_) {
      if (s.connection == connection) out.push_back(s.data);
    }
    return out;
  }
  std::vector<std::string> closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  std::map<std::string, std::string> kv() const {
    std::lock_guard<std::mutex> lock(mu_);
    return kv_;
  }
  // Completed sends, closes and KV writes, in the order the membrane saw them.
  std::vector<std::string> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  void set_pipelined(bool pipelined) { pipelined_ = pipelined; }
  void set_fail_sends(bool fail) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_sends_ = fail;
  }

 private:
  static std::string Key(std::string_view store, std::string_view key) {
    return std::string(store) + '\0' + std::string(key);
  }

  mutable std::mutex mu_;
  std::vector<Sent> sent_;
  std::vector<std::string> closed_;
  std::map<std::string, std::string> kv_;
  std::vector<std::string> calls_;
  bool fail_sends_ = false;
  bool pipelined_ = false;  // set before use, read by handler threads
  std::mutex completers_mu_;
  std::vector<std::thread> completers_;
};

// A logger whose lines the test can read: "[name] [level] text".
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)) {
    sink_->set_pattern("[%n] [%l] %v");
    logger_ = std::make_shared<spdlog::logger>("host", sink_);
    logger_->set_level(spdlog::level::trace);
  }
  const std::shared_ptr<spdlog::logger>& logger() const { return logger_; }
  std::vector<std::string> lines() const { return sink_->last_formatted(); }
  // Every line containing all of `parts`.
  std::vector<std::string> Find(std::initializer_list<std::string_view> parts) const {
    std::vector<std::string> out;
    for (const std::string& line : lines()) {
      if (std::all_of(parts.begin(), parts.end(),
                      [&](std::string_view p) { return line.find(p) != std::string::npos; })) {
        out.push_back(line);
      }
    }
    return out;
  }
  std::string All() const {
    std::string out;
    for (const auto& line : lines()) out += line + "\n";
    return out;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> logger_;
};

// A fresh folder to put plugin files in, removed at the end of the test.
class ScratchFolder {
 public:
  ScratchFolder() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("nitric-plugin-test-" + std::to_string(::getpid()) + "-" +
             (info != nullptr ? std::string(info->name()) : std::string("x")));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

  // Copies a built plugin in, under `as` (default: its own name).
  fs::path Add(const fs::path& plugin, std::string as = {}) const {
    fs::path to = path_ / (as.empty() ? plugin.filename().string() : as);
    fs::copy_file(plugin, to, fs::copy_options::overwrite_existing);
    return to;
  }

 private:
  fs::path path_;
};

inline wsproto::WebsocketEventRequest Connect(
    std::string socket, std::string connection,
    std::vector<std::pair<std::string, std::vector<std::string>>> query = {}) {
  wsproto::WebsocketEventRequest req;
  req.set_socket_name(std::move(socket));
  req.set_connection_id(std::move(connection));
  auto* params = req.mutable_connection()->mutable_query_params();
  for (auto& [key, values] : query) {
    for (auto& v : values) (*params)[key].add_value(v);
  }
  return req;
}

inline wsproto::WebsocketEventRequest Message(std::string socket, std::string connection,
                                              std::string body) {
  wsproto::WebsocketEventRequest req;
  req.set_socket_name(std::move(socket));
  req.set_connection_id(std::move(connection));
  req.mutable_message()->set_body(std::move(body));
  return req;
}

inline wsproto::WebsocketEventRequest Disconnect(std::string socket, std::string connection) {
  wsproto::WebsocketEventRequest req;
  req.set_socket_name(std::move(socket));
  req.set_connection_id(std::move(connection));
  req.mutable_disconnection();
  return req;
}

// Loads a folder with a fake membrane and a captured log.
struct Loaded {
  FakeMembrane membrane;
  LogCapture log;
  std::shared_ptr<PluginGeneration> generation;
  GenerationReport report;

  GenerationOptions Options(const fs::path& folder, toml::table configs = {}) {
    GenerationOptions options;
    options.folder = folder;
    options.plugin_configs = std::move(configs);
    options.membrane = &membrane;
    options.logger = log.logger();
    return options;
  }
  void Load(const fs::path& folder, toml::table configs = {}) {
    LoadedGeneration loaded = LoadGeneration(Options(folder, std::move(configs)), generation.get());
    generation = std::move(loaded.generation);
    report = std::move(loaded.report);
  }
  // True when the answer rejects the connection (only ever for a Connect).
  bool Handle(const wsproto::WebsocketEventRequest& req) {
    wsproto::WebsocketEventType type = wsproto::Message;
    if (req.has_connection()) type = wsproto::Connect;
    if (req.has_disconnection()) type = wsproto::Disconnect;
    last_result = generation->Handle(type, req);
    return type == wsproto::Connect && last_result != HandleResult::kAccepted;
  }
  HandleResult last_result = HandleResult::kAccepted;
  const PluginReport* ReportFor(std::string_view file) const {
    for (const auto& r : report.plugins) {
      if (r.file == file) return &r;
    }
    return nullptr;
  }
};

}  // namespace nitric::host::testing
