/*
 * ctest: the plain C99 test plugin (compiled as C, no C++ runtime linked).
 * Its C++ twin, cpptest.cc, behaves identically; the host integration tests
 * drive both through the host and the dev membrane, the unit tests in
 * tests/plugins through a fake membrane. THIS COMMENT IS THE CONTRACT.
 *
 * Built twice: against this tree's plugin.h (ctest.so, ABI 1.1) and against
 * the committed 1.0 header tests/plugins/abi/v1_0 (ctest10.so). Both keep
 * this contract; the 1.1 build uses the 1.1 functions where the 1.0 build
 * uses their 1.0 counterparts: its replies go out with ws_send_start (the
 * 1.0 build: ws_send, pipelined by the host's config) and a handler's
 * failure text with event_set_error (the 1.0 build: set_error). What only
 * one build does is marked [1.1].
 *
 * Name "ctest" (twin: "cpptest"). Config, [plugins.ctest]:
 *   socket = "..."   websocket to serve (default: the plugin name)
 *   store  = "..."   KV store, declared get+set+delete (default: the plugin name)
 *
 * Connect:
 *   - first value of query param "token" is "bad"  -> rejected
 *   - query param "greet" present                  -> sends "welcome" to the
 *     connection from the connect handler (a failed send rejects the connect)
 *   - query param "echo_query" present             -> the connection's first
 *     message is preceded by one extra frame: "query:" followed by a JSON
 *     object of every query param, {"k":["v1","v2"],...}: keys and values
 *     in the order the host gives them (plugin.h: keys sorted bytewise,
 *     values in arrival order; the plugin does not sort, so tests see the
 *     host's order), JSON-escaped
 *   - otherwise accepted
 *   Every connect that reaches this plugin is counted (see "counts").
 * Message, body B (replies go to the sender):
 *   "close"                -> closes the connection; sends nothing
 *   "fail"                 -> handler fails with text "fail requested" (the
 *                             host logs it); sends nothing
 *   "details"              -> sends the socket's URL
 *   "declare"              -> calls declare_kv after init; sends
 *                             "error:FAILED_PRECONDITION:<text>"
 *   "kv:set:<key>:<json>"  -> sends "ok" or "error:<STATUS>:<text>"
 *   "kv:get:<key>"         -> sends the value's JSON text or
 *                             "error:<STATUS>:<text>" (missing: NOT_FOUND)
 *   "kv:delete:<key>"      -> sends "ok" or "error:<STATUS>:<text>"
 *   "kv:keys:<prefix>"     -> sends a JSON array of the keys in scan order
 *   "kv:denied"            -> kv_get on undeclared store "not-declared"; sends
 *                             "error:PERMISSION_DENIED:<text>"
 *   "sleep:<N>"            -> a slow handler: sends "sleeping:<N>" (so the
 *                             client knows the handler runs), sleeps N
 *                             milliseconds, then sends "slept:<N>"
 *   "hold:<path>"          -> a handler held at a gate the test opens: sends
 *                             "holding", waits until file <path> exists
 *                             (gives up after 120 s: fails with "hold timed
 *                             out"), then sends "released"
 *   "counts"               -> sends "connects:<C> disconnects:<D>", how many
 *                             Connect and Disconnect events reached this
 *                             plugin since it was loaded
 *   "sendto:<id>"          -> sends "hello from <sender>" to connection <id>
 *                             with ws_send, then tells the sender what
 *                             ws_send returned: "ok" or "error:<STATUS>:<text>"
 *                             (a 1.0 plugin's ws_send inside a handler is
 *                             pipelined while host.pipelined_sends is on: "ok",
 *                             and a failure fails the handler; a 1.1 plugin's
 *                             always returns the send's own result)
 *   "startto:<id>"         -> [1.1] the same with ws_send_start, no id: "ok",
 *                             and a failed send fails the handler
 *   "waitto:<id>"          -> [1.1] the same with ws_send_start and an id, then
 *                             ws_send_wait: the send's own result, and the
 *                             handler does not fail
 *   anything else          -> sends B back unchanged (binary-safe)
 *   (<key> ends at the first ':'; <STATUS> is the name without NITRIC_ERR_,
 *   e.g. NOT_FOUND.)
 * Disconnect: forgets the connection's pending "query:" frame; counted.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <nitric/plugin.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- a growable byte string ---- */

