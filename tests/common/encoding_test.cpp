// common/encoding.hpp: base64 in both alphabets (RFC 4648 test vectors, every padding case, one accepted spelling
// per byte string, rejection of every malformed input), hex, and the UTF-8 check (every boundary of Unicode table
// 3-7: overlong forms, surrogates, code points above U+10FFFF, truncated and stray bytes).
#include "common/encoding.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace relink::encoding {
namespace {

using namespace std::string_literals;

constexpr std::string_view kUrlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view kStandardAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// ------------------------------------------------------------------------------------------- standard base64

TEST(Base64, Rfc4648TestVectorsWithPadding) {
    const std::vector<std::pair<std::string, std::string>> vectors{{"", ""},
                                                                   {"f", "Zg=="},
                                                                   {"fo", "Zm8="},
                                                                   {"foo", "Zm9v"},
                                                                   {"foob", "Zm9vYg=="},
                                                                   {"fooba", "Zm9vYmE="},
                                                                   {"foobar", "Zm9vYmFy"},
                                                                   {"\xfb\xff\xbf"s, "+/+/"},
                                                                   {"\xfb\xff"s, "+/8="},
                                                                   {"\0"s, "AA=="},
                                                                   {"\0\0"s, "AAA="}};
    for (const auto& [bytes, text] : vectors) {
        EXPECT_EQ(base64_encode(bytes), text);
        EXPECT_EQ(base64_decode(text), bytes) << text;
    }
}

TEST(Base64, RoundTripsEveryByteAndEveryLength) {
    for (int b = 0; b < 256; ++b) {
        const std::string one(1, static_cast<char>(b));
        EXPECT_EQ(base64_decode(base64_encode(one)), one) << b;
    }
    std::string bytes;
    for (unsigned i = 0; i < 200; ++i) {
        const std::string text = base64_encode(bytes);
        EXPECT_EQ(text.size() % 4, 0U);
        EXPECT_EQ(base64_decode(text), bytes) << bytes.size();
        bytes += static_cast<char>((i * 151U + 7U) & 0xFFU);
    }
}

TEST(Base64, RejectsMissingMisplacedOrExtraPaddingForeignCharactersAndWhitespace) {
    for (const std::string_view text : {
             "Zg",        // padding missing
             "Zg=",       // not a multiple of 4
             "Zm8",       // padding missing
             "Z===",      // three '='
             "====",      // nothing but padding
             "Zg==Zg==",  // '=' before the end
             "Z=g=",      // '=' between digits
             "Zm9v====",  // a whole group of padding
             "Zm9-",      // the URL alphabet's characters
             "Zm9_",
             "Zm 9",  // whitespace anywhere
             "Zm9v\n", " Zm9v",
             "Zm9\xc3\xa9",  // a non-ASCII byte
         }) {
        EXPECT_FALSE(base64_decode(text).has_value()) << text;
    }
    EXPECT_FALSE(base64_decode("Zm\0v"s).has_value());
}

TEST(Base64, EveryByteStringHasExactlyOneEncoding) {
    // "Zh==" and "Zm9=" set bits beyond the last byte: they are not second spellings of "Zg==" and "Zm8=".
    EXPECT_FALSE(base64_decode("Zh==").has_value());
    EXPECT_FALSE(base64_decode("Zm9=").has_value());
    int accepted = 0;
    for (const char a : kStandardAlphabet) {
        for (const char b : kStandardAlphabet) {
            const std::string two{a, b, '=', '='};
            if (const auto decoded = base64_decode(two)) {
                ASSERT_EQ(base64_encode(*decoded), two);
                ++accepted;
            }
            for (const char c : kStandardAlphabet) {
                const std::string three{a, b, c, '='};
                if (const auto decoded3 = base64_decode(three)) {
                    ASSERT_EQ(base64_encode(*decoded3), three);
                    ++accepted;
                }
            }
        }
    }
    EXPECT_EQ(accepted, 256 + 65536);  // one spelling per 1- and 2-byte string
}

// ------------------------------------------------------------------------------------------- base64url

TEST(Base64Url, Rfc4648TestVectorsWithoutPadding) {
    const std::vector<std::pair<std::string, std::string>> vectors{
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff\xbf", "-_-_"},
        {"\xfb\xff", "-_8"}};
    for (const auto& [bytes, text] : vectors) {
        EXPECT_EQ(base64url_encode(bytes), text);
        EXPECT_EQ(base64url_decode(text), bytes) << text;
    }
}

TEST(Base64Url, RoundTripsEveryByteAndEveryLength) {
    for (int b = 0; b < 256; ++b) {
        const std::string one(1, static_cast<char>(b));
        EXPECT_EQ(base64url_decode(base64url_encode(one)), one) << b;
    }
    std::string bytes;
    for (unsigned i = 0; i < 200; ++i) {
        EXPECT_EQ(base64url_decode(base64url_encode(bytes)), bytes) << bytes.size();
        bytes += static_cast<char>((i * 151U + 7U) & 0xFFU);
    }
}

TEST(Base64Url, RejectsPaddingForeignCharactersAndImpossibleLengths) {
    for (const std::string_view text :
         {"Zg==", "Zg=", "Zm9vYg==", "Z", "Zm9vY", "Zm9v+", "Zm9v/", "Zm 9", "Zm\n9v", "Zm9v.", "Zm\xc3\xa9"}) {
        EXPECT_FALSE(base64url_decode(text).has_value()) << text;
    }
    EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)).has_value());
}

