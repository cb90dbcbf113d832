// Readiness and reload notifications for systemd (Type=notify units). No-ops
// when NOTIFY_SOCKET is not set or the host was built without libsystemd.
#pragma once

namespace nitric::host {

void NotifyReady();      // READY=1
void NotifyReloading();  // RELOADING=1 (with MONOTONIC_USEC, as systemd asks)
void NotifyStopping();   // STOPPING=1

}  // namespace nitric::host
