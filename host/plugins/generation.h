// A generation: the immutable table of loaded plugin versions and their
// handlers. The dispatcher runs each event against the generation that was
// current when the event started; a reload publishes a new generation
// atomically and the old one is released (and its replaced plugins unloaded)
// when its last event finishes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "host/base/declarations.h"
#include "nitric/proto/websockets/v1/websockets.pb.h"

namespace nitric::host {

namespace wsproto = ::nitric::proto::websockets::v1;

// How a handler chain ended. The answer follows from it: a Connect is
// accepted only when kAccepted; every other event is always accepted
// (docs/PROTOCOL.md#default-answers). The dispatcher counts it as the event's
// outcome (host/base/host_metrics.h).
enum class HandleResult : uint8_t {
  kAccepted,  // every handler returned OK (or none is registered)
  kRejected,  // a Connect handler rejected it, or a refused plugin is in its chain
  kFailed,    // a handler failed or threw (the chain of a Connect stops there)
};

class Generation {
 public:
  virtual ~Generation() = default;

  // Runs every handler registered for (event.socket_name(), type), in plugin
  // load order. On Connect the chain stops at the first reject (an explicit
  // reject, a handler error or an escaped exception); other chains run every
  // handler, and a failure of any makes the result kFailed. Handler failures
  // are logged here. Never throws. Thread-safe: called concurrently from the
  // worker pool for different connections.
  virtual HandleResult Handle(wsproto::WebsocketEventType type,
                              const wsproto::WebsocketEventRequest& event) const = 0;

  // What this generation's plugins declared.
  virtual const Declarations& declarations() const = 0;

  // 1 for the first generation, +1 per successful reload.
  virtual uint64_t number() const = 0;
};

// Which plugin's handler a worker thread is in, for the dispatcher's watch of
// long-running handlers (host/dispatch/dispatcher.h). The dispatcher points
// t_handler_progress at its worker's record for the thread's life;
// Generation::Handle implementations store the plugin's interned name
// (InternPluginName) just before calling its handler, with a release store.
// The watch reads it from another thread with an acquire load, which makes the
// name's characters visible to it too (the interning may have happened on the
// worker's own thread an instant before); interned names are never freed, so
// a name read late is still valid.
//
// `last_reading` serves the metrics (host/base/host_metrics.h): when the host
// times handlers, Handle() leaves there the steady_clock reading that ended
// its last handler call; the dispatcher resets it before Handle() and takes it
// as the event's answer time, so one clock read serves both histograms. Only
// the worker thread itself touches it.
struct HandlerProgress {
  std::atomic<const std::string*> plugin{nullptr};
  std::chrono::steady_clock::time_point last_reading{};
};
// Null on threads that are not dispatcher workers.
inline thread_local HandlerProgress* t_handler_progress = nullptr;

// A copy of `name` that lives as long as the process; the same pointer for
// equal names. Thread-safe. Meant for plugin names (a handful per process).
const std::string* InternPluginName(std::string_view name);

// The current generation, swapped atomically. Readers take a reference that
// keeps their generation alive until they drop it.
class GenerationSlot {
 public:
  std::shared_ptr<const Generation> Current() const {
    return std::atomic_load_explicit(&current_, std::memory_order_acquire);
  }
  void Publish(std::shared_ptr<const Generation> next) {
    std::atomic_store_explicit(&current_, std::move(next), std::memory_order_release);
  }

 private:
  std::shared_ptr<const Generation> current_;
};

}  // namespace nitric::host
