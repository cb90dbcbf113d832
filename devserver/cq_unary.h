// Unary calls served on the dev membrane's completion queue (CqPoller): each
// accepted call asks gRPC for the next one, runs the service's handler on the
// polling threads and answers; the call object is deleted once gRPC hands the
// answer's completion back (docs/ARCHITECTURE.md#dev-membrane).
#pragma once

#include <cstdint>

#include <grpcpp/completion_queue.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_unary_call.h>
#include <grpcpp/support/status.h>

#include "devserver/cq_poller.h"

namespace nitric::devserver {

// One unary method of `Service`: how to ask gRPC for a call (the generated
// RequestX of the AsyncService) and the handler that answers it.
template <class Service, class Req, class Resp>
struct CqUnaryMethod {
  using RequestFn = void (Service::*)(grpc::ServerContext*, Req*,
                                      grpc::ServerAsyncResponseWriter<Resp>*,
                                      grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*);
  using HandleFn = grpc::Status (Service::*)(grpc::ServerContext& ctx, Req& request,
                                             Resp* response);
  Service* service = nullptr;
  CqPoller* poller = nullptr;
  RequestFn request = nullptr;
  HandleFn handle = nullptr;
};

template <class Service, class Req, class Resp>
class CqUnaryCall final : public CqPoller::Handler {
 public:
  using Method = CqUnaryMethod<Service, Req, Resp>;

  // Asks gRPC for `waiting` calls of `method` at once, so a burst of calls
  // does not wait on the asking. REQUIRES: `method` outlives the server's
  // shutdown and its poller's Stop().
  static void Serve(const Method* method, int waiting) {
    for (int i = 0; i < waiting; ++i) Request(method);
  }

  void OnCompletion(uint8_t op, bool ok) override {
    if (op == kFinish || !ok) {  // answered, or the server shuts down
      delete this;
      return;
    }
    Request(method_);
    const grpc::Status status = (method_->service->*method_->handle)(ctx_, request_, &response_);
    if (!method_->poller->IfOpen([&] { responder_.Finish(response_, status, &finish_tag_); })) {
      delete this;
    }
  }

 private:
  enum Op : uint8_t { kAccept, kFinish };

  explicit CqUnaryCall(const Method* method) : method_(method) {}
  ~CqUnaryCall() = default;

  // Asks gRPC for one call; nothing once the queue is shut down.
  static void Request(const Method* method) {
    auto* call = new CqUnaryCall(method);
    if (!method->poller->IfOpen([&] {
          (method->service->*method->request)(&call->ctx_, &call->request_, &call->responder_,
                                              method->poller->cq(), method->poller->cq(),
                                              &call->accept_tag_);
        })) {
      delete call;
    }
  }

  const Method* const method_;
  grpc::ServerContext ctx_;
  Req request_;
  Resp response_;
  grpc::ServerAsyncResponseWriter<Resp> responder_{&ctx_};
  CqPoller::Tag accept_tag_{this, kAccept};
  CqPoller::Tag finish_tag_{this, kFinish};
};

// Serves `method` (see CqUnaryCall::Serve).
template <class Service, class Req, class Resp>
void ServeOnQueue(const CqUnaryMethod<Service, Req, Resp>* method, int waiting) {
  CqUnaryCall<Service, Req, Resp>::Serve(method, waiting);
}

}  // namespace nitric::devserver
