#include "host/membrane/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace nitric::host {

std::shared_ptr<grpc::Channel> OpenMembraneChannel(const std::string& address) {
  grpc::ChannelArguments args;
  // gRPC's defaults back off up to two minutes; the session has its own
  // capped backoff and wants the transport back within seconds.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // KV values and message bodies may be large; the membrane sets the limit.
  args.SetMaxReceiveMessageSize(-1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

void PrepareContext(grpc::ClientContext* context, const std::string& service_name,
                    std::chrono::milliseconds timeout) {
  context->AddMetadata("x-nitric-service-name", service_name);
  if (timeout.count() > 0) context->set_deadline(std::chrono::system_clock::now() + timeout);
}

}  // namespace nitric::host
