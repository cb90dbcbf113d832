/* Broken on purpose: init declares a websocket and a KV store and registers
 * handlers, then fails with a reason. plugin.h promises that the host then
 * forgets all of it and never calls shutdown(): every callback here abort()s,
 * so a host that breaks the promise kills the test that loaded it. */
#include <nitric/plugin.h>

#include <stdlib.h>
#include <string.h>

static nitric_status never_handle(nitric_event* event, void* user_data) {
  (void)event;
  (void)user_data;
  abort(); /* a handler of a plugin whose init failed was called */
}

static void never_shut_down(void* state) {
  (void)state;
  abort(); /* shutdown() of a plugin whose init failed was called */
}

static nitric_status never_export(void* state, nitric_state_writer_fn write, void* ctx) {
  (void)state;
  (void)write;
  (void)ctx;
  abort(); /* export_state() of a plugin whose init failed was called */
}

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** state) {
  static const char kWhy[] = "database url missing";
  static int kState; /* a state the host must drop with everything else */
  const nitric_str socket = {"initfail", 8};
  api->declare_websocket(host, socket);
  api->on(host, socket, NITRIC_ON_CONNECT | NITRIC_ON_MESSAGE | NITRIC_ON_DISCONNECT, never_handle,
          NULL);
  api->declare_kv(host, (nitric_str){"initfail-store", 14}, NITRIC_KV_GET);
  *state = &kState;
  api->set_error(host, kWhy, strlen(kWhy));
  return NITRIC_ERR_HANDLER;
}

NITRIC_PLUGIN_ENTRY {
  static const nitric_plugin_descriptor d = {NITRIC_ABI_MAJOR,
                                             NITRIC_ABI_MINOR,
                                             sizeof(nitric_plugin_descriptor),
                                             "initfail",
                                             NULL,
                                             init,
                                             never_shut_down,
                                             never_export,
                                             NULL};
  return &d;
}
