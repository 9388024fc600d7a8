// Prometheus label escaping, round trip: label values from outside (pod, process
// and DNS names) are written with PrometheusText, and a strict parser of the text
// format 0.0.4 (written here, as strict as Prometheus's: only \\ \" \n escapes,
// no raw newline in a value, valid UTF-8) must read back exactly what was written —
// or, for a value that is not valid UTF-8, that value with each bad byte replaced
// by U+FFFD. Input: label values separated by NUL bytes (at most 8).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "export/prometheus_text.h"

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF).
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return n;
}

bool ValidUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// What the value must read back as: each byte that starts no valid sequence → U+FFFD.
std::string Expected(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

// Strict reader of one sample line `name{l0="v",l1="v"} value\n`.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}
  bool Literal(std::string_view lit) {
    if (text_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }
  std::optional<std::string> QuotedValue() {
    if (!Literal("\"")) return std::nullopt;
    std::string value;
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"') {
        if (!ValidUtf8(value)) return std::nullopt;
        return value;
      }
      if (c == '\n') return std::nullopt;  // a raw newline ends the line: invalid
      if (c == '\\') {
        if (pos_ >= text_.size()) return std::nullopt;
        char e = text_[pos_++];
        if (e == '\\')
          value += '\\';
        else if (e == '"')
          value += '"';
        else if (e == 'n')
          value += '\n';
        else
          return std::nullopt;
      } else {
        value += c;
      }
    }
    return std::nullopt;
  }
  std::optional<std::string> LineRest() {
    std::size_t nl = text_.find('\n', pos_);
    if (nl == std::string_view::npos) return std::nullopt;
    std::string rest(text_.substr(pos_, nl - pos_));
    pos_ = nl + 1;
    return rest;
  }
  bool AtEnd() const { return pos_ == text_.size(); }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string kNames[8] = {
      "client_name",      "client_namespace", "client_kind", "server_name",
      "server_namespace", "server_kind",      "server_port", "role"};
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> values;
  std::size_t start = 0;
  while (values.size() < 8) {
    std::size_t nul = input.find('\0', start);
    values.push_back(input.substr(start, nul == std::string_view::npos ? nul : nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  std::vector<caretta::exporter::Label> labels;
  for (std::size_t i = 0; i < values.size(); ++i) labels.emplace_back(kNames[i], values[i]);
  const std::uint64_t count = size * 0x9e3779b97f4a7c15ull;

  caretta::exporter::PrometheusText text;
  text.Family("caretta_links_observed", "gauge", "total bytes_sent value of links observed");
  text.Sample("caretta_links_observed", labels, count);

  Reader reader(text.str());
  if (!reader.Literal("# HELP caretta_links_observed total bytes_sent value of links observed\n"
                      "# TYPE caretta_links_observed gauge\n"
                      "caretta_links_observed{"))
    abort();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0 && !reader.Literal(",")) abort();
    if (!reader.Literal(kNames[i]) || !reader.Literal("=")) abort();
    std::optional<std::string> value = reader.QuotedValue();
    if (!value) abort();                         // what we wrote does not parse
    if (*value != Expected(values[i])) abort();  // or reads back different
  }
  if (!reader.Literal("} ")) abort();
  auto rest = reader.LineRest();
  if (!rest || *rest != std::to_string(count) || !reader.AtEnd()) abort();
  return 0;
}
