// Command-line parsing shared by the benchmark drivers: "--flag value" pairs,
// then "--" and the command of the contender to run.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace nitric::bench {

// Sets a flag's value; called once per occurrence.
using FlagSetters = std::map<std::string, std::function<void(const std::string& value)>>;

// Parses argv[1..]: every flag must be in `setters` and have a value; all
// after "--" goes to *command. False on an unknown flag or a missing value.
bool ParseFlags(int argc, char** argv, const FlagSetters& setters,
                std::vector<std::string>* command);

}  // namespace nitric::bench
