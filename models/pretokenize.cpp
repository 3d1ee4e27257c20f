// The Llama-3 / Qwen split regex as a hand-written matcher. Each alternative is tried in pattern order
// at the current position and the first that matches wins (leftmost-first, as Oniguruma does); the
// backtracking of the greedy quantifiers is resolved in closed form, commented at each alternative.
#include "models/pretokenize.h"

#include <array>

#include "core/error.h"
#include "models/unicode.h"

namespace zebra {

namespace {

// Character classes the pattern distinguishes. \r and \n are white space with an extra bit.
enum : uint8_t { kOther = 0, kLetter = 1, kNumber = 2, kSpace = 4, kCrLf = 8 };

uint8_t classify_slow(char32_t c) {
  if (unicode::is_white_space(c)) return c == '\r' || c == '\n' ? kSpace | kCrLf : kSpace;
  if (unicode::is_letter(c)) return kLetter;
  if (unicode::is_number(c)) return kNumber;
  return kOther;
}

const std::array<uint8_t, 128>& ascii_classes() {
  static const std::array<uint8_t, 128> table = [] {
    std::array<uint8_t, 128> t{};
    for (char32_t c = 0; c < 128; ++c) t[c] = classify_slow(c);
    return t;
  }();
  return table;
}

// (?i:...) folds case by Unicode simple case folding: besides ASCII, U+017F LATIN SMALL LETTER LONG S
// folds to 's' (the only non-ASCII character that folds onto a letter of these contractions).
char32_t fold(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  return c == 0x17F ? 's' : c;
}

// End (exclusive) of the match at i; every code point is a letter, number, space or other, and
// each of those starts at least one alternative, so there is always a non-empty match.
size_t match_at(const char32_t* t, const uint8_t* cls, size_t i, size_t n, int max_digits) {
  // (?i:'s|'t|'re|'ve|'m|'ll|'d): the contractions start with distinct letters, so order is moot.
  if (t[i] == '\'' && i + 1 < n) {
    char32_t a = fold(t[i + 1]);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 < n) {
      char32_t b = fold(t[i + 2]);
      if (((a == 'r' || a == 'v') && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+ : a letter run, optionally led by one space/punctuation/mark/symbol.
  // Dropping the optional character can only help when it is itself a letter, so no retry is needed.
  size_t j = cls[i] == kLetter ? i : i + 1;
  if (cls[i] != kNumber && !(cls[i] & kCrLf) && j < n && cls[j] == kLetter) {
    while (j < n && cls[j] == kLetter) ++j;
    return j;
  }
  // \p{N}{1,3} (Llama-3) or \p{N} (Qwen)
  if (cls[i] == kNumber) {
    j = i + 1;
    while (j < n && cls[j] == kNumber && int(j - i) < max_digits) ++j;
    return j;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*' : the space is taken only when "other" characters follow it.
  j = t[i] == ' ' && i + 1 < n && cls[i + 1] == kOther ? i + 1 : i;
  if (cls[j] == kOther) {
    while (j < n && cls[j] == kOther) ++j;
    while (j < n && (cls[j] & kCrLf)) ++j;
    return j;
  }
  // What is left starts with white space; let [i, e) be the whole white-space run.
  size_t e = i;
  while (e < n && (cls[e] & kSpace)) ++e;
  // \s*[\r\n]+ : \s* backs off until [\r\n]+ can start, i.e. the match ends after the run's last CR/LF.
  for (size_t k = e; k > i; --k)
    if (cls[k - 1] & kCrLf) return k;
  // \s+(?!\S) : the whole run at the end of text; otherwise the run minus its last character (which
  // then leads the next token, e.g. " world"), provided that leaves at least one.
  if (e == n) return e;
  if (e - i >= 2) return e - 1;
  // \s+
  return e;
}

}  // namespace

SplitPretokenizer::SplitPretokenizer(std::string_view regex, std::string_view where) {
  if (regex == kLlama3SplitRegex) {
    max_digits_ = 3;
  } else if (regex == kQwen2SplitRegex) {
    max_digits_ = 1;
  } else {
    fail(where, ": unsupported Split regex \"", regex,
         "\" (zebra implements only the Llama-3 and Qwen2/3 byte-level BPE patterns)");
  }
}

void SplitPretokenizer::split(std::u32string_view text, std::vector<std::pair<uint32_t, uint32_t>>& pieces) const {
  const size_t n = text.size();
  std::vector<uint8_t> cls(n);
  const auto& ascii = ascii_classes();
  for (size_t i = 0; i < n; ++i) cls[i] = text[i] < 128 ? ascii[text[i]] : classify_slow(text[i]);
  for (size_t i = 0; i < n;) {
    size_t e = match_at(text.data(), cls.data(), i, n, max_digits_);
    pieces.emplace_back(uint32_t(i), uint32_t(e));
    i = e;
  }
}

}  // namespace zebra
