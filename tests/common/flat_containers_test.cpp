// FlatSet and FlatMap (src/common/flat_containers.hpp) behave as the std::set and std::map they replace.
#include "common/flat_containers.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace relink::detail {
namespace {

TEST(FlatSet, KeepsEachElementOnceInOrderAsStdSetDoes) {
    FlatSet<std::string> flat;
    std::set<std::string> reference;
    const std::vector<std::string> inputs{"m", "b", "x", "b", "a", "10", "9", "m", ""};
    for (const auto& s : inputs) {
        const bool fresh = reference.insert(s).second;
        EXPECT_EQ(flat.insert(s).second, fresh) << s;
        EXPECT_EQ(std::vector<std::string>(flat.begin(), flat.end()),
                  std::vector<std::string>(reference.begin(), reference.end()));
    }
    EXPECT_EQ(flat.size(), reference.size());
    EXPECT_EQ(flat.count("x"), 1U);
    EXPECT_EQ(flat.count("y"), 0U);
    EXPECT_EQ(flat.erase("y"), 0U);
    EXPECT_EQ(flat.erase("b"), 1U);
    EXPECT_EQ(flat.erase("b"), 0U);
    EXPECT_EQ(flat.count("b"), 0U);
    const std::vector<std::string> more{"c", "a", "z"};
    flat.insert(more.begin(), more.end());
    EXPECT_EQ(std::vector<std::string>(flat.begin(), flat.end()),
              (std::vector<std::string>{"", "10", "9", "a", "c", "m", "x", "z"}));
    for (const auto& s : std::vector<std::string>(flat.begin(), flat.end())) {
        EXPECT_EQ(flat.erase(s), 1U);
    }
    EXPECT_TRUE(flat.empty());
}

TEST(FlatMap, FindsInsertsAndErasesByKeyInOrderAsStdMapDoes) {
    FlatMap<std::string, FlatSet<std::string>> flat;
    std::map<std::string, std::set<std::string>> reference;
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
             {"ch2", "video"}, {"ch1", ""}, {"ch3", "audio"}, {"ch2", "audio"}, {"ch1", "x"}}) {
        flat[key].insert(value);
        reference[key].insert(value);
    }
    ASSERT_EQ(flat.size(), reference.size());
    auto expected = reference.begin();
    for (const auto& [key, values] : flat) {
        EXPECT_EQ(key, expected->first);
        EXPECT_EQ(std::set<std::string>(values.begin(), values.end()), expected->second);
        ++expected;
    }
    EXPECT_EQ(flat.count("ch2"), 1U);
    EXPECT_EQ(flat.count("ch4"), 0U);
    EXPECT_EQ(flat.find("ch4"), flat.end());
    auto ch2 = flat.find("ch2");
    ASSERT_NE(ch2, flat.end());
    EXPECT_EQ(ch2->second.size(), 2U);
    flat.erase(ch2);
    EXPECT_EQ(flat.count("ch2"), 0U);
    EXPECT_EQ(flat.erase("ch1"), 1U);
    EXPECT_EQ(flat.erase("ch1"), 0U);
    const auto& constant = flat;
    ASSERT_NE(constant.find("ch3"), constant.end());
    EXPECT_EQ(constant.find("ch3")->first, "ch3");
    EXPECT_EQ(flat.size(), 1U);
}

}  // namespace
}  // namespace relink::detail
