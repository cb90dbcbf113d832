// The membrane session: keeps what the plugins use declared on the membrane
// and one registered HandleEvents stream open for each of Connect, Disconnect
// and Message of every socket, for the whole life of the host.
//
// A supervisor thread does the work, so nothing here blocks its callers:
//   1. declare every wanted websocket and KV store with its policy
//      (declare.h), all before any stream is opened; a resource the membrane
//      refuses refuses only the plugins that declared it (RefusedPlugins()),
//      and their sockets are served only if another plugin uses them too;
//   2. open the missing streams (event_stream.h) and wait for their
//      registration responses;
//   3. if a stream ends while the host is running (the membrane went away or
//      restarted), re-declare and re-open it with capped exponential backoff,
//      logging at a bounded rate. Other streams are left alone: the membrane
//      drops client connections while a socket has no stream.
// Streams are never closed to apply new declarations (a reload only adds).
//
// In build mode (NITRIC_ENVIRONMENT=build) nothing is retried: once every
// stream has registered and then ended, or when declaring or registering
// fails, the exit callback says so.
//
// The states and their transitions are SessionMachine's
// (session_machine.h); this class holds the data (what is wanted, declared
// and open) and performs the steps.
//
// Thread-safety: every public method is thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/channel.h>

#include "host/base/declarations.h"
#include "host/base/mutex.h"
#include "host/dispatch/dispatcher.h"
#include "host/membrane/completion_queue_thread.h"
#include "host/membrane/declare.h"
#include "host/membrane/event_stream.h"
#include "host/membrane/session_machine.h"
#include "nitric/proto/resources/v1/resources.grpc.pb.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace nitric::host {

struct SessionOptions {
  std::string address;  // for log lines only
  std::string service_name = "nitric-host";
  // Deadline of each Declare call, and of waiting for registration responses.
  std::chrono::milliseconds call_timeout{10000};
  bool build_mode = false;
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{3000};
  // At most one "still reconnecting" line per this interval.
  std::chrono::milliseconds log_interval{10000};
  // Called on the supervisor thread, without the session's lock, each time
  // the set of refused plugins (RefusedPlugins()) changed, before streams
  // for the sockets that are now served are opened. May be empty.
  std::function<void()> on_refused;
};

// The session as /readyz, /status and the membrane metrics see it
// (MembraneSession::Health()).
struct MembraneHealth {
  // Every stream of every served socket is registered (what /readyz and
  // nitric_host_membrane_up report).
  bool ready = false;
  // idle, connecting, backoff, ready, build-registered, exited, stopped,
  // closed.
  std::string state;
  std::chrono::system_clock::time_point since;  // when it entered `state`
  // The latest failure (declaring, registering, a stream the membrane
  // ended or the host failed), empty when none happened yet.
  std::string last_error;
  std::chrono::system_clock::time_point last_error_at;
  // Streams of served sockets that are not registered: "chat/message".
  std::vector<std::string> missing;
  size_t served_sockets = 0;
  uint64_t reconnects = 0;  // StreamCounters::reconnects
};

class MembraneSession final : private EventStream::Observer {
 public:
  // Called on the supervisor thread each time every wanted stream has become
  // registered (after the first Want(), after Want() added sockets, after a
  // reconnect).
  using ReadyCallback = std::function<void()>;
  // Build mode only, called once: 0 when the membrane ended the streams after
  // they registered, 1 when declaring or registering failed.
  using ExitCallback = std::function<void(int exit_code)>;

  // The streams' completions run on `queue`. `dispatcher` and `queue` must
  // outlive the session. Starts the supervisor thread.
  MembraneSession(std::shared_ptr<grpc::Channel> channel, Dispatcher* dispatcher,
                  CompletionQueueThread* queue, SessionOptions options, ReadyCallback on_ready,
                  ExitCallback on_exit);
  // Close(0) if not closed yet.
  ~MembraneSession() override;

  // What went wrong on the event streams so far (for metrics).
  const StreamCounters& counters() const { return counters_; }

  MembraneSession(const MembraneSession&) = delete;
  MembraneSession& operator=(const MembraneSession&) = delete;

  // Adds `declarations` to what is kept declared and registered. Returns at
  // once; the supervisor does the work.
  void Want(const Declarations& declarations);

