// UTF-8 validation for text that comes from outside (API objects, PTR answers)
// and ends up in labels and JSON. Hand-written: none of the libraries the agent
// links validates UTF-8 on its own (simdjson only inside documents it parses).
#pragma once

#include <cstddef>
#include <string_view>

namespace caretta::common {

// Length of the valid UTF-8 sequence (RFC 3629) starting at text[i]: 1 for ASCII,
// 0 when the bytes there start none (overlong forms, surrogates, code points past
// U+10FFFF, a sequence cut short).
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i);

}  // namespace caretta::common