typedef struct {
  char* ptr;
  size_t len;
  size_t cap;
} buf;

static int buf_append(buf* b, const char* p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    char* np;
    while (cap < b->len + n + 1) cap *= 2;
    np = (char*)realloc(b->ptr, cap);
    if (np == NULL) return 0;
    b->ptr = np;
    b->cap = cap;
  }
  if (n) memcpy(b->ptr + b->len, p, n);
  b->len += n;
  b->ptr[b->len] = '\0';
  return 1;
}

static int buf_puts(buf* b, const char* s) { return buf_append(b, s, strlen(s)); }

static void buf_json_string(buf* b, nitric_str s) {
  static const char hex[] = "0123456789abcdef";
  size_t i;
  buf_puts(b, "\"");
  for (i = 0; i < s.len; ++i) {
    unsigned char c = (unsigned char)s.ptr[i];
    char esc[7];
    switch (c) {
      case '"':
        buf_puts(b, "\\\"");
        break;
      case '\\':
        buf_puts(b, "\\\\");
        break;
      case '\n':
        buf_puts(b, "\\n");
        break;
      case '\r':
        buf_puts(b, "\\r");
        break;
      case '\t':
        buf_puts(b, "\\t");
        break;
      case '\b':
        buf_puts(b, "\\b");
        break;
      case '\f':
        buf_puts(b, "\\f");
        break;
      default:
        if (c < 0x20) {
          memcpy(esc, "\\u00", 4);
          esc[4] = hex[c >> 4];
          esc[5] = hex[c & 0xf];
          buf_append(b, esc, 6);
        } else {
          buf_append(b, (const char*)&s.ptr[i], 1);
        }
    }
  }
  buf_puts(b, "\"");
}

static nitric_str str_of(const char* s, size_t n) {
  nitric_str out;
  out.ptr = s;
  out.len = n;
  return out;
}

static int str_eq(nitric_str s, const char* lit) {
  size_t n = strlen(lit);
  return s.len == n && (n == 0 || memcmp(s.ptr, lit, n) == 0);
}

static int str_starts(nitric_str s, const char* lit) {
  size_t n = strlen(lit);
  return s.len >= n && memcmp(s.ptr, lit, n) == 0;
}

/* ---- plugin state ---- */

/* A connection whose first message owes a "query:" frame. */
typedef struct pending {
  char* connection_id;
  size_t connection_id_len;
  char* frame;
  size_t frame_len;
  struct pending* next;
} pending;

typedef struct {
  nitric_host* host;
  const nitric_host_api* api;
  char* socket;
  size_t socket_len;
  char* store;
  size_t store_len;
  pthread_mutex_t mu; /* guards pending_list, connects, disconnects */
  pending* pending_list;
  unsigned long connects;
  unsigned long disconnects;
} state;

static nitric_str sock(const state* st) { return str_of(st->socket, st->socket_len); }
static nitric_str store(const state* st) { return str_of(st->store, st->store_len); }

static char* dup_bytes(const char* p, size_t n) {
  char* out = (char*)malloc(n + 1);
  if (out != NULL) {
    if (n) memcpy(out, p, n);
    out[n] = '\0';
  }
  return out;
}

/* Removes and returns the pending entry of a connection, or NULL. */
static pending* take_pending(state* st, nitric_str id) {
  pending** link;
  pending* found = NULL;
  pthread_mutex_lock(&st->mu);
  for (link = &st->pending_list; *link != NULL; link = &(*link)->next) {
    pending* p = *link;
    if (p->connection_id_len == id.len && memcmp(p->connection_id, id.ptr, id.len) == 0) {
      *link = p->next;
      found = p;
      break;
    }
  }
  pthread_mutex_unlock(&st->mu);
  return found;
}

