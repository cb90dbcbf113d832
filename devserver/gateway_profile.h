// The dev gateway's profiles: how the websocket gateway in front of the app
// behaves. `local` is today's dev gateway (the Nitric CLI's local server, and
// binary-safe); `aws` behaves as AWS API Gateway websockets do when Nitric
// deploys to AWS, so that a plugin that works on it also works there
// (README.md, "Gateway profiles", puts them side by side).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace nitric::devserver {

struct GatewayProfile {
  std::string name = "local";
  // A client message larger than this closes the connection with 1009.
  std::size_t max_message_bytes = 1 << 20;
  // When set, a send larger than max_message_bytes fails RESOURCE_EXHAUSTED
  // (the plugin sees NITRIC_ERR_TOO_LARGE) instead of going out.
  bool limit_sends = false;
  // Text only: a client binary frame closes the connection with 1003, and a
  // send whose data is not valid UTF-8 fails INVALID_ARGUMENT. Otherwise
  // binary frames pass both ways.
  bool text_only = false;
  // The HTTP status that answers an upgrade whose Connect was rejected.
  unsigned reject_status = 403;
  // Each query key keeps only its last value, as AWS's
  // queryStringParameters does; otherwise every value, in order.
  bool single_valued_query = false;
  // Zero: no limit. A connection without a client message for idle_timeout,
  // or open for max_duration, is closed with 1001. When both are zero the
  // gateway pings idle clients itself and cuts dead ones after 5 minutes.
  std::chrono::milliseconds idle_timeout{0};
  std::chrono::milliseconds max_duration{0};
};

// Today's dev gateway.
GatewayProfile LocalProfile();

// AWS API Gateway websockets: text only, 128 KiB messages both ways, 401 for
// a rejected connect, single-valued query parameters, idle connections closed
// after 10 minutes and every connection after 2 hours.
GatewayProfile AwsProfile();

// "local" or "aws"; nullopt for any other name.
std::optional<GatewayProfile> ProfileNamed(std::string_view name);

}  // namespace nitric::devserver