TEST(Base64Url, EveryByteStringHasExactlyOneEncoding) {
    // Every 2- and 3-character text either fails to decode or is exactly the encoding of what it decodes to:
    // "Zh" (unused bits set) is not a second spelling of "Zg".
    EXPECT_FALSE(base64url_decode("Zh").has_value());
    EXPECT_FALSE(base64url_decode("Zm9").has_value());
    int accepted = 0;
    for (const char a : kUrlAlphabet) {
        for (const char b : kUrlAlphabet) {
            const std::string two{a, b};
            if (const auto decoded = base64url_decode(two)) {
                ASSERT_EQ(base64url_encode(*decoded), two);
                ++accepted;
            }
            for (const char c : kUrlAlphabet) {
                const std::string three{a, b, c};
                if (const auto decoded3 = base64url_decode(three)) {
                    ASSERT_EQ(base64url_encode(*decoded3), three);
                    ++accepted;
                }
            }
        }
    }
    EXPECT_EQ(accepted, 256 + 65536);  // one spelling per 1- and 2-byte string
}

TEST(Base64Url, DiffersFromStandardOnlyInTwoCharactersAndPadding) {
    std::string bytes;
    for (unsigned i = 0; i < 64; ++i) {
        std::string standard = base64_encode(bytes);
        while (!standard.empty() && standard.back() == '=') {
            standard.pop_back();
        }
        for (char& c : standard) {
            c = c == '+' ? '-' : c == '/' ? '_' : c;
        }
        EXPECT_EQ(base64url_encode(bytes), standard) << bytes.size();
        bytes += static_cast<char>((i * 37U + 250U) & 0xFFU);
    }
}

// ------------------------------------------------------------------------------------------- hex

TEST(Hex, TwoLowercaseDigitsPerByte) {
    EXPECT_EQ(to_hex(""), "");
    EXPECT_EQ(to_hex("\x00\x01\x7f\x80\xab\xff"s), "00017f80abff");
    std::string all;
    for (int b = 0; b < 256; ++b) {
        all += static_cast<char>(b);
    }
    const std::string hex = to_hex(all);
    ASSERT_EQ(hex.size(), 512U);
    for (std::size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(hex_digit_value(hex[2 * i]) * 16 + hex_digit_value(hex[2 * i + 1]), static_cast<int>(i));
    }
}

