#include "devserver/gateway_origin.h"

#include <array>
#include <cstddef>

namespace nitric::devserver {

namespace {

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (Lower(text[i]) != Lower(prefix[i])) return false;
  }
  return true;
}

// ":PORT" with 1 to 5 digits, or nothing.
bool IsPortSuffix(std::string_view rest) {
  if (rest.empty()) return true;
  if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) return false;
  for (const char c : rest.substr(1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

bool IsLoopbackOrigin(std::string_view origin) {
  std::string_view rest;
  if (StartsWithNoCase(origin, "http://")) {
    rest = origin.substr(7);
  } else if (StartsWithNoCase(origin, "https://")) {
    rest = origin.substr(8);
  } else {
    return false;
  }
  static constexpr std::array<std::string_view, 3> kHosts = {"localhost", "127.0.0.1", "[::1]"};
  for (const std::string_view host : kHosts) {
    if (StartsWithNoCase(rest, host) && IsPortSuffix(rest.substr(host.size()))) return true;
  }
  return false;
}

bool MatchesOriginPattern(std::string_view origin, std::string_view pattern) {
  // Glob matching with backtracking to the last '*': linear in practice, and
  // both strings are short (an Origin header, a command-line pattern).
  std::size_t o = 0;
  std::size_t p = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_o = 0;
  while (o < origin.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_o = o;
    } else if (p < pattern.size() && Lower(pattern[p]) == Lower(origin[o])) {
      ++p;
      ++o;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      o = ++star_o;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool IsOriginAllowed(std::string_view origin, const std::vector<std::string>& allowed) {
  if (IsLoopbackOrigin(origin)) return true;
  for (const std::string& pattern : allowed) {
    if (MatchesOriginPattern(origin, pattern)) return true;
  }
  return false;
}

}  // namespace nitric::devserver
