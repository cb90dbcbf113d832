// Test fixture for the dev membrane: an in-process DevMembrane on 127.0.0.1
// with ephemeral ports for gRPC and every socket gateway, so that concurrent
// test runs never collide.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "devserver/dev_membrane.h"
#include "support/temp_dir.h"

namespace nitric::testing {

// Owns a DevMembrane listening on 127.0.0.1:0 with gateway_base_port 0 and its
// KV data in `data_dir()` (a TempDir unless given). Start failures are
// reported as gtest fatal failures in the calling test.
class MembraneFixture {
 public:
  // `data_dir` empty: use a private temporary folder.
  explicit MembraneFixture(std::filesystem::path data_dir = {});
  ~MembraneFixture();
  MembraneFixture(const MembraneFixture&) = delete;
  MembraneFixture& operator=(const MembraneFixture&) = delete;

  // Options used by the next Start(); tests may adjust them first.
  devserver::DevMembraneOptions& options() { return options_; }

  // Starts a new membrane (after stopping the running one, if any). Use with
  // ASSERT_NO_FATAL_FAILURE(fixture.Start()).
  void Start();
  // Shutdown() and destroy the membrane; its data stays in data_dir().
  void Stop();
  // Stop() then Start() on the same data folder (the gRPC port changes).
  void Restart();

  devserver::DevMembrane& membrane() { return *membrane_; }
  const std::string& grpc_address() const { return address_; }
  // A channel to the running membrane (a new one after each Start()).
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  const std::filesystem::path& data_dir() const { return options_.data_dir; }

 private:
  std::unique_ptr<TempDir> temp_;
  devserver::DevMembraneOptions options_;
  std::unique_ptr<devserver::DevMembrane> membrane_;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace nitric::testing
