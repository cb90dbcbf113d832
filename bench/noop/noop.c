/*
 * noop - the do-nothing plugin of the dispatch benchmark.
 *
 * Handles Connect, Disconnect and Message of socket `public` and accepts every
 * event without looking at it, so a benchmark of nitric-host with this plugin
 * measures the host's own cost per event: membrane stream -> dispatcher ->
 * generation -> handler call -> reply.
 *
 * Written in plain C against plugin.h only. NOOP_BUILD is a compile-time tag:
 * the reload benchmark builds two copies that differ only in it, so swapping
 * them changes the file's content and a SIGHUP really loads a new version.
 */
#include <nitric/plugin.h>

#ifndef NOOP_BUILD
#define NOOP_BUILD "1"
#endif

static nitric_status noop_handler(nitric_event* event, void* user_data) {
  (void)event;
  (void)user_data;
  return NITRIC_OK;
}

static nitric_status noop_init(nitric_host* host, const nitric_host_api* api, void** plugin_state) {
  static const char socket_name[] = "public";
  const nitric_str socket = {socket_name, sizeof socket_name - 1};
  (void)plugin_state;
  return api->on(host, socket, NITRIC_ON_CONNECT | NITRIC_ON_DISCONNECT | NITRIC_ON_MESSAGE,
                 noop_handler, NULL);
}

NITRIC_PLUGIN_ENTRY {
  static const nitric_plugin_descriptor descriptor = {
      NITRIC_ABI_MAJOR,
      NITRIC_ABI_MINOR,
      sizeof(nitric_plugin_descriptor),
      "noop",
      "bench build " NOOP_BUILD,
      noop_init,
      NULL, /* shutdown: no state */
      NULL, /* export_state */
      NULL, /* import_state */
  };
  return &descriptor;
}
