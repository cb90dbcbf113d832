#include "host/base/declarations.h"

namespace nitric::host {

void Declarations::Merge(const Declarations& other) {
  sockets.insert(other.sockets.begin(), other.sockets.end());
  for (const auto& [store, allow] : other.stores) stores[store] |= allow;
  for (const auto& [socket, users] : other.socket_users) {
    socket_users[socket].insert(users.begin(), users.end());
  }
  for (const auto& [store, users] : other.store_users) {
    store_users[store].insert(users.begin(), users.end());
  }
}

}  // namespace nitric::host