static void free_pending(pending* p) {
  if (p == NULL) return;
  free(p->connection_id);
  free(p->frame);
  free(p);
}

static nitric_status reply(state* st, nitric_event* ev, const char* p, size_t n) {
#if NITRIC_ABI_MINOR >= 1
  if (NITRIC_API_HAS(st->api, ws_send_start)) {
    return st->api->ws_send_start(st->host, sock(st), st->api->event_connection_id(ev),
                                  str_of(p, n), NULL);
  }
#endif
  return st->api->ws_send(st->host, sock(st), st->api->event_connection_id(ev), str_of(p, n));
}

/* The failure text of the handler call that got `ev`. */
static void fail_text(state* st, nitric_event* ev, const char* text) {
#if NITRIC_ABI_MINOR >= 1
  if (NITRIC_API_HAS(st->api, event_set_error)) {
    st->api->event_set_error(ev, text, strlen(text));
    return;
  }
#else
  (void)ev;
#endif
  st->api->set_error(st->host, text, strlen(text));
}

static nitric_status reply_status(state* st, nitric_event* ev, nitric_status s) {
  buf b = {NULL, 0, 0};
  nitric_status out;
  if (s == NITRIC_OK) return reply(st, ev, "ok", 2);
  buf_puts(&b, "error:");
  buf_puts(&b, nitric_status_name(s));
  buf_puts(&b, ":");
  buf_puts(&b, st->api->last_error());
  out = reply(st, ev, b.ptr, b.len);
  free(b.ptr);
  return out;
}

/* ---- handlers ---- */

/* "query:" + {"k":["v",...],...}, keys and values in the host's order: the
 * host promises sorted keys (plugin.h), and tests check that promise here. */
static void render_query(state* st, nitric_event* ev, buf* out) {
  const nitric_host_api* api = st->api;
  size_t count = api->event_query_count(ev), k, v;
  buf_puts(out, "query:{");
  for (k = 0; k < count; ++k) {
    nitric_str key;
    size_t values = 0;
    if (api->event_query_key(ev, k, &key, &values) != NITRIC_OK) break;
    if (k) buf_puts(out, ",");
    buf_json_string(out, key);
    buf_puts(out, ":[");
    for (v = 0; v < values; ++v) {
      nitric_str value;
      if (api->event_query_value(ev, k, v, &value) != NITRIC_OK) break;
      if (v) buf_puts(out, ",");
      buf_json_string(out, value);
    }
    buf_puts(out, "]");
  }
  buf_puts(out, "}");
}

static nitric_status on_connect(nitric_event* ev, void* user_data) {
  state* st = (state*)user_data;
  const nitric_host_api* api = st->api;
  size_t count = api->event_query_count(ev), k;
  int echo_query = 0;
  pthread_mutex_lock(&st->mu);
  ++st->connects;
  pthread_mutex_unlock(&st->mu);
  for (k = 0; k < count; ++k) {
    nitric_str key, value;
    size_t n = 0;
    api->event_query_key(ev, k, &key, &n);
    if (str_eq(key, "token") && n > 0 && api->event_query_value(ev, k, 0, &value) == NITRIC_OK &&
        str_eq(value, "bad")) {
      api->event_reject(ev);
      return NITRIC_OK;
    }
    if (str_eq(key, "echo_query")) echo_query = 1;
    if (str_eq(key, "greet")) {
      nitric_status s = reply(st, ev, "welcome", 7);
      if (s != NITRIC_OK) return s;
    }
  }
  if (echo_query) {
    nitric_str id = api->event_connection_id(ev);
    pending* p = (pending*)calloc(1, sizeof(pending));
    buf frame = {NULL, 0, 0};
    if (p == NULL) return NITRIC_ERR_INTERNAL;
    render_query(st, ev, &frame);
    p->connection_id = dup_bytes(id.ptr, id.len);
    p->connection_id_len = id.len;
    p->frame = frame.ptr;
    p->frame_len = frame.len;
    pthread_mutex_lock(&st->mu);
    p->next = st->pending_list;
    st->pending_list = p;
    pthread_mutex_unlock(&st->mu);
  }
  return NITRIC_OK;
}

