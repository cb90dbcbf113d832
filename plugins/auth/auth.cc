// Token auth: guards the sockets listed in its config and rejects a connect
// unless the first value of query parameter `token` equals the configured
// token. It guards another plugin's socket by running first in the chain of
// Connect handlers: plugins load in file name order, so name the file so it
// sorts first (auth.so does among the examples; 00-auth.so always does).
//
//   [plugins.auth]
//   sockets = ["public"]   # sockets to guard
//   token = "s3cret"       # the token clients pass as ?token=s3cret
//
// Without `sockets` it guards nothing and says so. With sockets but no token
// every connect to them is rejected: a missing secret must not open the door.
#include <string>
#include <string_view>

#include <nitric/plugin.hpp>

using namespace nitric;

namespace {

// Compares without an early exit, so the time taken does not tell a client
// how many leading characters of its guess were right.
bool SameSecret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (b.empty() ? 0 : b[i % b.size()]));
  }
  return diff == 0;
}

}  // namespace

NITRIC_PLUGIN("auth", [](Plugin& p) {
  auto sockets = p.ConfigStrings("sockets");
  auto token = p.Config("token");
  if (!sockets || sockets->empty()) {
    p.Warn("no [plugins.auth] sockets configured: guarding nothing");
    return;
  }
  if (!token || token->empty()) {
    p.Warn("no [plugins.auth] token configured: rejecting every connect to the guarded sockets");
  }

  for (const std::string& name : *sockets) {
    auto ws = p.NewWebsocket(name);
    ws.On(EventType_Connect, [=](Ctx& ctx) {
      auto given = ctx.Request.QueryParam("token");
      if (!token || token->empty() || !given || !SameSecret(*given, *token)) {
        ctx.Response.Reject = true;
      }
    });
    p.Info("guarding socket ", name);
  }
});
