#pragma once
// The web map's static files (ui/dist), compiled into the binary.
//
// Link the CMake target `caretta_ui_assets` and write `#include "ui_assets.h"`
// (its include directory, ui/embed, is PUBLIC on the target). The bytes come from
// a .cc that ui/cmake/embed_assets.cmake generates from every file of ui/dist at
// build time; the bodies stay valid for the whole life of the process.
#include <string_view>

namespace caretta::ui {

struct Asset {
  std::string_view content_type;
  std::string_view body;
};

// path as requested ("/", "/index.html", "/app.js"); "/" maps to index.html. nullptr if absent.
// A query string or fragment ("/app.js?v=2") is ignored; paths are case-sensitive.
const Asset* FindAsset(std::string_view path);

}  // namespace caretta::ui