static nitric_status on_disconnect(nitric_event* ev, void* user_data) {
  state* st = (state*)user_data;
  free_pending(take_pending(st, st->api->event_connection_id(ev)));
  pthread_mutex_lock(&st->mu);
  ++st->disconnects;
  pthread_mutex_unlock(&st->mu);
  return NITRIC_OK;
}

static nitric_status kv_command(state* st, nitric_event* ev, nitric_str cmd) {
  const nitric_host_api* api = st->api;
  if (str_starts(cmd, "kv:set:")) {
    nitric_str rest = str_of(cmd.ptr + 7, cmd.len - 7);
    const char* colon = (const char*)memchr(rest.ptr, ':', rest.len);
    nitric_str key, json;
    if (colon == NULL) return reply_status(st, ev, NITRIC_ERR_INVALID_ARGUMENT);
    key = str_of(rest.ptr, (size_t)(colon - rest.ptr));
    json = str_of(colon + 1, rest.len - key.len - 1);
    return reply_status(st, ev, api->kv_set(st->host, store(st), key, json));
  }
  if (str_starts(cmd, "kv:get:")) {
    nitric_buffer value = {NULL, 0};
    nitric_status s = api->kv_get(st->host, store(st), str_of(cmd.ptr + 7, cmd.len - 7), &value);
    if (s != NITRIC_OK) return reply_status(st, ev, s);
    s = reply(st, ev, value.ptr, value.len);
    api->buffer_free(&value);
    return s;
  }
  if (str_starts(cmd, "kv:delete:")) {
    return reply_status(st, ev,
                        api->kv_delete(st->host, store(st), str_of(cmd.ptr + 10, cmd.len - 10)));
  }
  if (str_starts(cmd, "kv:keys:")) {
    nitric_key_iter* it = NULL;
    nitric_str key;
    buf out = {NULL, 0, 0};
    int first = 1;
    nitric_status s = api->kv_keys(st->host, store(st), str_of(cmd.ptr + 8, cmd.len - 8), &it);
    if (s != NITRIC_OK) return reply_status(st, ev, s);
    buf_puts(&out, "[");
    while ((s = api->kv_keys_next(it, &key)) == NITRIC_OK) {
      if (!first) buf_puts(&out, ",");
      first = 0;
      buf_json_string(&out, key);
    }
    api->kv_keys_free(it);
    buf_puts(&out, "]");
    s = s == NITRIC_DONE ? reply(st, ev, out.ptr, out.len) : reply_status(st, ev, s);
    free(out.ptr);
    return s;
  }
  if (str_eq(cmd, "kv:denied")) {
    nitric_buffer value = {NULL, 0};
    nitric_status s = api->kv_get(st->host, str_of("not-declared", 12), str_of("k", 1), &value);
    api->buffer_free(&value);
    return reply_status(st, ev, s);
  }
  return reply(st, ev, cmd.ptr, cmd.len); /* "kv:..." that is no command: echo */
}

static void sleep_ms(unsigned long ms) {
  struct timespec t;
  t.tv_sec = (time_t)(ms / 1000);
  t.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&t, &t) != 0) {
  }
}

