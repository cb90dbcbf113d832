#include "bench/common/flags.h"

namespace nitric::bench {

bool ParseFlags(int argc, char** argv, const FlagSetters& setters,
                std::vector<std::string>* command) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) command->emplace_back(argv[i]);
      return true;
    }
    if (i + 1 >= argc) return false;
    const auto setter = setters.find(arg);
    if (setter == setters.end()) return false;
    setter->second(argv[++i]);
  }
  return true;
}

}  // namespace nitric::bench
