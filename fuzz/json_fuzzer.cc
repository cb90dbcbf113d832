// Fuzz target: plugin.hpp's JSON codec (nitric/json.hpp), which parses KV
// values coming back from the membrane inside a plugin. Any text must parse or
// fail cleanly; what parses must serialise to JSON that parses again to the
// same object (a value a plugin reads, changes nothing and writes back must
// not change or become unreadable).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nitric/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = nitric::Object::Parse(text);
  if (!parsed.ok()) return 0;
  const std::string once = parsed.value().ToJson();
  auto again = nitric::Object::Parse(once);
  if (!again.ok()) std::abort();                     // our own output must parse
  if (again.value().ToJson() != once) std::abort();  // and be a fixed point
  return 0;
}
