// CompactString (src/common/compact_string.hpp) holds any string as std::string does, inline up to its capacity.
#include "common/compact_string.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace relink::detail {
namespace {

constexpr std::size_t kCapacity = CompactString::kInlineCapacity;

std::string text(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        s.push_back(static_cast<char>('a' + i % 26));
    }
    return s;
}

TEST(CompactString, StartsEmpty) {
    const CompactString s;
    EXPECT_TRUE(s.empty());
    EXPECT_EQ(s.size(), 0U);
    EXPECT_EQ(s.view(), "");
    EXPECT_EQ(s.str(), "");
    EXPECT_FALSE(s.on_heap());
    EXPECT_TRUE(s == std::string_view{});
}

TEST(CompactString, KeepsEveryLengthInlineUpToItsCapacityAndLongerOnTheHeap) {
    for (const std::size_t n : std::vector<std::size_t>{0, 1, 15, 16, 32, kCapacity, kCapacity + 1, 1000}) {
        const std::string value = text(n);
        const CompactString s{value};
        EXPECT_EQ(s.size(), n);
        EXPECT_EQ(s.empty(), n == 0);
        EXPECT_EQ(s.view(), value);
        EXPECT_EQ(s.str(), value);
        EXPECT_TRUE(s == value);
        EXPECT_FALSE(s != value);
        EXPECT_EQ(s.on_heap(), n > kCapacity) << n;
    }
    EXPECT_EQ(kCapacity, 35U);
    EXPECT_EQ(sizeof(CompactString), 36U);
}

TEST(CompactString, KeepsCharactersAsTheyAreNulsIncluded) {
    const std::string value{"a\0b\xff", 4};
    const CompactString s{value};
    EXPECT_EQ(s.size(), 4U);
    EXPECT_EQ(s.view(), value);
}

TEST(CompactString, CopiesAreEqualAndIndependent) {
    for (const std::size_t n : std::vector<std::size_t>{0, 16, kCapacity, kCapacity + 1, 1000}) {
        CompactString a{text(n)};
        const CompactString b{a};  // NOLINT(performance-unnecessary-copy-initialization)
        EXPECT_TRUE(a == b);
        EXPECT_EQ(b.view(), text(n));
        CompactString c;
        c = a;
        EXPECT_EQ(c.view(), text(n));
        a = std::string_view{"other"};
        EXPECT_EQ(b.view(), text(n)) << n;
        EXPECT_EQ(c.view(), text(n)) << n;
    }
}

TEST(CompactString, MovesTakeTheValueAndLeaveTheSourceEmpty) {
    for (const std::size_t n : std::vector<std::size_t>{0, 16, kCapacity, kCapacity + 1, 1000}) {
        CompactString a{text(n)};
        CompactString b{std::move(a)};
        EXPECT_EQ(b.view(), text(n));
        EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
        EXPECT_FALSE(a.on_heap());
        CompactString c{text(3)};
        c = std::move(b);
        EXPECT_EQ(c.view(), text(n));
        EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
        a = text(7);             // a moved-from string can be used again
        EXPECT_EQ(a.view(), text(7));
    }
}

TEST(CompactString, SelfAssignmentKeepsTheValue) {
    for (const std::size_t n : std::vector<std::size_t>{0, 16, kCapacity, kCapacity + 1, kCapacity + 2, 1000}) {
        CompactString s{text(n)};
        const CompactString& same = s;
        s = same;
        EXPECT_EQ(s.view(), text(n));
        CompactString& alias = s;
        s = std::move(alias);
        EXPECT_EQ(s.view(), text(n));
        s = s.view();  // a view of its own characters
        EXPECT_EQ(s.view(), text(n));
        s = s.view().substr(n == 0 ? 0 : 1);  // a part of its own characters
        EXPECT_EQ(s.view(), text(n).substr(n == 0 ? 0 : 1));
    }
}

TEST(CompactString, AssignsLongOverShortAndShortOverLong) {
    CompactString s{text(5)};
    s = text(1000);
    EXPECT_TRUE(s.on_heap());
    EXPECT_EQ(s.view(), text(1000));
    s = text(kCapacity + 1);
    EXPECT_TRUE(s.on_heap());
    EXPECT_EQ(s.view(), text(kCapacity + 1));
    s = text(32);
    EXPECT_FALSE(s.on_heap());
    EXPECT_EQ(s.view(), text(32));
    s = CompactString{text(2000)};
    EXPECT_EQ(s.view(), text(2000));
    s = CompactString{text(1)};
    EXPECT_EQ(s.view(), text(1));
    s = text(kCapacity + 5);
    s.clear();
    EXPECT_TRUE(s.empty());
    EXPECT_FALSE(s.on_heap());
    s.clear();
    EXPECT_TRUE(s.empty());
}

TEST(CompactString, EqualityComparesCharactersWhereverTheyAreKept) {
    const CompactString inline_a{text(kCapacity)};
    const CompactString heap_a{text(kCapacity + 1)};
    EXPECT_FALSE(inline_a == heap_a);
    EXPECT_TRUE(inline_a != heap_a);
    EXPECT_TRUE(heap_a == CompactString{text(kCapacity + 1)});
    EXPECT_TRUE(inline_a == CompactString{text(kCapacity)});
    EXPECT_TRUE(heap_a == text(kCapacity + 1));
    EXPECT_TRUE(text(kCapacity + 1) == heap_a);
    EXPECT_FALSE(heap_a == text(kCapacity + 1).substr(0, kCapacity));
    EXPECT_FALSE(CompactString{std::string_view{"abc"}} == std::string_view{"abd"});
    EXPECT_TRUE(CompactString{} == CompactString{std::string_view{}});
}

}  // namespace
}  // namespace relink::detail