TEST(Hex, SixteenDigitsOfAnInteger) {
    EXPECT_EQ(to_hex(std::uint64_t{0}), "0000000000000000");
    EXPECT_EQ(to_hex(std::uint64_t{0xAB}), "00000000000000ab");
    EXPECT_EQ(to_hex(std::uint64_t{0x0123456789ABCDEF}), "0123456789abcdef");
    EXPECT_EQ(to_hex(~std::uint64_t{0}), "ffffffffffffffff");
}

TEST(Hex, DigitValuesInEitherCase) {
    for (int c = 0; c < 256; ++c) {
        const char ch = static_cast<char>(c);
        int expected = -1;
        if (ch >= '0' && ch <= '9') {
            expected = ch - '0';
        } else if (ch >= 'a' && ch <= 'f') {
            expected = ch - 'a' + 10;
        } else if (ch >= 'A' && ch <= 'F') {
            expected = ch - 'A' + 10;
        }
        EXPECT_EQ(hex_digit_value(ch), expected) << c;
    }
}

// ------------------------------------------------------------------------------------------- UTF-8

/// The UTF-8 encoding of a code point, written out for the test (surrogates too: encoded as if they were scalars).
std::string utf8_of(std::uint32_t cp) {
    std::string out;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | cp >> 6);
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | cp >> 12);
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | cp >> 18);
        out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
}

TEST(Utf8, EveryScalarValueIsValidAndNoSurrogateIs) {
    for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        ASSERT_EQ(is_valid_utf8(utf8_of(cp)), !surrogate) << std::hex << cp;
    }
}

TEST(Utf8, AcceptsTextAtEveryBoundary) {
    EXPECT_TRUE(is_valid_utf8(""));
    EXPECT_TRUE(is_valid_utf8("plain ASCII, \x01 and \x7f"));
    EXPECT_TRUE(is_valid_utf8("\0"s));
    EXPECT_TRUE(is_valid_utf8("\xC2\x80 \xDF\xBF \xE0\xA0\x80 \xED\x9F\xBF \xEE\x80\x80 \xEF\xBF\xBF"));
    EXPECT_TRUE(is_valid_utf8("\xF0\x90\x80\x80 \xF4\x8F\xBF\xBF"));
    EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9 \xE2\x86\x92 \xF0\x9F\x99\x82"));
}

TEST(Utf8, RejectsOverlongSurrogateOutOfRangeTruncatedAndStrayBytes) {
    for (const std::string& text : {
             "\xC0\x80"s,                  // overlong U+0000
             "\xC1\xBF"s,                  // overlong U+007F
             "\xE0\x80\x80"s,              // overlong U+0000 in three bytes
             "\xE0\x9F\xBF"s,              // overlong U+07FF
             "\xF0\x80\x80\x80"s,          // overlong U+0000 in four bytes
             "\xF0\x8F\xBF\xBF"s,          // overlong U+FFFF
             "\xED\xA0\x80"s,              // U+D800, the first surrogate
             "\xED\xBF\xBF"s,              // U+DFFF, the last
             "\xED\xA0\xBD\xED\xB8\x82"s,  // a surrogate pair (CESU-8), not UTF-8
             "\xF4\x90\x80\x80"s,          // U+110000
             "\xF5\x80\x80\x80"s,          // leads beyond U+10FFFF
             "\xFF"s,
             "\xFE"s,
             "\x80"s,  // a lone continuation byte
             "a\xBFz"s,
             "\xC3"s,  // truncated sequences, at the end and before other text
             "\xE2\x82"s,
             "\xF0\x9F\x99"s,
             "\xE2\x82z"s,
             "\xC3\xC3\xA9"s,            // a lead where a continuation must be
             "ok\xF0\x9F\x99\x82\x82"s,  // a continuation too many
         }) {
        EXPECT_FALSE(is_valid_utf8(text)) << to_hex(text);
    }
}

}  // namespace
}  // namespace relink::encoding
