#include "support/membrane_fixture.h"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace nitric::testing {

MembraneFixture::MembraneFixture(std::filesystem::path data_dir) {
  if (data_dir.empty()) {
    temp_ = std::make_unique<TempDir>();
    data_dir = temp_->path() / "data";
  }
  options_.listen = "127.0.0.1:0";
  options_.gateway_host = "127.0.0.1";
  options_.gateway_base_port = 0;
  options_.data_dir = std::move(data_dir);
}

MembraneFixture::~MembraneFixture() { Stop(); }

void MembraneFixture::Start() {
  Stop();
  membrane_ = std::make_unique<devserver::DevMembrane>(options_);
  grpc::Status s = membrane_->Start();
  ASSERT_TRUE(s.ok()) << "dev membrane did not start: " << s.error_message();
  address_ = membrane_->grpc_address();
  channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(
      channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5)))
      << "cannot connect to " << address_;
}

void MembraneFixture::Stop() {
  channel_.reset();
  if (membrane_) {
    membrane_->Shutdown();
    membrane_.reset();
  }
}

void MembraneFixture::Restart() {
  Stop();
  Start();
}

}  // namespace nitric::testing
