// common/compact_string.hpp — CompactString: a string of any length that keeps up to 35 characters inside its own
// 36 bytes and only a longer one in a heap block. std::string (libstdc++) keeps only 15 characters inline in its 32
// bytes, and the secrets the in-memory store holds per session (a resume token of 32 hex digits, a client's
// instance tag of 16) are longer: each cost a heap block (48 and 32 bytes with the allocator's header) on top of the
// string itself. Held here they cost 36 bytes and no block (docs/benchmarks.md, "Where the memory goes"). 36 bytes
// with no alignment: two of them beside a record's 4 bytes of small fields fill 76 + 4 = 80 bytes, no padding. Only
// the part of std::string's interface the store uses: construction and assignment from a string_view, view(), str(),
// size(), empty(), clear() and equality. Moves leave the source empty.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace relink::detail {

class CompactString {
public:
    /// The longest string kept inside the object; a longer one is kept in a heap block of exactly its size.
    static constexpr std::size_t inline_capacity = 35;

    CompactString() noexcept = default;
    explicit CompactString(std::string_view s) { set(s); }
    CompactString(const CompactString& other) { set(other.view()); }
    CompactString(CompactString&& other) noexcept { take(other); }
    CompactString& operator=(const CompactString& other) {
        if (this != &other) {
            CompactString copy{other};  // made first: if it throws, this keeps its value
            release();
            take(copy);
        }
        return *this;
    }
    CompactString& operator=(CompactString&& other) noexcept {
        if (this != &other) {
            release();
            take(other);
        }
        return *this;
    }
    CompactString& operator=(std::string_view s) {
        CompactString copy{s};  // `s` may view this string's own characters
        release();
        take(copy);
        return *this;
    }
    ~CompactString() { release(); }

    [[nodiscard]] bool on_heap() const noexcept { return tag() == heap_tag; }
    [[nodiscard]] std::size_t size() const noexcept { return on_heap() ? heap_size() : tag(); }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] std::string_view view() const noexcept {
        return on_heap() ? std::string_view{heap_data(), heap_size()} : std::string_view{bytes_, tag()};
    }
    [[nodiscard]] std::string str() const { return std::string{view()}; }
    void clear() noexcept { release(); }

    friend bool operator==(const CompactString& a, const CompactString& b) noexcept { return a.view() == b.view(); }
    friend bool operator==(const CompactString& a, std::string_view b) noexcept { return a.view() == b; }

private:
    // bytes_[tag_at] is the tag: the length of an inline string (0..inline_capacity), or heap_tag. On the heap, the
    // first bytes hold the block's address and the length (copied in and out with memcpy: no type punning).
    static constexpr std::size_t tag_at = inline_capacity;
    static constexpr unsigned char heap_tag = 0xFF;
    static_assert(inline_capacity < heap_tag);
    static_assert(sizeof(char*) + sizeof(std::size_t) <= tag_at);

    [[nodiscard]] unsigned char tag() const noexcept { return static_cast<unsigned char>(bytes_[tag_at]); }
    void set_tag(unsigned char t) noexcept { bytes_[tag_at] = static_cast<char>(t); }
    [[nodiscard]] char* heap_data() const noexcept {
        char* p = nullptr;
        std::memcpy(&p, bytes_, sizeof p);
        return p;
    }
    [[nodiscard]] std::size_t heap_size() const noexcept {
        std::size_t n = 0;
        std::memcpy(&n, bytes_ + sizeof(char*), sizeof n);
        return n;
    }

    /// Sets the value of an empty object (no heap block held).
    void set(std::string_view s) {
        if (s.size() <= inline_capacity) {
            if (!s.empty()) {
                std::memcpy(bytes_, s.data(), s.size());
            }
            set_tag(static_cast<unsigned char>(s.size()));
            return;
        }
        char* p = new char[s.size()];
        std::memcpy(p, s.data(), s.size());
        const std::size_t n = s.size();
        std::memcpy(bytes_, &p, sizeof p);
        std::memcpy(bytes_ + sizeof(char*), &n, sizeof n);
        set_tag(heap_tag);
    }
    /// Takes `other`'s value (its bytes, a heap block's ownership with them) into this empty object; `other` is left
    /// empty.
    void take(CompactString& other) noexcept {
        std::memcpy(bytes_, other.bytes_, sizeof bytes_);
        other.set_tag(0);
    }
    /// Frees a heap block if one is held; the object is then empty.
    void release() noexcept {
        if (on_heap()) {
            delete[] heap_data();
        }
        set_tag(0);
    }

    // No alignment (the address and length are copied in and out byte-wise): beside a record's small fields it
    // takes no padding.
    char bytes_[inline_capacity + 1]{};
};

static_assert(sizeof(CompactString) == CompactString::inline_capacity + 1 && alignof(CompactString) == 1);

}  // namespace relink::detail
