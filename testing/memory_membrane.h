// The testing host's membrane: host/base/membrane_client.h in memory. What
// plugins do through it is recorded for the test (sends, closes), KV stores
// are maps, and the test injects failures (a send target that is gone, the
// whole membrane down).
//
// Faithful where a plugin could tell: KV values are converted to
// google.protobuf.Struct and back with the same protobuf JSON utilities and
// options as the gRPC client (host/membrane/grpc_membrane_client.cc), so a
// value reads back as from a real membrane (but with its keys sorted, where
// a real membrane's order is arbitrary); deleting a missing key
// succeeds; sends are pipelined (PipelinesSends) when the host config says
// so, completing before SendAsync returns. Not modelled: which connections
// exist (every send and close succeeds unless a failure was injected).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/base/membrane_client.h"

namespace nitric::testing {

class MemoryMembrane final : public host::MembraneClient {
 public:
  explicit MemoryMembrane(bool pipelines_sends) : pipelines_sends_(pipelines_sends) {}

  // ---- MembraneClient: what plugins call ----

  host::Status Send(std::string_view socket, std::string_view connection_id,
                    std::string_view data) override;
  // Completes (runs `done`) before it returns: nothing here blocks.
  void SendAsync(std::string_view socket, std::string_view connection_id, std::string_view data,
                 SendDone done) override;
  bool PipelinesSends() const override { return pipelines_sends_; }
  host::Status Close(std::string_view socket, std::string_view connection_id) override;
  host::Status SocketUrl(std::string_view socket, std::string* url) override;
  host::Status KvGet(std::string_view store, std::string_view key, std::string* json) override;
  host::Status KvSet(std::string_view store, std::string_view key, std::string_view json) override;
  host::Status KvDelete(std::string_view store, std::string_view key) override;
  host::Status KvKeys(std::string_view store, std::string_view prefix,
                      std::vector<std::string>* keys) override;

  // ---- the test's side (never affected by SetDown) ----

  std::vector<std::string> SentTo(std::string_view socket, std::string_view connection_id) const;
  bool Closed(std::string_view socket, std::string_view connection_id) const;
  // NITRIC_OK removes the failure.
  void FailSendsTo(std::string_view socket, std::string_view connection_id, nitric_status status);
  void SetDown(bool down);

  // The stored JSON text of `key`; false when missing.
  bool Get(std::string_view store, std::string_view key, std::string* json) const;
  // As KvSet, without the down check.
  host::Status Set(std::string_view store, std::string_view key, std::string_view json);
  void Delete(std::string_view store, std::string_view key);
  std::vector<std::string> Keys(std::string_view store, std::string_view prefix) const;

 private:
  using Target = std::pair<std::string, std::string>;  // socket, connection id
  using Store = std::map<std::string, std::string, std::less<>>;

  static Target TargetOf(std::string_view socket, std::string_view connection_id) {
    return Target(std::string(socket), std::string(connection_id));
  }
  // UNAVAILABLE while down (under mu_).
  host::Status DownStatus() const;

  const bool pipelines_sends_;
  mutable std::mutex mu_;
  bool down_ = false;
  std::map<Target, std::vector<std::string>> sent_;
  std::set<Target> closed_;
  std::map<Target, nitric_status> failing_;
  std::map<std::string, Store, std::less<>> stores_;
};

}  // namespace nitric::testing
