// nitric/json.hpp - flat JSON objects, the value type of the KV stores
// (plugin.hpp's KvStore::Get/Set). Header-only; plugin.hpp includes it.
//
//   Object / Value   a flat JSON object: string, number (double), bool, null
//              values; nested objects/arrays are kept as raw JSON text.
//   Object::Parse(text) -> Result<Object>; Object::ToJson() -> std::string.
//
// Like plugin.hpp this header has no static variables and no thread_locals,
// so including it never pins a plugin library in memory.
#ifndef NITRIC_JSON_HPP_
#define NITRIC_JSON_HPP_

#include <nitric/result.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace nitric {

namespace detail {

inline void AppendJsonString(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back("0123456789abcdef"[c >> 4]);  // a literal, not a static
          out.push_back("0123456789abcdef"[c & 0xf]);
        } else {
          out.push_back(ch);  // UTF-8 passes through untouched
        }
    }
  }
  out.push_back('"');
}

inline void AppendJsonNumber(std::string& out, double n) {
  if (!std::isfinite(n)) {  // JSON has no NaN or infinity
    out.append("null");
    return;
  }
  char buf[64];
  std::to_chars_result r;
  // Integral values print without a fraction or exponent ("42", not "42.0").
  if (n == std::trunc(n) && std::fabs(n) < 9007199254740992.0) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(n));
  } else {
    r = std::to_chars(buf, buf + sizeof buf, n);  // shortest round-trip form
  }
  out.append(buf, r.ptr);
}

}  // namespace detail

class Object;

// One value of a flat JSON object.
class Value {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kRaw };

  Value() noexcept = default;
  Value(std::nullptr_t) noexcept {}                         // NOLINT
  Value(bool b) noexcept : kind_(Kind::kBool), bool_(b) {}  // NOLINT
  template <class T, std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Value(T n) noexcept : kind_(Kind::kNumber), number_(static_cast<double>(n)) {}  // NOLINT
  Value(const char* s) : kind_(Kind::kString), text_(s != nullptr ? s : "") {}    // NOLINT
  Value(std::string s) : kind_(Kind::kString), text_(std::move(s)) {}             // NOLINT
  Value(std::string_view s) : kind_(Kind::kString), text_(s) {}                   // NOLINT

  // A nested JSON object or array, kept as text. REQUIRES: valid JSON.
  static Value RawJson(std::string json) {
    Value v;
    v.kind_ = Kind::kRaw;
    v.text_ = std::move(json);
    return v;
  }

  Kind kind() const noexcept { return kind_; }
  bool is_null() const noexcept { return kind_ == Kind::kNull; }
  bool is_bool() const noexcept { return kind_ == Kind::kBool; }
  bool is_number() const noexcept { return kind_ == Kind::kNumber; }
  bool is_string() const noexcept { return kind_ == Kind::kString; }
  bool is_raw() const noexcept { return kind_ == Kind::kRaw; }

  // Each accessor returns a neutral value (false, 0, "") for another kind.
  bool AsBool() const noexcept { return kind_ == Kind::kBool && bool_; }
  double AsNumber() const noexcept { return kind_ == Kind::kNumber ? number_ : 0.0; }
  const std::string& AsString() const noexcept { return text_; }  // kString (kRaw: the JSON)

  void AppendJson(std::string& out) const {
    switch (kind_) {
      case Kind::kNull:
        out.append("null");
        break;
      case Kind::kBool:
        out.append(bool_ ? "true" : "false");
        break;
      case Kind::kNumber:
        detail::AppendJsonNumber(out, number_);
        break;
      case Kind::kString:
        detail::AppendJsonString(out, text_);
        break;
      case Kind::kRaw:
        out.append(text_);
        break;
    }
  }
  std::string ToJson() const {
    std::string out;
    AppendJson(out);
    return out;
  }

  friend bool operator==(const Value& a, const Value& b) noexcept {
    if (a.kind_ != b.kind_) return false;
    switch (a.kind_) {
      case Kind::kNull:
        return true;
      case Kind::kBool:
        return a.bool_ == b.bool_;
      case Kind::kNumber:
        return a.number_ == b.number_;
      default:
        return a.text_ == b.text_;
    }
  }

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string text_;
};

// A JSON object of Values, e.g. Object{{"connectionId", id}, {"n", 3}}.
// Keys are kept sorted; a repeated key in parsed text keeps the last value.
class Object {
 public:
  using Fields = std::map<std::string, Value, std::less<>>;

  Object() = default;
  Object(std::initializer_list<Fields::value_type> fields) : fields_(fields) {}

