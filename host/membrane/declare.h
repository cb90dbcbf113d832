// Declaring what the plugins use, exactly as the Nitric SDKs do
// (docs/PROTOCOL.md#declarations): each websocket, then a policy granting the service
// WebsocketManage on it; each KV store, then a policy with the actions its
// permissions map to (get -> Read, set -> Write, delete -> Delete).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "host/base/declarations.h"
#include "nitric/proto/resources/v1/resources.grpc.pb.h"

namespace nitric::host {

// The Declare requests for `declarations`, in the order they are sent. A
// function of its own so tests can check them without a membrane.
std::vector<proto::resources::v1::ResourceDeclareRequest> DeclareRequests(
    const Declarations& declarations);

// True for the codes that say the membrane could not be asked (it is away,
// slow or overloaded), as opposed to a membrane that answered and refused.
bool IsOutage(grpc::StatusCode code);

struct DeclareResult {
  // Not OK: the membrane could not be asked (IsOutage); declaring stopped
  // there and nothing is decided about the rest.
  grpc::Status status;
  // Resources the membrane answered and refused: name -> its error, as
  // "declare KeyValueStore \"x\": <the membrane's text>".
  std::map<std::string, grpc::Status> refused_sockets;
  std::map<std::string, grpc::Status> refused_stores;
};

// Sends DeclareRequests(declarations) one after the other. A resource (or its
// policy) that the membrane refuses is recorded and the others are still
// declared, so one broken resource refuses only the plugins that declared
// it; an outage stops at once. Declaring is idempotent on the membrane, so a
// retry sends all again.
DeclareResult DeclareAll(proto::resources::v1::Resources::Stub* resources,
                         const Declarations& declarations, const std::string& service_name,
                         std::chrono::milliseconds timeout);

}  // namespace nitric::host
