// Fuzz target: the gateway's text-frame check (devserver/gateway_utf8.h).
// What a handler sends goes out as a text frame exactly when IsValidUtf8 says
// so, and a browser closes the connection on a text frame that is not UTF-8
// (RFC 6455 section 8.1). The target compares IsValidUtf8 with a plain
// decoder written from RFC 3629's definition (code point value and ranges,
// not the byte tables gateway_utf8.cc uses), so any disagreement aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "devserver/gateway_utf8.h"

namespace {

bool ReferenceIsUtf8(const uint8_t* data, size_t size) {
  size_t i = 0;
  while (i < size) {
    const uint8_t lead = data[i];
    size_t length;
    uint32_t cp;
    if (lead < 0x80) {
      length = 1;
      cp = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      cp = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      cp = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      cp = lead & 0x07;
    } else {
      return false;
    }
    if (size - i < length) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((data[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (data[i + k] & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[length]) return false;             // overlong
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // surrogate
    if (cp > 0x10FFFF) return false;
    i += length;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (nitric::devserver::IsValidUtf8(text) != ReferenceIsUtf8(data, size)) std::abort();
  return 0;
}
