#include "host/membrane/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace nitric::host {

std::shared_ptr<grpc::Channel> OpenMembraneChannel(const std::string& address) {
  grpc::ChannelArguments args;
  // gRPC's defaults back off up to two minutes; the session has its own
  // capped backoff and wants the transport back within seconds: the first
  // retry after 100 ms, then at most every 2 s.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Despite its name, gRPC core uses this as the shortest time it gives one
  // connection attempt (TCP connect plus the HTTP/2 handshake) before giving
  // it up. At 100 ms a membrane whose handshake is slower (a loaded machine,
  // a distant membrane) was never reached on the first tries
  // (tests/host/channel_test.cc). A refused connection still fails at once,
  // so a vanished membrane is retried as quickly as before.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 10000);
  // KV values and message bodies may be large; the membrane sets the limit.
  args.SetMaxReceiveMessageSize(-1);
  // The host configures no retry policy, and gRPC's retry filter costs every
  // call its bookkeeping and a copy of what it sends (about a tenth of the
  // host's CPU per broadcast delivery, bench/RESULTS.md). Without it, a call
  // the membrane refused while going away (GOAWAY) fails UNAVAILABLE instead
  // of being retried on the next connection: the plugin sees a retryable
  // error, and the session reconnects as for any outage.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

void PrepareContext(grpc::ClientContext* context, const std::string& service_name,
                    std::chrono::milliseconds timeout) {
  context->AddMetadata("x-nitric-service-name", service_name);
  if (timeout.count() > 0) context->set_deadline(std::chrono::system_clock::now() + timeout);
}

}  // namespace nitric::host
