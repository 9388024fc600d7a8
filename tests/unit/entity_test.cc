#include "resolve/entity.h"

#include <gtest/gtest.h>

namespace caretta::resolve {
namespace {

Entity Named(std::string name) { return Entity{std::move(name), "ns", "Deployment", "", ""}; }

TEST(SanitizeEntity, LeavesOrdinaryNamesAlone) {
  LabelRepairs r;
  Entity e = Named("checkout-7d9f\"{}\\\n<script>");  // escaping is the writers' job
  Entity before = e;
  SanitizeEntity(e, r);
  EXPECT_EQ(e, before);
  Entity unicode = Named("caf\xC3\xA9-\xF0\x9F\x9A\x80");
  SanitizeEntity(unicode, r);
  EXPECT_EQ(unicode.name, "caf\xC3\xA9-\xF0\x9F\x9A\x80");
  EXPECT_EQ(r.truncated + r.invalid_utf8, 0u);
}

TEST(SanitizeEntity, MalformedBytesBecomeReplacementCharacters) {
  LabelRepairs r;
  for (std::string bad : {std::string("a\xFF"
                                      "b"),
                          std::string("a\xC0\xAF"),         // overlong
                          std::string("\xED\xA0\x80"),      // surrogate
                          std::string("\xF4\x90\x80\x80"),  // > U+10FFFF
                          std::string("cut\xE2\x82")}) {    // truncated
    Entity e = Named(bad);
    SanitizeEntity(e, r);
    EXPECT_NE(e.name.find("\xEF\xBF\xBD"), std::string::npos) << bad;
  }
  EXPECT_EQ(r.invalid_utf8, 5u);
  Entity e = Named(
      "a\xFF"
      "b");
  SanitizeEntity(e, r);
  EXPECT_EQ(e.name,
            "a\xEF\xBF\xBD"
            "b");
}

TEST(SanitizeEntity, OverlongValuesAreCutAtACharacterBoundary) {
  LabelRepairs r;
  Entity e = Named(std::string(1 << 20, 'x'));
  e.owner = std::string(kMaxLabelValueBytes - 1, 'y') + "\xC3\xA9";  // é straddles the bound
  SanitizeEntity(e, r);
  EXPECT_EQ(e.name.size(), kMaxLabelValueBytes);
  EXPECT_EQ(e.owner, std::string(kMaxLabelValueBytes - 1, 'y'));
  EXPECT_EQ(r.truncated, 2u);
  Entity bytes = Named(std::string(1 << 20, '\xFF'));  // both at once, bounded work
  SanitizeEntity(bytes, r);
  EXPECT_LE(bytes.name.size(), kMaxLabelValueBytes);
}

}  // namespace
}  // namespace caretta::resolve
