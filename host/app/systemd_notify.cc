#include "host/app/systemd_notify.h"

#include <time.h>

#include <string>

#ifdef NITRIC_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace nitric::host {

namespace {

void Notify([[maybe_unused]] const std::string& state) {
#ifdef NITRIC_HAVE_SYSTEMD
  sd_notify(0, state.c_str());
#endif
}

}  // namespace

void NotifyReady() { Notify("READY=1"); }

void NotifyReloading() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long long usec = static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
  Notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void NotifyStopping() { Notify("STOPPING=1"); }

}  // namespace nitric::host
