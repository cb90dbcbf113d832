#include "devserver/cq_poller.h"

#include <pthread.h>

namespace nitric::devserver {

CqPoller::~CqPoller() { Stop(); }

void CqPoller::AddTo(grpc::ServerBuilder& builder) { cq_ = builder.AddCompletionQueue(); }

void CqPoller::Start() {
  for (int i = 0; i < kThreads; ++i) {
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "dev-membrane-cq");  // as ps -L and top -H show it
      Loop();
    });
  }
}

void CqPoller::Stop() {
  if (stopped_ || !cq_) return;
  stopped_ = true;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    cq_->Shutdown();
  }
  if (!threads_.empty()) {
    for (auto& t : threads_) t.join();
  } else {
    Loop();  // never started: drain here
  }
}

void CqPoller::Loop() {
  void* raw = nullptr;
  bool ok = false;
  while (cq_->Next(&raw, &ok)) {
    const Tag* tag = static_cast<const Tag*>(raw);
    tag->handler->OnCompletion(tag->op, ok);
  }
}

}  // namespace nitric::devserver
