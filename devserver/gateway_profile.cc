#include "devserver/gateway_profile.h"

namespace nitric::devserver {

GatewayProfile LocalProfile() { return GatewayProfile{}; }

GatewayProfile AwsProfile() {
  GatewayProfile aws;
  aws.name = "aws";
  // API Gateway's quotas for websocket APIs: "Message payload size 128 KB"
  // (larger: close 1009), "Idle Connection Timeout 10 minutes", "Connection
  // duration for WebSocket API 2 hours". Binary frames from clients are
  // refused with 1003 ("Binary media types for WebSocket APIs").
  aws.max_message_bytes = 128 * 1024;
  aws.limit_sends = true;
  aws.text_only = true;
  aws.reject_status = 401;
  aws.single_valued_query = true;
  aws.idle_timeout = std::chrono::minutes(10);
  aws.max_duration = std::chrono::hours(2);
  return aws;
}

std::optional<GatewayProfile> ProfileNamed(std::string_view name) {
  if (name == "local") return LocalProfile();
  if (name == "aws") return AwsProfile();
  return std::nullopt;
}

}  // namespace nitric::devserver
