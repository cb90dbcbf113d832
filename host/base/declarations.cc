#include "host/base/declarations.h"

namespace nitric::host {

void Declarations::Merge(const Declarations& other) {
  sockets.insert(other.sockets.begin(), other.sockets.end());
  for (const auto& [store, allow] : other.stores) stores[store] |= allow;
}

}  // namespace nitric::host
