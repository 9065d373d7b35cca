// common/compact_string.hpp — CompactString: a string of any length that keeps up to 35 characters inside its own
// 36 bytes and only a longer one in a heap block. std::string (libstdc++) keeps only 15 characters inline in its 32
// bytes, and the secrets the in-memory store holds per session (a resume token of 32 hex digits, a client's
// instance tag of 16) are longer: each cost a heap block (48 and 32 bytes with the allocator's header) on top of the
// string itself. Held here they cost 36 bytes and no block (docs/benchmarks.md, "Where the memory goes"). 36 bytes
// with no alignment: two of them beside a record's 4 bytes of small fields fill 76 + 4 = 80 bytes, no padding. Only
// the part of std::string's interface the store uses: construction and assignment from a string_view, view(), str(),
// size(), empty(), clear() and equality. Moves leave the source empty.
#pragma once

#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace relink::detail {

class CompactString {
public:
    /// The longest string kept inside the object; a longer one is kept in a heap block of exactly its size.
    static constexpr std::size_t kInlineCapacity = 35;

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

    [[nodiscard]] bool on_heap() const noexcept { return tag() == kHeapTag; }
    [[nodiscard]] std::size_t size() const noexcept { return on_heap() ? heap_size() : tag(); }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] std::string_view view() const noexcept {
        return on_heap() ? std::string_view{heap_data(), heap_size()} : std::string_view{bytes_.data(), tag()};
    }
    [[nodiscard]] std::string str() const { return std::string{view()}; }
    void clear() noexcept { release(); }

    friend bool operator==(const CompactString& a, const CompactString& b) noexcept { return a.view() == b.view(); }
    friend bool operator==(const CompactString& a, std::string_view b) noexcept { return a.view() == b; }

private:
    // bytes_[kTagAt] is the tag: the length of an inline string (0..kInlineCapacity), or kHeapTag. On the heap, the
    // first bytes hold the block's address and the length (copied in and out with memcpy: no type punning).
    static constexpr std::size_t kTagAt = kInlineCapacity;
    static constexpr unsigned char kHeapTag = 0xFF;
    static_assert(kInlineCapacity < kHeapTag);
    static_assert(sizeof(char*) + sizeof(std::size_t) <= kTagAt);

    [[nodiscard]] unsigned char tag() const noexcept { return static_cast<unsigned char>(bytes_[kTagAt]); }
    void set_tag(unsigned char t) noexcept { bytes_[kTagAt] = static_cast<char>(t); }
    [[nodiscard]] char* heap_data() const noexcept {
        char* p = nullptr;
        std::memcpy(&p, bytes_.data(), sizeof p);
        return p;
    }
    [[nodiscard]] std::size_t heap_size() const noexcept {
        std::size_t n = 0;
        std::memcpy(&n, bytes_.data() + sizeof(char*), sizeof n);
        return n;
    }

    /// Sets the value of an empty object (no heap block held).
    void set(std::string_view s) {
        if (s.size() <= kInlineCapacity) {
            if (!s.empty()) {
                std::memcpy(bytes_.data(), s.data(), s.size());
            }
            set_tag(static_cast<unsigned char>(s.size()));
            return;
        }
        auto block = std::make_unique<char[]>(s.size());  // NOLINT(*-avoid-c-arrays): a block of exactly its size
        std::memcpy(block.get(), s.data(), s.size());
        char* p = block.release();  // owned from here by this object: freed in release()
        const std::size_t n = s.size();
        std::memcpy(bytes_.data(), &p, sizeof p);
        std::memcpy(bytes_.data() + sizeof(char*), &n, sizeof n);
        set_tag(kHeapTag);
    }
    /// Takes `other`'s value (its bytes, a heap block's ownership with them) into this empty object; `other` is left
    /// empty.
    void take(CompactString& other) noexcept {
        bytes_ = other.bytes_;
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
    std::array<char, kInlineCapacity + 1> bytes_{};
};

static_assert(sizeof(CompactString) == CompactString::kInlineCapacity + 1 && alignof(CompactString) == 1);

}  // namespace relink::detail
