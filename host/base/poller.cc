#include "host/base/poller.h"

namespace nitric::host {

PollerTurn& CurrentPollerTurn() {
  static thread_local PollerTurn turn;
  return turn;
}

void AboutToBlock() {
  const PollerTurn& current = CurrentPollerTurn();
  if (current.poller != nullptr) current.poller->HandOff(current.turn);
}

}  // namespace nitric::host