/* "sleep:<N>", "hold:<path>" and "counts"; 0 when `body` is none of them. */
static int timing_command(state* st, nitric_event* ev, nitric_str body, nitric_status* out) {
  char text[64];
  int n;
  if (str_starts(body, "sleep:")) {
    unsigned long ms = 0;
    size_t i;
    for (i = 6; i < body.len && body.ptr[i] >= '0' && body.ptr[i] <= '9'; ++i) {
      ms = ms * 10 + (unsigned long)(body.ptr[i] - '0');
    }
    n = snprintf(text, sizeof text, "sleeping:%lu", ms);
    *out = reply(st, ev, text, (size_t)n);
    if (*out != NITRIC_OK) return 1;
    sleep_ms(ms);
    n = snprintf(text, sizeof text, "slept:%lu", ms);
    *out = reply(st, ev, text, (size_t)n);
    return 1;
  }
  if (str_starts(body, "hold:")) {
    char* path = dup_bytes(body.ptr + 5, body.len - 5);
    unsigned long waited = 0;
    nitric_status s;
    if (path == NULL) {
      *out = NITRIC_ERR_INTERNAL;
      return 1;
    }
    s = reply(st, ev, "holding", 7);
    while (s == NITRIC_OK && access(path, F_OK) != 0 && waited < 120000) {
      sleep_ms(1);
      ++waited;
    }
    if (s == NITRIC_OK && access(path, F_OK) != 0) {
      fail_text(st, ev, "hold timed out");
      s = NITRIC_ERR_HANDLER;
    }
    free(path);
    *out = s == NITRIC_OK ? reply(st, ev, "released", 8) : s;
    return 1;
  }
  if (str_eq(body, "counts")) {
    pthread_mutex_lock(&st->mu);
    n = snprintf(text, sizeof text, "connects:%lu disconnects:%lu", st->connects, st->disconnects);
    pthread_mutex_unlock(&st->mu);
    *out = reply(st, ev, text, (size_t)n);
    return 1;
  }
  return 0;
}

/* "sendto:", "startto:" and "waitto:"; 0 when `body` is none of them. */
static int send_command(state* st, nitric_event* ev, nitric_str body, nitric_status* out) {
  const nitric_host_api* api = st->api;
  nitric_str sender = api->event_connection_id(ev);
  nitric_str target;
  buf text = {NULL, 0, 0};
  nitric_status s;
  int which; /* 0 sendto, 1 startto, 2 waitto */
  if (str_starts(body, "sendto:")) {
    which = 0;
    target = str_of(body.ptr + 7, body.len - 7);
#if NITRIC_ABI_MINOR >= 1
  } else if (str_starts(body, "startto:")) {
    which = 1;
    target = str_of(body.ptr + 8, body.len - 8);
  } else if (str_starts(body, "waitto:")) {
    which = 2;
    target = str_of(body.ptr + 7, body.len - 7);
#endif
  } else {
    return 0;
  }
  buf_puts(&text, "hello from ");
  buf_append(&text, sender.ptr, sender.len);
  (void)which; /* only sendto: with the 1.0 header */
#if NITRIC_ABI_MINOR >= 1
  if (which == 1) {
    s = api->ws_send_start(st->host, sock(st), target, str_of(text.ptr, text.len), NULL);
  } else if (which == 2) {
    nitric_send_id id = 0;
    s = api->ws_send_start(st->host, sock(st), target, str_of(text.ptr, text.len), &id);
    if (s == NITRIC_OK) s = api->ws_send_wait(st->host, id);
  } else
#endif
  {
    s = api->ws_send(st->host, sock(st), target, str_of(text.ptr, text.len));
  }
  free(text.ptr);
  *out = reply_status(st, ev, s);
  return 1;
}

