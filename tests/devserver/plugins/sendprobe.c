/* sendprobe: what a send the gateway refuses looks like to a plugin (the aws
 * profile's rules, tests/devserver/profile_host_test.cc). Socket "probe".
 * A message "size:<N>" sends N bytes of 'x' to the sender, "hex:<HEX>" sends
 * the bytes HEX spells (two digits a byte); then one more message reports
 * the status that send returned: "send:<STATUS>" (nitric_status_name, e.g.
 * "send:TOO_LARGE"). Run with [host] pipelined_sends = false, so ws_send
 * returns the membrane's answer itself. */
#include <nitric/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const nitric_host_api* g_api;
static nitric_host* g_host;

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static nitric_status on_message(nitric_event* event, void* user_data) {
  const nitric_str socket = g_api->event_socket(event);
  const nitric_str connection = g_api->event_connection_id(event);
  const nitric_str body = g_api->event_message(event);
  char text[32];
  char report[64];
  char* data;
  size_t n = 0;
  size_t i;
  nitric_status st;
  (void)user_data;

  if (body.len > 5 && memcmp(body.ptr, "size:", 5) == 0 && body.len - 5 < sizeof text) {
    memcpy(text, body.ptr + 5, body.len - 5);
    text[body.len - 5] = '\0';
    n = (size_t)strtoull(text, NULL, 10);
    data = (char*)malloc(n ? n : 1);
    if (data == NULL) return NITRIC_ERR_INTERNAL;
    memset(data, 'x', n);
  } else if (body.len >= 4 && memcmp(body.ptr, "hex:", 4) == 0 && (body.len - 4) % 2 == 0) {
    n = (body.len - 4) / 2;
    data = (char*)malloc(n ? n : 1);
    if (data == NULL) return NITRIC_ERR_INTERNAL;
    for (i = 0; i < n; ++i) {
      const int hi = hex_digit(body.ptr[4 + 2 * i]);
      const int lo = hex_digit(body.ptr[5 + 2 * i]);
      if (hi < 0 || lo < 0) {
        free(data);
        return NITRIC_ERR_INVALID_ARGUMENT;
      }
      data[i] = (char)(hi * 16 + lo);
    }
  } else {
    return NITRIC_ERR_INVALID_ARGUMENT;
  }
  st = g_api->ws_send(g_host, socket, connection, (nitric_str){data, n});
  free(data);
  snprintf(report, sizeof report, "send:%s", nitric_status_name(st));
  return g_api->ws_send(g_host, socket, connection, (nitric_str){report, strlen(report)});
}

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** state) {
  (void)state;
  g_api = api;
  g_host = host;
  return api->on(host, (nitric_str){"probe", 5}, NITRIC_ON_MESSAGE, on_message, NULL);
}

NITRIC_PLUGIN_ENTRY {
  static const nitric_plugin_descriptor d = {.abi_major = NITRIC_ABI_MAJOR,
                                             .abi_minor = NITRIC_ABI_MINOR,
                                             .size = sizeof(nitric_plugin_descriptor),
                                             .name = "sendprobe",
                                             .init = init};
  return &d;
}
