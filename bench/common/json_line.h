// One result as a JSON object on one line, appended to a results file that
// bench/report.mjs turns into the table and RESULTS.md.
#pragma once

#include <string>

namespace nitric::bench {

class JsonLine {
 public:
  JsonLine& Add(const std::string& key, const std::string& value);
  JsonLine& Add(const std::string& key, const char* value) { return Add(key, std::string(value)); }
  JsonLine& Add(const std::string& key, double value);
  JsonLine& Add(const std::string& key, long long value);
  JsonLine& Add(const std::string& key, int value) {
    return Add(key, static_cast<long long>(value));
  }
  JsonLine& Add(const std::string& key, unsigned long long value) {
    return Add(key, static_cast<long long>(value));
  }
  JsonLine& Add(const std::string& key, unsigned long value) {
    return Add(key, static_cast<long long>(value));
  }
  JsonLine& Add(const std::string& key, long value) {
    return Add(key, static_cast<long long>(value));
  }
  JsonLine& Add(const std::string& key, bool value);

  std::string str() const { return "{" + body_ + "}"; }
  // Appends the line to `path` (nothing when path is empty). False on error.
  bool AppendTo(const std::string& path) const;

 private:
  void Key(const std::string& key);
  std::string body_;
};

}  // namespace nitric::bench
