#include "host/app/crash_recorder.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "host/plugins/plugin_call.h"

namespace nitric::host {
namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
constexpr int kSignalCount = sizeof kSignals / sizeof kSignals[0];

// Set once before any plugin runs; read by the handler.
int g_state_dir_fd = -1;
struct sigaction g_previous[kSignalCount];

const char* SignalName(int signo) {
  switch (signo) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGABRT:
      return "SIGABRT";
  }
  return "signal";
}

// A fixed buffer that formats without allocating (snprintf is not
// async-signal-safe).
struct Writer {
  char buf[1024];
  size_t len = 0;

  void Put(const char* s) {
    while (*s != '\0' && len < sizeof buf) buf[len++] = *s++;
  }
  void PutNumber(long long n) {
    char digits[24];
    int i = 0;
    const bool negative = n < 0;
    unsigned long long u =
        negative ? 0ULL - static_cast<unsigned long long>(n) : static_cast<unsigned long long>(n);
    do {
      digits[i++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    if (negative && len < sizeof buf) buf[len++] = '-';
    while (i > 0 && len < sizeof buf) buf[len++] = digits[--i];
  }
};

void WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    const ssize_t n = ::write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    len -= static_cast<size_t>(n);
  }
}

// Writes "crash-<sha256>" through a temporary name and a rename, so a reader
// never sees half a record.
void Record(int signo) {
  const PluginCallMarker marker = tls_plugin_call;
  if (marker.plugin == nullptr || g_state_dir_fd < 0) return;
  const PluginIdentity& id = *marker.plugin;
  if (id.sha256[0] == '\0') return;

  Writer name;
  name.Put(kCrashRecordPrefix);
  name.Put(id.sha256);
  Writer tmp_name = name;
  tmp_name.Put(".tmp.");
  tmp_name.PutNumber(::getpid());
  if (name.len >= sizeof name.buf || tmp_name.len >= sizeof tmp_name.buf) return;
  name.buf[name.len] = '\0';
  tmp_name.buf[tmp_name.len] = '\0';

  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  Writer text;
  text.Put("nitric-host crash record 1\nsha256 ");
  text.Put(id.sha256);
  text.Put("\nfile ");
  text.Put(id.file);
  text.Put("\nplugin ");
  text.Put(id.plugin);
  text.Put("\nevent ");
  text.Put(PluginCallName(marker.call));
  text.Put("\nsignal ");
  text.Put(SignalName(signo));
  text.Put("\ntime ");
  text.PutNumber(static_cast<long long>(now.tv_sec));
  text.Put("\npid ");
  text.PutNumber(::getpid());
  text.Put("\n");

  const int fd = ::openat(g_state_dir_fd, tmp_name.buf,
                          O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  WriteAll(fd, text.buf, text.len);
  ::fsync(fd);
  ::close(fd);
  ::renameat(g_state_dir_fd, tmp_name.buf, g_state_dir_fd, name.buf);
  ::fsync(g_state_dir_fd);
}

void OnFatalSignal(int signo, siginfo_t* /*info*/, void* /*context*/) {
  const int saved_errno = errno;
  Record(signo);
  // Die as we would have: put back what was there before (the default action
  // unless someone else installed one) and send the signal again. It is
  // blocked while this handler runs, so it arrives when the handler returns;
  // a fault would also recur on return by re-running the faulting
  // instruction.
  for (int i = 0; i < kSignalCount; ++i) {
    if (kSignals[i] != signo) continue;
    struct sigaction before = g_previous[i];
    // An ignored fault would only recur forever: die instead.
    if ((before.sa_flags & SA_SIGINFO) == 0 && before.sa_handler == SIG_IGN) {
      before.sa_handler = SIG_DFL;
    }
    ::sigaction(signo, &before, nullptr);
  }
  ::raise(signo);
  errno = saved_errno;
}

}  // namespace

Status InstallCrashRecorder(int state_dir_fd) {
  g_state_dir_fd = state_dir_fd;
  struct sigaction action {};
  action.sa_sigaction = &OnFatalSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_SIGINFO;
  for (int i = 0; i < kSignalCount; ++i) {
    if (::sigaction(kSignals[i], &action, &g_previous[i]) != 0) {
      return Status(NITRIC_ERR_INTERNAL, std::string("cannot install the crash handler for ") +
                                             SignalName(kSignals[i]) + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

}  // namespace nitric::host
