// Fuzz target: the gateway's reading of an HTTP request (devserver/
// gateway_http_session.cc): the bytes a client sends on a socket's port are
// parsed by Beast's request parser with the session's body limit, then go
// through the session's decisions in its order: every Origin header against
// the allow list (gateway_origin.h), the upgrade check, the websocket key and
// version, and the query of the target (gateway_query.h). The checks below
// are the contracts those headers state; a violation aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "devserver/gateway_origin.h"
#include "devserver/gateway_query.h"
#include "devserver/gateway_utf8.h"

namespace http = boost::beast::http;
namespace ds = nitric::devserver;

namespace {

// As in gateway_http_session.cc.
constexpr std::size_t kMaxRequestBodyBytes = 16 * 1024;

void CheckQuery(std::string_view target) {
  std::string error;
  const ds::QueryPairs pairs = ds::ParseQueryParams(target, &error);
  if (!error.empty()) {
    // Refused with 400: nothing reaches the application.
    if (!pairs.empty()) std::abort();
    return;
  }
  // Everything handed to the application is text.
  for (const auto& [key, value] : pairs) {
    if (!ds::IsValidUtf8(key) || !ds::IsValidUtf8(value)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  // The query parser on its own too: it also sees targets the HTTP parser
  // would refuse.
  CheckQuery(bytes);
  std::string decoded;
  (void)ds::UrlDecode(bytes, &decoded);

  http::request_parser<http::string_body> parser;
  parser.body_limit(kMaxRequestBodyBytes);
  boost::beast::error_code ec;
  std::size_t offset = 0;
  // Feed the bytes as the socket might deliver them, until the parser has a
  // whole request or refuses.
  while (offset < bytes.size() && !parser.is_done()) {
    const std::size_t used =
        parser.put(boost::asio::buffer(bytes.data() + offset, bytes.size() - offset), ec);
    if (ec == http::error::need_more) break;
    if (ec) return 0;
    if (used == 0) break;
    offset += used;
  }
  if (!parser.is_done()) {
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
  }
  const http::request<http::string_body>& request = parser.get();

  const std::vector<std::string> allowed = {"https://*.example.com"};
  const auto [first, last] = request.equal_range(http::field::origin);
  for (auto it = first; it != last; ++it) {
    const std::string_view origin(it->value().data(), it->value().size());
    const bool loopback = ds::IsLoopbackOrigin(origin);
    // A loopback origin is always allowed; the allow list only adds.
    if (loopback && !ds::IsOriginAllowed(origin, allowed)) std::abort();
    if (ds::IsOriginAllowed(origin, {}) != loopback) std::abort();
    if (!ds::MatchesOriginPattern(origin, "*")) std::abort();
  }
  if (!boost::beast::websocket::is_upgrade(request)) return 0;
  if (request[http::field::sec_websocket_key].empty() ||
      request[http::field::sec_websocket_version] != "13") {
    return 0;
  }
  CheckQuery(std::string_view(request.target().data(), request.target().size()));
  return 0;
}
