#include "host/membrane/completion_queue_thread.h"

#include <pthread.h>

namespace nitric::host {

CompletionQueueThread::CompletionQueueThread(const char* name)
    : name_(name), thread_([this] { Run(); }) {}

CompletionQueueThread::~CompletionQueueThread() { Shutdown(); }

void CompletionQueueThread::Shutdown() {
  if (!thread_.joinable()) return;
  cq_.Shutdown();
  thread_.join();
}

void CompletionQueueThread::Run() {
  pthread_setname_np(pthread_self(), name_);
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
    Tag* const done = static_cast<Tag*>(tag);
#if defined(__SANITIZE_THREAD__)
    __tsan_acquire(done);  // what Starting(done) released
#endif
    done->OnComplete(ok);
  }
}

}  // namespace nitric::host
