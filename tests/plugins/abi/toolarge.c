/* Sends what it is asked to, to see the status of a send the membrane cannot
 * take. Socket "toolarge". A message "<N>" (decimal) makes the handler send
 * N bytes of 'x' back to the sender with ws_send, then report the send's
 * status in one more message: "send:<STATUS>" (e.g. "send:TOO_LARGE"); a
 * 1.1 plugin's ws_send always returns the send's own status. "start:<N>"
 * does the same with ws_send_start (ABI 1.1, no id): its status is OK at
 * once and a failure fails the handler instead (the host logs it). */
#include <nitric/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const nitric_host_api* g_api;
static nitric_host* g_host;

static nitric_status on_message(nitric_event* event, void* user_data) {
  const nitric_str socket = g_api->event_socket(event);
  const nitric_str connection = g_api->event_connection_id(event);
  nitric_str body = g_api->event_message(event);
  char digits[32];
  char report[64];
  size_t n;
  char* data;
  nitric_status st;

  int start = 0;
  (void)user_data;

  if (body.len > 6 && memcmp(body.ptr, "start:", 6) == 0) {
    start = 1;
    body.ptr += 6;
    body.len -= 6;
  }
  if (body.len == 0 || body.len >= sizeof digits) return NITRIC_ERR_INVALID_ARGUMENT;
  memcpy(digits, body.ptr, body.len);
  digits[body.len] = '\0';
  n = (size_t)strtoull(digits, NULL, 10);
  data = (char*)malloc(n != 0 ? n : 1);
  if (data == NULL) return NITRIC_ERR_INTERNAL;
  memset(data, 'x', n);
  st = start ? g_api->ws_send_start(g_host, socket, connection, (nitric_str){data, n}, NULL)
             : g_api->ws_send(g_host, socket, connection, (nitric_str){data, n});
  free(data);
  snprintf(report, sizeof report, "send:%s", nitric_status_name(st));
  return g_api->ws_send(g_host, socket, connection, (nitric_str){report, strlen(report)});
}

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** state) {
  (void)state;
  g_api = api;
  g_host = host;
  return api->on(host, (nitric_str){"toolarge", 8}, NITRIC_ON_MESSAGE, on_message, NULL);
}

NITRIC_PLUGIN_ENTRY {
  static const nitric_plugin_descriptor d = {.abi_major = NITRIC_ABI_MAJOR,
                                             .abi_minor = NITRIC_ABI_MINOR,
                                             .size = sizeof(nitric_plugin_descriptor),
                                             .name = "toolarge",
                                             .init = init};
  return &d;
}