static nitric_status on_message(nitric_event* ev, void* user_data) {
  state* st = (state*)user_data;
  const nitric_host_api* api = st->api;
  nitric_str body = api->event_message(ev);
  pending* p = take_pending(st, api->event_connection_id(ev));
  if (p != NULL) {
    nitric_status s = reply(st, ev, p->frame, p->frame_len);
    free_pending(p);
    if (s != NITRIC_OK) return s;
  }
  if (str_eq(body, "close")) {
    return api->ws_close(st->host, sock(st), api->event_connection_id(ev));
  }
  if (str_eq(body, "fail")) {
    fail_text(st, ev, "fail requested");
    return NITRIC_ERR_HANDLER;
  }
  if (str_eq(body, "details")) {
    nitric_buffer url = {NULL, 0};
    nitric_status s = api->ws_details(st->host, sock(st), &url);
    if (s != NITRIC_OK) return reply_status(st, ev, s);
    s = reply(st, ev, url.ptr, url.len);
    api->buffer_free(&url);
    return s;
  }
  if (str_eq(body, "declare")) {
    return reply_status(st, ev, api->declare_kv(st->host, str_of("late", 4), NITRIC_KV_GET));
  }
  if (str_starts(body, "kv:")) return kv_command(st, ev, body);
  {
    nitric_status s;
    if (send_command(st, ev, body, &s)) return s;
  }
  {
    nitric_status s;
    if (timing_command(st, ev, body, &s)) return s;
  }
  return reply(st, ev, body.ptr, body.len);
}

/* ---- lifecycle ---- */

static const char* kName = "ctest";

/* A config string, or `fallback`; copied (config strings are the host's). */
static char* config_string(nitric_host* host, const nitric_host_api* api, const char* path,
                           const char* fallback, size_t* len) {
  nitric_config_value v;
  if (api->config_get(host, path, strlen(path), &v) == NITRIC_OK &&
      v.type == NITRIC_CONFIG_STRING) {
    *len = v.string.len;
    return dup_bytes(v.string.ptr, v.string.len);
  }
  *len = strlen(fallback);
  return dup_bytes(fallback, *len);
}

static void destroy(state* st) {
  pending* p;
  if (st == NULL) return;
  while ((p = st->pending_list) != NULL) {
    st->pending_list = p->next;
    free_pending(p);
  }
  pthread_mutex_destroy(&st->mu);
  free(st->socket);
  free(st->store);
  free(st);
}

static nitric_status fail_init(state* st, const char* why) {
  st->api->set_error(st->host, why, strlen(why));
  destroy(st); /* plugin.h: a failing init frees what it allocated */
  return NITRIC_ERR_HANDLER;
}

static nitric_status init(nitric_host* host, const nitric_host_api* api, void** plugin_state) {
  state* st;
  if (!NITRIC_API_HAS(api, buffer_free)) return NITRIC_ERR_FAILED_PRECONDITION;
  st = (state*)calloc(1, sizeof(state));
  if (st == NULL) return NITRIC_ERR_INTERNAL;
  st->host = host;
  st->api = api;
  pthread_mutex_init(&st->mu, NULL);
  st->socket = config_string(host, api, "socket", kName, &st->socket_len);
  st->store = config_string(host, api, "store", kName, &st->store_len);
  if (st->socket == NULL || st->store == NULL) return fail_init(st, "out of memory");

  if (api->declare_websocket(host, sock(st)) != NITRIC_OK ||
      api->on(host, sock(st), NITRIC_ON_CONNECT, on_connect, st) != NITRIC_OK ||
      api->on(host, sock(st), NITRIC_ON_DISCONNECT, on_disconnect, st) != NITRIC_OK ||
      api->on(host, sock(st), NITRIC_ON_MESSAGE, on_message, st) != NITRIC_OK ||
      api->declare_kv(host, store(st), NITRIC_KV_GET | NITRIC_KV_SET | NITRIC_KV_DELETE) !=
          NITRIC_OK) {
    return fail_init(st, api->last_error());
  }
  api->log(host, NITRIC_LOG_INFO, "ctest ready", 11);
  *plugin_state = st;
  return NITRIC_OK;
}

static void shutdown_plugin(void* plugin_state) { destroy((state*)plugin_state); }

NITRIC_PLUGIN_ENTRY {
  static const nitric_plugin_descriptor descriptor = {NITRIC_ABI_MAJOR,
                                                      NITRIC_ABI_MINOR,
                                                      sizeof(nitric_plugin_descriptor),
                                                      "ctest",
                                                      "1.0",
                                                      init,
                                                      shutdown_plugin,
                                                      NULL,
                                                      NULL};
  return &descriptor;
}