  // Inserts a null value if the key is missing.
  Value& operator[](std::string_view key) {
    auto it = fields_.find(key);
    if (it == fields_.end()) it = fields_.emplace(std::string(key), Value()).first;
    return it->second;
  }
  // nullptr when missing.
  const Value* Find(std::string_view key) const {
    auto it = fields_.find(key);
    return it == fields_.end() ? nullptr : &it->second;
  }
  // The value of `key` when it is a string.
  std::optional<std::string> GetString(std::string_view key) const {
    const Value* v = Find(key);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return v->AsString();
  }
  bool Contains(std::string_view key) const { return fields_.find(key) != fields_.end(); }
  bool Erase(std::string_view key) {
    auto it = fields_.find(key);
    if (it == fields_.end()) return false;
    fields_.erase(it);
    return true;
  }
  size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  Fields::const_iterator begin() const noexcept { return fields_.begin(); }
  Fields::const_iterator end() const noexcept { return fields_.end(); }

  std::string ToJson() const {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, value] : fields_) {
      if (!first) out.push_back(',');
      first = false;
      detail::AppendJsonString(out, key);
      out.push_back(':');
      value.AppendJson(out);
    }
    out.push_back('}');
    return out;
  }

  // Parses JSON object text. Nested objects and arrays become Value::RawJson.
  static Result<Object> Parse(std::string_view json);

  friend bool operator==(const Object& a, const Object& b) { return a.fields_ == b.fields_; }

 private:
  Fields fields_;
};

namespace detail {

// A small recursive-descent reader for Object::Parse. Not a validator of
// nested values: those are copied as balanced text.
class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : s_(text) {}

  Result<Object> ReadObject() {
    Object object;
    SkipSpace();
    if (!Eat('{')) return Fail("expected '{'");
    SkipSpace();
    if (!Eat('}')) {
      for (;;) {
        SkipSpace();
        std::string key;
        if (!ReadString(key)) return Fail("expected a string key");
        SkipSpace();
        if (!Eat(':')) return Fail("expected ':'");
        SkipSpace();
        Value value;
        if (!ReadValue(value)) return Fail("bad value");
        object[key] = std::move(value);
        SkipSpace();
        if (Eat(',')) continue;
        if (Eat('}')) break;
        return Fail("expected ',' or '}'");
      }
    }
    SkipSpace();
    if (i_ != s_.size()) return Fail("trailing characters");
    return object;
  }

 private:
  Error Fail(const char* what) const {
    return Error(NITRIC_ERR_INVALID_ARGUMENT,
                 std::string("JSON object: ") + what + " at offset " + std::to_string(i_));
  }
  void SkipSpace() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }
  bool Eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool EatWord(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  bool ReadHex4(uint32_t& out) {
    if (s_.size() - i_ < 4) return false;
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      out <<= 4;
      if (c >= '0' && c <= '9')
        out |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        out |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        out |= static_cast<uint32_t>(c - 'A' + 10);
      else
        return false;
    }
    return true;
  }

  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool ReadString(std::string& out) {
    if (!Eat('"')) return false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;  // must be escaped
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return false;
      switch (s_[i_++]) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!ReadHex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // high surrogate: needs its pair
            uint32_t low;
            if (!EatWord("\\u") || !ReadHex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;  // lone low surrogate
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  // Copies a nested object or array verbatim (balanced brackets, strings
  // skipped so brackets inside them do not count).
  bool ReadComposite(std::string& out) {
    const size_t start = i_;
    int depth = 0;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '"') {
        std::string ignored;
        if (!ReadString(ignored)) return false;
        continue;
      }
      ++i_;
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) {
          out.assign(s_.substr(start, i_ - start));
          return true;
        }
      }
    }
    return false;
  }

  bool ReadValue(Value& out) {
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '"') {
      std::string text;
      if (!ReadString(text)) return false;
      out = Value(std::move(text));
      return true;
    }
    if (c == '{' || c == '[') {
      std::string raw;
      if (!ReadComposite(raw)) return false;
      out = Value::RawJson(std::move(raw));
      return true;
    }
    if (EatWord("true")) {
      out = Value(true);
      return true;
    }
    if (EatWord("false")) {
      out = Value(false);
      return true;
    }
    if (EatWord("null")) {
      out = Value(nullptr);
      return true;
    }
    if (c != '-' && (c < '0' || c > '9')) return false;  // from_chars also takes "inf"
    double n = 0;
    auto r = std::from_chars(s_.data() + i_, s_.data() + s_.size(), n);
    if (r.ec != std::errc()) return false;
    i_ = static_cast<size_t>(r.ptr - s_.data());
    out = Value(n);
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace detail

inline Result<Object> Object::Parse(std::string_view json) {
  return detail::JsonReader(json).ReadObject();
}

}  // namespace nitric

#endif  // NITRIC_JSON_HPP_
