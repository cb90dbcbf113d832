#include "devserver/gateway_query.h"

#include <cstdio>

#include "devserver/gateway_utf8.h"

namespace nitric::devserver {

namespace {

// Longest piece of a raw query quoted back in an error message.
constexpr std::size_t kMaxQuoted = 100;

// `raw` as it can be quoted in a text message: printable ASCII kept, every
// other byte as %XX, cut to kMaxQuoted characters.
std::string Quoted(std::string_view raw) {
  std::string out;
  for (const char c : raw) {
    if (out.size() >= kMaxQuoted) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(c);
    if (byte > 0x20 && byte < 0x7f && c != '\'') {
      out.push_back(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", byte);
      out += escaped;
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool UrlDecode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;  // cut short: "%" or "%4"
      const int high = HexValue(in[i + 1]);
      const int low = HexValue(in[i + 2]);
      if (high < 0 || low < 0) return false;
      out->push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return true;
}

QueryPairs ParseQueryParams(std::string_view target, std::string* error) {
  if (error) error->clear();
  QueryPairs pairs;
  const std::size_t question = target.find('?');
  if (question == std::string_view::npos) return pairs;
  std::string_view query = target.substr(question + 1);
  // A fragment never reaches a server from a browser, but a hand-written
  // client may send one; it is not part of the query.
  query = query.substr(0, query.find('#'));

  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view segment = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (segment.empty()) continue;

    const std::size_t eq = segment.find('=');
    const std::string_view raw_key = segment.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : segment.substr(eq + 1);
    std::string key;
    std::string value;
    if (!UrlDecode(raw_key, &key) || !UrlDecode(raw_value, &value)) continue;
    const bool key_ok = IsValidUtf8(key);
    if (!key_ok || !IsValidUtf8(value)) {
      if (error) {
        *error = key_ok ? "the value of query parameter '" + Quoted(raw_key) +
                              "' is not valid UTF-8 after percent-decoding ('" + Quoted(raw_value) +
                              "')"
                        : "the query parameter key '" + Quoted(raw_key) +
                              "' is not valid UTF-8 after percent-decoding";
      }
      return {};
    }
    pairs.emplace_back(std::move(key), std::move(value));
  }
  return pairs;
}

}  // namespace nitric::devserver
