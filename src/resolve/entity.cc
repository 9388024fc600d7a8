#include "resolve/entity.h"

#include <string_view>

namespace caretta::resolve {
namespace {

// Length of the valid UTF-8 sequence at the start of `s`, or 0 if it is malformed
// (overlong forms, surrogates and code points past U+10FFFF included). Written
// here: no library the project uses validates UTF-8 without pulling a parser.
std::size_t ValidSequence(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t i = 2; i < n; ++i)
    if (b(i) < 0x80 || b(i) > 0xBF) return 0;
  return n;
}

void Sanitize(std::string& value, LabelRepairs& repairs) {
  bool valid = true;
  for (std::size_t i = 0; i < value.size();) {
    std::size_t n = ValidSequence(std::string_view(value).substr(i));
    if (n == 0) {
      valid = false;
      break;
    }
    i += n;
  }
  if (!valid) {
    ++repairs.invalid_utf8;
    std::string fixed;
    for (std::size_t i = 0; i < value.size() && fixed.size() <= kMaxLabelValueBytes;) {
      std::size_t n = ValidSequence(std::string_view(value).substr(i));
      if (n == 0) {
        fixed += "\xEF\xBF\xBD";  // U+FFFD
        n = 1;
      } else {
        fixed.append(value, i, n);
      }
      i += n;
    }
    value = std::move(fixed);
  }
  if (value.size() > kMaxLabelValueBytes) {
    ++repairs.truncated;
    std::size_t cut = kMaxLabelValueBytes;
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
    value.resize(cut);
  }
}

}  // namespace

void SanitizeEntity(Entity& e, LabelRepairs& repairs) {
  for (std::string* field : {&e.name, &e.namespace_, &e.kind, &e.owner, &e.zone})
    Sanitize(*field, repairs);
}

}  // namespace caretta::resolve
