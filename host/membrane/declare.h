// Declaring what the plugins use, exactly as the Nitric SDKs do
// (docs/PROTOCOL.md#declarations): each websocket, then a policy granting the service
// WebsocketManage on it; each KV store, then a policy with the actions its
// permissions map to (get -> Read, set -> Write, delete -> Delete).
#pragma once

#include <chrono>
#include <string>

#include <grpcpp/support/status.h>

#include "host/base/declarations.h"
#include "nitric/proto/resources/v1/resources.grpc.pb.h"

namespace nitric::host {

// The Declare requests for `declarations`, in the order they are sent. A
// function of its own so tests can check them without a membrane.
std::vector<proto::resources::v1::ResourceDeclareRequest> DeclareRequests(
    const Declarations& declarations);

// Sends DeclareRequests(declarations) one after the other; stops at the first
// failure. Declaring is idempotent on the membrane, so a retry sends all again.
grpc::Status DeclareAll(proto::resources::v1::Resources::Stub* resources,
                        const Declarations& declarations, const std::string& service_name,
                        std::chrono::milliseconds timeout);

}  // namespace nitric::host
