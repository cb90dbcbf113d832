// Fuzz target: the bytes of a ServerMessage on a HandleEvents stream, the
// membrane's side of the host's main input. The bytes are parsed the way
// EventStream::OnReadDone does (host/membrane/event_stream.cc); a message
// carrying an event is typed the same way and submitted to a real Dispatcher
// running a real generation of the example plugins (auth, broadcast, echo,
// loaded from their .so files). Every submitted event must be answered
// exactly once with its own id (host/dispatch/event.h), whatever the bytes.
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include "host/dispatch/dispatcher.h"
#include "host/plugins/generation_loader.h"
#include "nitric/proto/event_type.h"

namespace fs = std::filesystem;
namespace nh = nitric::host;
namespace wsproto = nh::wsproto;

namespace {

// Records answers so the target can wait for the one it expects.
class Replier final : public nh::EventReplier {
 public:
  void Reply(std::string id, bool /*reject*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_id_ = std::move(id);
    ++answers_;
    cv_.notify_all();
  }
  // Waits for answer number `n`; aborts past a deadline that only bounds a
  // hang (an event the dispatcher never answers).
  std::string WaitFor(uint64_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(30), [&] { return answers_ >= n; })) {
      std::abort();
    }
    if (answers_ != n) std::abort();  // answered twice
    return last_id_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t answers_ = 0;
  std::string last_id_;
};

struct Fixture {
  fs::path folder;
  nh::GenerationSlot slot;
  std::unique_ptr<nh::Dispatcher> dispatcher;
  std::shared_ptr<Replier> replier = std::make_shared<Replier>();
  nh::Event* event = nullptr;
  uint64_t submitted = 0;
};

Fixture* fixture = nullptr;

void RemoveFolder() {
  std::error_code ec;
  if (fixture != nullptr) fs::remove_all(fixture->folder, ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  fixture = new Fixture;
  // A private plugins folder (0700, files 0644: what the host's plugin
  // checks ask for) holding copies of the example plugins.
  char templ[] = "/tmp/nitric-events-fuzz-XXXXXX";
  if (mkdtemp(templ) == nullptr) std::abort();
  fixture->folder = templ;
  std::atexit(RemoveFolder);
  for (const char* name : {"auth.so", "broadcast.so", "echo.so"}) {
    const fs::path to = fixture->folder / name;
    fs::copy_file(fs::path(NITRIC_FUZZ_PLUGIN_DIR) / name, to);
    fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read);
  }
  nh::GenerationOptions options;
  options.folder = fixture->folder;
  options.plugin_configs =
      toml::parse("[auth]\nsockets = [\"public\"]\ntoken = \"secret\"\n");  // never throws here
  nh::LoadedGeneration loaded = nh::LoadGeneration(options, nullptr);
  if (loaded.report.failures != 0) std::abort();  // the fixture itself is broken
  fixture->slot.Publish(loaded.generation);
  nh::Dispatcher::Options dispatch;
  dispatch.workers = 2;
  dispatch.max_workers = 2;
  fixture->dispatcher = std::make_unique<nh::Dispatcher>(dispatch, &fixture->slot);
  fixture->event = fixture->dispatcher->NewEvent();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nh::Event* event = fixture->event;
  wsproto::ServerMessage& message = event->message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;  // the stream ends
  if (!message.has_websocket_event_request()) return 0;                 // ignored
  // The stream's own type: any of the three (a host registers one stream per
  // socket and type).
  static constexpr wsproto::WebsocketEventType kStreamTypes[] = {
      wsproto::Connect, wsproto::Disconnect, wsproto::Message};
  const std::string id = message.id();
  event->type =
      nitric::proto::EventTypeOf(message.websocket_event_request(), kStreamTypes[size % 3]);
  event->reply_to = fixture->replier;
  fixture->event = fixture->dispatcher->Submit(event);
  if (fixture->replier->WaitFor(++fixture->submitted) != id) std::abort();
  return 0;
}
