// The one gRPC channel to the membrane, and the per-call context every call
// on it uses.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

namespace nitric::host {

// Opens an insecure channel to `address` (docs/PROTOCOL.md#transport: plaintext HTTP/2). The
// channel reconnects by itself; its reconnect backoff is capped at a couple of
// seconds so a restarted membrane is found again quickly. Never blocks.
std::shared_ptr<grpc::Channel> OpenMembraneChannel(const std::string& address);

// Fills `context` for one call: the x-nitric-service-name metadata and, when
// `timeout` is positive, a deadline that far from now.
void PrepareContext(grpc::ClientContext* context, const std::string& service_name,
                    std::chrono::milliseconds timeout);

}  // namespace nitric::host
