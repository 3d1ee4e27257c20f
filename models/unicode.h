// Unicode support for the tokenizer: UTF-8 decoding/encoding (strict, and lossy like Rust's
// String::from_utf8_lossy), general categories and the White_Space / Alphabetic properties behind
// the regex classes \p{L} \p{N} \s \w, and NFC normalisation. Tables come from the Unicode Character
// Database via tools/gen_unicode.cpp (models/unicode_data.inc); ucd_version() names the version.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace zebra::unicode {

enum class GeneralCategory : uint8_t {
  Cn, Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No, Pc, Pd, Ps, Pe, Pi, Pf, Po, Sm, Sc, Sk, So, Zs, Zl, Zp,
  Cc, Cf, Cs, Co
};

const char* ucd_version();

GeneralCategory category(char32_t c);     // Cn for unassigned code points and anything above U+10FFFF
bool is_letter(char32_t c);               // \p{L}: Lu Ll Lt Lm Lo
bool is_number(char32_t c);               // \p{N}: Nd Nl No
bool is_mark(char32_t c);                 // \p{M}: Mn Mc Me
bool is_white_space(char32_t c);          // White_Space, which is \s in Oniguruma and Rust's regex
bool is_alphabetic(char32_t c);           // Alphabetic
bool is_word_char(char32_t c);            // \w in Rust's regex: Alphabetic, M, Nd, Pc, Join_Control
int combining_class(char32_t c);          // Canonical_Combining_Class

// --- UTF-8 ----------------------------------------------------------------------------------
inline constexpr size_t npos = std::string_view::npos;
// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (overlongs,
// surrogates and code points above U+10FFFF are ill-formed, as in Rust's str), or npos.
size_t find_invalid_utf8(std::string_view s);
// Throws zebra::Error "<what>: invalid UTF-8 at byte N" unless s is well-formed.
void check_utf8(std::string_view s, std::string_view what);
// Decodes well-formed UTF-8 (throws like check_utf8 otherwise).
std::u32string to_utf32(std::string_view s, std::string_view what = "utf8");
void append_utf8(std::string& out, char32_t c);
std::string to_utf8(std::u32string_view s);
// Replaces each maximal ill-formed subsequence with U+FFFD, exactly as Rust's from_utf8_lossy
// (and the WHATWG decoder) do.
std::string utf8_lossy(std::string_view bytes);

// --- NFC ------------------------------------------------------------------------------------
// Canonical decomposition, canonical ordering and canonical composition (with the composition
// exclusions; Hangul algorithmically). Input already in NFC is returned unchanged cheaply.
std::u32string nfc(std::u32string_view s);
std::string nfc(std::string_view utf8);
// NFC_Quick_Check = Yes for every code point and combining classes in order: s is certainly NFC.
bool nfc_quick_check(std::u32string_view s);

}  // namespace zebra::unicode
