// The example broadcast plugin (plugins/broadcast) when the key scan of the
// "connections" store breaks off part way: the message handler must fail
// with the scan's error, never report a broadcast that skipped connections
// as done.
#include <dlfcn.h>

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "host/plugins/host_context.h"
#include "plugin_test_support.h"

namespace nitric::host {
namespace {

using testing::FakeMembrane;
using testing::kExamplePlugins;
using testing::Loaded;
using testing::Message;
using testing::ScratchFolder;

// A membrane whose ScanKeys stream delivers two keys and then ends with
// UNAVAILABLE, as a membrane that restarts mid-scan does.
class ScanBreaksMembrane : public FakeMembrane {
 public:
  Status KvKeys(std::string_view, std::string_view, std::vector<std::string>* keys) override {
    keys->push_back("c1");
    keys->push_back("c2");
    return Status(NITRIC_ERR_UNAVAILABLE, "scan stream reset");
  }
};

TEST(BroadcastScan, AMembraneScanThatBreaksOffFailsTheMessageHandlerWithItsError) {
  ScratchFolder folder;
  folder.Add(kExamplePlugins / "broadcast.so");
  Loaded loaded;
  ScanBreaksMembrane membrane;
  GenerationOptions options = loaded.Options(folder.path());
  options.membrane = &membrane;
  loaded.generation = LoadGeneration(options, nullptr).generation;
  ASSERT_NE(loaded.generation, nullptr) << loaded.log.All();

  loaded.Handle(Message("public", "c1", "hello"));

  const auto failed = loaded.log.Find({"message handler failed on socket public (connection c1)",
                                       "UNAVAILABLE", "scan stream reset"});
  EXPECT_EQ(failed.size(), 1u) << loaded.log.All();
  EXPECT_TRUE(membrane.sent().empty()) << "a broken scan is not a list of connections to send to";
}

// The ABI lets kv_keys_next fail part way (a host that streams the scan
// instead of reading it whole first). The plugin is given the real host
// table with the scan functions replaced by one that yields two keys and
// then UNAVAILABLE.
struct BrokenScan {
  int next = 0;
};
nitric_status ScanStart(nitric_host*, nitric_str, nitric_str, nitric_key_iter** out) {
  *out = reinterpret_cast<nitric_key_iter*>(new BrokenScan);
  return NITRIC_OK;
}
nitric_status ScanNext(nitric_key_iter* iter, nitric_str* key) {
  auto* scan = reinterpret_cast<BrokenScan*>(iter);
  static const char* const kKeys[] = {"c1", "c2"};
  if (scan->next == 2) return NITRIC_ERR_UNAVAILABLE;
  const char* k = kKeys[scan->next++];
  *key = nitric_str{k, std::strlen(k)};
  return NITRIC_OK;
}
void ScanFree(nitric_key_iter* iter) { delete reinterpret_cast<BrokenScan*>(iter); }
const char* ScanError() { return "kv_keys_next: the scan broke off after 2 keys"; }

TEST(BroadcastScan, AKeyIteratorThatFailsPartWayFailsTheHandlerAfterTheKeysBeforeIt) {
  void* lib = ::dlopen((kExamplePlugins / "broadcast.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << ::dlerror();
  auto entry = reinterpret_cast<nitric_plugin_entry_fn>(::dlsym(lib, NITRIC_PLUGIN_ENTRY_SYMBOL));
  ASSERT_NE(entry, nullptr);
  const nitric_plugin_descriptor* descriptor = entry();

  FakeMembrane membrane;
  testing::LogCapture log;
  nitric_host host;
  host.plugin_name = "broadcast";
  host.file_name = "broadcast.so";
  host.logger = log.logger();
  host.membrane = &membrane;
  nitric_host_api api = *HostApi();
  api.kv_keys = &ScanStart;
  api.kv_keys_next = &ScanNext;
  api.kv_keys_free = &ScanFree;
  api.last_error = &ScanError;

  void* state = nullptr;
  ASSERT_EQ(descriptor->init(&host, &api, &state), NITRIC_OK) << CallError();
  host.phase.store(nitric_host::kServing);
  const HandlerRegistration* on_message = nullptr;
  for (const HandlerRegistration& reg : host.registrations) {
    if (reg.socket == "public" && reg.type == NITRIC_EVENT_MESSAGE) on_message = &reg;
  }
  ASSERT_NE(on_message, nullptr);

  const wsproto::WebsocketEventRequest request = Message("public", "c1", "hello");
  nitric_event event;
  event.request = &request;
  event.type = NITRIC_EVENT_MESSAGE;
  ClearCallError();
  nitric_status status;
  {
    EventScope scope(&event);
    status = on_message->fn(scope.handle(), on_message->user_data);
  }

  EXPECT_EQ(status, NITRIC_ERR_UNAVAILABLE) << nitric_status_name(status);
  // plugin.hpp reports the failure with event_set_error (ABI 1.1).
  EXPECT_NE(event.error.find("the scan broke off after 2 keys"), std::string::npos) << event.error;
  EXPECT_EQ(membrane.SentTo("c1"), std::vector<std::string>{"hello"});
  EXPECT_EQ(membrane.SentTo("c2"), std::vector<std::string>{"hello"});

  if (descriptor->shutdown != nullptr) descriptor->shutdown(state);
  ::dlclose(lib);
}

}  // namespace
}  // namespace nitric::host
