#include "host/plugins/plugin_call.h"

#include <algorithm>

namespace nitric::host {

constinit thread_local PluginCallMarker tls_plugin_call
    __attribute__((tls_model("initial-exec"))) = {};

namespace {

template <size_t N>
void CopyTruncated(char (&out)[N], std::string_view in) {
  const size_t n = std::min(in.size(), N - 1);
  std::copy_n(in.data(), n, out);
  out[n] = '\0';
}

}  // namespace

void PluginIdentity::Set(std::string_view file_name, std::string_view plugin_name,
                         std::string_view sha) {
  CopyTruncated(file, file_name);
  CopyTruncated(plugin, plugin_name);
  CopyTruncated(sha256, sha);
}

const char* PluginCallName(PluginCall call) {
  switch (call) {
    case PluginCall::kNone:
      return "none";
    case PluginCall::kLoad:
      return "load (library constructors)";
    case PluginCall::kEntry:
      return "entry function";
    case PluginCall::kInit:
      return "init";
    case PluginCall::kConnect:
      return "connect handler";
    case PluginCall::kDisconnect:
      return "disconnect handler";
    case PluginCall::kMessage:
      return "message handler";
    case PluginCall::kExport:
      return "export_state";
    case PluginCall::kImport:
      return "import_state";
    case PluginCall::kShutdown:
      return "shutdown";
    case PluginCall::kUnload:
      return "unload (library destructors)";
  }
  return "unknown call";
}

}  // namespace nitric::host
