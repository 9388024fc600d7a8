#include "ui_assets.h"

#include <cstddef>
#include <vector>

#include "ui_assets_table.h"

namespace caretta::ui {
namespace {

std::vector<Asset> BuildAssets() {
  std::vector<Asset> assets;
  assets.reserve(detail::kEmbeddedFileCount);
  for (std::size_t i = 0; i < detail::kEmbeddedFileCount; ++i) {
    const auto& f = detail::kEmbeddedFiles[i];
    assets.push_back(Asset{f.content_type, std::string_view(f.data, f.size)});
  }
  return assets;
}

const std::vector<Asset>& Assets() {
  static const std::vector<Asset> assets = BuildAssets();  // thread-safe init
  return assets;
}

}  // namespace

const Asset* FindAsset(std::string_view path) {
  if (const auto cut = path.find_first_of("?#"); cut != std::string_view::npos) {
    path = path.substr(0, cut);
  }
  if (path.empty() || path == "/") path = "/index.html";
  const auto& assets = Assets();
  for (std::size_t i = 0; i < detail::kEmbeddedFileCount; ++i) {
    if (path == detail::kEmbeddedFiles[i].path) return &assets[i];
  }
  return nullptr;
}

}  // namespace caretta::ui
