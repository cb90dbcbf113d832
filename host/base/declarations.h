// What the loaded plugins declared: the websockets and KV stores the membrane
// session must declare (with their policies) and open HandleEvents streams for.
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

  // Adds everything of `other` (permissions are unioned).
  void Merge(const Declarations& other);
  bool operator==(const Declarations&) const = default;
};

}  // namespace nitric::host
