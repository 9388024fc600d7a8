#pragma once
// Internal: the table that the generated ui_assets_data.cc defines.
#include <cstddef>

namespace caretta::ui::detail {

struct EmbeddedFile {
  const char* path;          // "/index.html"
  const char* content_type;  // "text/html; charset=utf-8"
  const char* data;
  std::size_t size;
};

extern const EmbeddedFile kEmbeddedFiles[];
extern const std::size_t kEmbeddedFileCount;

}  // namespace caretta::ui::detail
