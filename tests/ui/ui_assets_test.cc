// The embedded web map, as the agent's HTTP server will look it up.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "ui_assets.h"

namespace {

using caretta::ui::FindAsset;

TEST(UiAssets, RootIsIndexHtml) {
  const auto* root = FindAsset("/");
  const auto* index = FindAsset("/index.html");
  ASSERT_NE(root, nullptr);
  ASSERT_EQ(root, index);
  EXPECT_EQ(root->content_type, "text/html; charset=utf-8");
  EXPECT_NE(root->body.find("<!doctype html>"), std::string_view::npos);
  EXPECT_NE(root->body.find("app.js"), std::string_view::npos);
  EXPECT_EQ(FindAsset(""), root);
}

TEST(UiAssets, ScriptAndStyle) {
  const auto* js = FindAsset("/app.js");
  ASSERT_NE(js, nullptr);
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
  EXPECT_GT(js->body.size(), 100000u);  // Cytoscape + ELK are bundled in
  EXPECT_NE(js->body.find("api/graph?window="), std::string_view::npos);
  const auto* css = FindAsset("/app.css");
  ASSERT_NE(css, nullptr);
  EXPECT_EQ(css->content_type, "text/css; charset=utf-8");
  EXPECT_FALSE(css->body.empty());
}

TEST(UiAssets, PageReferencesNothingOutside) {
  const auto* root = FindAsset("/");
  ASSERT_NE(root, nullptr);
  const std::string_view html = root->body;
  for (std::string_view bad : {"src=\"http", "href=\"http", "src=\"//", "href=\"//"}) {
    EXPECT_EQ(html.find(bad), std::string_view::npos) << bad;
  }
}

TEST(UiAssets, QueryStringIgnoredAndUnknownIsNull) {
  EXPECT_EQ(FindAsset("/app.js?v=3"), FindAsset("/app.js"));
  EXPECT_EQ(FindAsset("/?window=60"), FindAsset("/index.html"));
  EXPECT_EQ(FindAsset("/nope.js"), nullptr);
  EXPECT_EQ(FindAsset("app.js"), nullptr);  // paths are absolute
  EXPECT_EQ(FindAsset("/APP.JS"), nullptr);
  EXPECT_EQ(FindAsset("/../CMakeLists.txt"), nullptr);
}

TEST(UiAssets, BodiesAreTheFilesOfUiDist) {
  // Byte for byte (binary-safe: sizes come from the files, not from a NUL).
  for (const char* name : {"index.html", "app.js", "app.css"}) {
    std::ifstream in(std::string(CARETTA_UI_DIST) + "/" + name, std::ios::binary);
    ASSERT_TRUE(in) << name;
    std::ostringstream bytes;
    bytes << in.rdbuf();
    const auto* asset = FindAsset(std::string("/") + name);
    ASSERT_NE(asset, nullptr) << name;
    EXPECT_EQ(asset->body.size(), bytes.str().size()) << name;
    EXPECT_TRUE(asset->body == bytes.str()) << name;
  }
}

}  // namespace