  // Plugins the membrane refused a declared resource of: plugin name -> the
  // membrane's error(s) and what to do. Such a plugin's sockets are not
  // registered unless a plugin that is not refused uses them too. A refused
  // resource is declared again on the next Want() (each reload) and after a
  // membrane outage; once the membrane accepts it, its plugins leave this
  // map. (Also for metrics: plugins in state refused.)
  std::map<std::string, std::string> RefusedPlugins() const;
  // The sockets whose streams the session keeps registered: every wanted
  // socket that some plugin that is not refused uses.
  std::set<std::string> ServedSockets() const;

  // Where the session is now, and since when. Thread-safe; takes the
  // session's lock briefly.
  MembraneHealth Health() const;

  // Blocks until every wanted stream is registered (true) or `timeout`
  // passed (false).
  bool WaitReady(std::chrono::milliseconds timeout);

  // Events read from now on are dropped unanswered; no stream is (re)opened
  // any more. First step of a graceful shutdown.
  void StopTakingEvents();

  // Sends every queued answer, half-closes every stream and waits up to
  // `grace` for the membrane to end them, then cancels the rest. Call after
  // the dispatcher drained, so every running event's answer is queued.
  // Afterwards no callback of the session runs. Idempotent.
  void Close(std::chrono::milliseconds grace);

 private:
  using StreamKey = std::pair<std::string, wsproto::WebsocketEventType>;
  struct StreamState {
    std::shared_ptr<EventStream> stream;
    bool registered = false;
  };

  void Supervise();
  // One attempt: declare, open the missing streams, wait for registration.
  // Releases mu_ (and takes it again) around its calls to the membrane and
  // the streams; the caller holds it in a MutexLock.
  grpc::Status Attempt() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True when each of `opened` registered or ended.
  bool SettledLocked(const std::vector<std::shared_ptr<EventStream>>& opened) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  SessionMachine::Facts FactsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::set<std::string> ServedSocketsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes a DeclareAll result (which declared all of `want`) and works out
  // which plugins are refused; logs what changed. True when that changed.
  bool RecordRefusalsLocked(const Declarations& want, const DeclareResult& result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LogAttemptLocked(const SessionMachine::AttemptResult& result, const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After every change of machine_: remembers when its state changed.
  void NoteStateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteErrorLocked(std::string error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // EventStream::Observer (the queue thread).
  void OnRegistered(EventStream* stream) override;
  void OnEnded(EventStream* stream, const grpc::Status& status, bool registered,
               bool failed) override;

  const SessionOptions options_;
  Dispatcher* const dispatcher_;
  CompletionQueueThread* const queue_;
  const ReadyCallback on_ready_;
  const ExitCallback on_exit_;
  std::unique_ptr<proto::resources::v1::Resources::Stub> resources_;
  const HandleEventsMethod handle_events_;
  StreamCounters counters_;

  mutable Mutex mu_;
  std::condition_variable cv_;
  Declarations wanted_ ABSL_GUARDED_BY(mu_);
  Declarations declared_ ABSL_GUARDED_BY(mu_);
  std::map<StreamKey, StreamState> streams_ ABSL_GUARDED_BY(mu_);
  // What the membrane refused in the last complete DeclareAll, and the
  // plugins refused for it (RefusedPlugins()).
  std::map<std::string, grpc::Status> refused_sockets_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, grpc::Status> refused_stores_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> refused_plugins_ ABSL_GUARDED_BY(mu_);
  // Build mode: streams that registered and that the membrane then ended
  // (how Nitric's collector says it has them). They count as registered and
  // are never opened again.
  std::set<StreamKey> build_ended_ ABSL_GUARDED_BY(mu_);
  // The latest failure of a stream that ended before registering.
  grpc::Status registration_error_ ABSL_GUARDED_BY(mu_);
  // Bumped whenever a registered stream ends: declarations made before it
  // may have gone with the membrane.
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  // The states and transitions (session_machine.h).
  SessionMachine machine_ ABSL_GUARDED_BY(mu_);
  // For Health(): the state last noted and since when, the latest failure.
  SessionMachine::State noted_state_ ABSL_GUARDED_BY(mu_) = SessionMachine::State::kIdle;
  std::chrono::system_clock::time_point state_since_ ABSL_GUARDED_BY(mu_) =
      std::chrono::system_clock::now();
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  std::chrono::system_clock::time_point last_error_at_ ABSL_GUARDED_BY(mu_);

  Mutex close_mu_;  // serialises Close()
  std::thread supervisor_;
};

}  // namespace nitric::host
