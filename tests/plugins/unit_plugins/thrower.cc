// Misbehaving on purpose: handlers that throw. Socket "thrower".
//   connect    -> throws std::runtime_error("boom on connect")
//   message    -> throws 42 (not a std::exception)
//   disconnect -> accepted
#include <stdexcept>

#include <nitric/plugin.hpp>

using namespace nitric;

NITRIC_PLUGIN("thrower", [](Plugin& p) {
  auto ws = p.NewWebsocket("thrower");
  ws.On(EventType_Connect, [] { throw std::runtime_error("boom on connect"); });
  ws.On(EventType_Message, [](Ctx&) { throw 42; });
  ws.On(EventType_Disconnect, [] {});
});
