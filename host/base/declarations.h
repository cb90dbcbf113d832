// What the loaded plugins declared: the websockets and KV stores the membrane
// session must declare (with their policies) and open HandleEvents streams for,
// and which plugin declared each, so that a resource the membrane refuses
// refuses only the plugins that declared it (docs/ARCHITECTURE.md#membrane-session).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

namespace nitric::host {

// NITRIC_KV_* bits from plugin.h.
using KvPermissions = uint32_t;

struct Declarations {
  // Every socket any plugin declared or handles. The session opens Connect,
  // Disconnect and Message streams for each, whether or not a handler exists
  // for every type (unhandled events get the default answer, accept).
  std::set<std::string> sockets;
  // Store name -> union of the permissions plugins asked for.
  std::map<std::string, KvPermissions> stores;
  // Resource name -> the names of the plugins that declared (or handle) it.
  // A resource missing here has no known plugin: it is never a reason to
  // refuse one, and a socket without users is always served.
  std::map<std::string, std::set<std::string>> socket_users;
  std::map<std::string, std::set<std::string>> store_users;

  // Adds everything of `other` (permissions and users are unioned).
  void Merge(const Declarations& other);
  bool operator==(const Declarations&) const = default;
};

}  // namespace nitric::host
