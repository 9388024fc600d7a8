#include "resolve/entity.h"

#include <string_view>

#include "common/utf8.h"

namespace caretta::resolve {
namespace {

void Sanitize(std::string& value, LabelRepairs& repairs) {
  bool valid = true;
  for (std::size_t i = 0; i < value.size();) {
    std::size_t n = common::Utf8SequenceLength(value, i);
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
      std::size_t n = common::Utf8SequenceLength(value, i);
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
