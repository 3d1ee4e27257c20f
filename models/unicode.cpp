// UTF-8, character properties and NFC over the generated UCD tables (see unicode.h).
#include "models/unicode.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"

namespace zebra::unicode {

namespace {

using GC = GeneralCategory;
struct CategoryRange {
  char32_t first, last;
  GC category;
};
struct ClassRange {
  char32_t first, last;
  int ccc;
};
struct CodeRange {
  char32_t first, last;
};
struct Decomposition {
  char32_t cp, first, second;
};

#include "models/unicode_data.inc"

constexpr char32_t kMaxCodePoint = 0x10FFFF;

// Per-code-point properties packed in 16 bits: category (5 bits), three flags, combining class.
constexpr uint16_t kWhiteSpaceBit = 1 << 5, kAlphabeticBit = 1 << 6, kNfcMaybeBit = 1 << 7;
constexpr int kClassShift = 8;

// Two-stage lookup: the code point's block picks one of the distinct 128-entry blocks.
class PropertyTable {
 public:
  PropertyTable() {
    std::vector<uint16_t> flat(kMaxCodePoint + 1, uint16_t(GC::Cn));
    for (const auto& r : kCategories)
      for (char32_t c = r.first; c <= r.last; ++c) flat[c] = uint16_t(r.category);
    auto set_bits = [&](const auto& ranges, uint16_t bits) {
      for (const auto& r : ranges)
        for (char32_t c = r.first; c <= r.last; ++c) flat[c] |= bits;
    };
    set_bits(kWhiteSpace, kWhiteSpaceBit);
    set_bits(kAlphabetic, kAlphabeticBit);
    set_bits(kNfcQuickCheckNotYes, kNfcMaybeBit);
    for (const auto& r : kCombiningClasses)
      for (char32_t c = r.first; c <= r.last; ++c) flat[c] |= uint16_t(r.ccc << kClassShift);

    std::map<std::vector<uint16_t>, uint16_t> seen;
    index_.resize((kMaxCodePoint + 1) / kBlock);
    for (size_t b = 0; b < index_.size(); ++b) {
      std::vector<uint16_t> block(flat.begin() + b * kBlock, flat.begin() + (b + 1) * kBlock);
      auto [it, fresh] = seen.emplace(block, uint16_t(seen.size()));
      if (fresh) blocks_.insert(blocks_.end(), block.begin(), block.end());
      index_[b] = it->second;
    }
  }
  uint16_t get(char32_t c) const {
    return c > kMaxCodePoint ? uint16_t(GC::Cn) : blocks_[size_t(index_[c / kBlock]) * kBlock + c % kBlock];
  }

 private:
  static constexpr size_t kBlock = 128;
  std::vector<uint16_t> index_;
  std::vector<uint16_t> blocks_;
};

const PropertyTable& properties() {
  static const PropertyTable table;
  return table;
}

// --- Hangul syllables (Unicode 3.12): decomposed and composed arithmetically ---
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

struct NormalizationData {
  std::unordered_map<char32_t, std::pair<char32_t, char32_t>> decompose;
  std::unordered_map<uint64_t, char32_t> compose;  // (first << 32 | second) -> primary composite
  NormalizationData() {
    for (const auto& d : kCanonicalDecompositions) decompose[d.cp] = {d.first, d.second};
    std::vector<bool> excluded(kMaxCodePoint + 1, false);
    for (const auto& r : kFullCompositionExclusion)
      for (char32_t c = r.first; c <= r.last; ++c) excluded[c] = true;
    for (const auto& d : kCanonicalDecompositions)
      if (d.second != 0 && !excluded[d.cp]) compose[uint64_t(d.first) << 32 | d.second] = d.cp;
  }
};

const NormalizationData& normalization() {
  static const NormalizationData data;
  return data;
}

void decompose_into(char32_t c, std::u32string& out, const NormalizationData& nd) {
  if (c >= kSBase && c < kSBase + kSCount) {
    char32_t s = c - kSBase;
    out += kLBase + s / kNCount;
    out += kVBase + (s % kNCount) / kTCount;
    if (s % kTCount) out += kTBase + s % kTCount;
    return;
  }
  auto it = nd.decompose.find(c);
  if (it == nd.decompose.end()) {
    out += c;
    return;
  }
  decompose_into(it->second.first, out, nd);
  if (it->second.second) decompose_into(it->second.second, out, nd);
}

char32_t compose_pair(char32_t a, char32_t b, const NormalizationData& nd) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  auto it = nd.compose.find(uint64_t(a) << 32 | b);
  return it == nd.compose.end() ? 0 : it->second;
}

// Length of the well-formed UTF-8 sequence at s[i] (1..4), or minus the length of the maximal
// ill-formed subpart there (a valid prefix of some sequence that is cut short, or one bad byte).
int utf8_step(std::string_view s, size_t i, char32_t& cp) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  size_t left = s.size() - i;
  unsigned char b0 = p[0];
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  int len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return -1;
  }
  char32_t c = b0 & (0x7F >> len);
  for (int k = 1; k < len; ++k) {
    if (size_t(k) >= left) return -k;
    unsigned char b = p[k];
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return -k;
    c = c << 6 | (b & 0x3F);
  }
  cp = c;
  return len;
}

}  // namespace

const char* ucd_version() { return kUcdVersion; }

GeneralCategory category(char32_t c) { return GC(properties().get(c) & 0x1F); }

bool is_letter(char32_t c) {
  GC g = category(c);
  return g >= GC::Lu && g <= GC::Lo;
}
bool is_number(char32_t c) {
  GC g = category(c);
  return g >= GC::Nd && g <= GC::No;
}
bool is_mark(char32_t c) {
  GC g = category(c);
  return g >= GC::Mn && g <= GC::Me;
}
bool is_white_space(char32_t c) { return properties().get(c) & kWhiteSpaceBit; }
bool is_alphabetic(char32_t c) { return properties().get(c) & kAlphabeticBit; }
bool is_word_char(char32_t c) {
  GC g = category(c);
  return is_alphabetic(c) || (g >= GC::Mn && g <= GC::Me) || g == GC::Nd || g == GC::Pc || c == 0x200C || c == 0x200D;
}
int combining_class(char32_t c) { return properties().get(c) >> kClassShift; }

size_t find_invalid_utf8(std::string_view s) {
  char32_t cp;
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    int n = utf8_step(s, i, cp);
    if (n < 0) return i;
    i += size_t(n);
  }
  return npos;
}

void check_utf8(std::string_view s, std::string_view what) {
  size_t bad = find_invalid_utf8(s);
  ZCHECK(bad == npos, what, ": invalid UTF-8 at byte ", bad, " (byte 0x", std::hex,
         int(static_cast<unsigned char>(s[bad == npos ? 0 : bad])), ")");
}

std::u32string to_utf32(std::string_view s, std::string_view what) {
  std::u32string out;
  out.reserve(s.size());
  char32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    int n = utf8_step(s, i, cp);
    if (n < 0) check_utf8(s, what);  // throws with the offset
    out += cp;
    i += size_t(n);
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += char(c);
  } else if (c < 0x800) {
    out += char(0xC0 | (c >> 6));
    out += char(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += char(0xE0 | (c >> 12));
    out += char(0x80 | ((c >> 6) & 0x3F));
    out += char(0x80 | (c & 0x3F));
  } else {
    out += char(0xF0 | (c >> 18));
    out += char(0x80 | ((c >> 12) & 0x3F));
    out += char(0x80 | ((c >> 6) & 0x3F));
    out += char(0x80 | (c & 0x3F));
  }
}

std::string to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  char32_t cp;
  for (size_t i = 0; i < bytes.size();) {
    int n = utf8_step(bytes, i, cp);
    if (n > 0) {
      out.append(bytes.substr(i, size_t(n)));
      i += size_t(n);
    } else {
      out += "\xEF\xBF\xBD";
      i += size_t(-n);
    }
  }
  return out;
}

bool nfc_quick_check(std::u32string_view s) {
  const PropertyTable& t = properties();
  int last = 0;
  for (char32_t c : s) {
    if (c < 0x300) {  // below U+0300 everything is NFC_QC=Yes with class 0
      last = 0;
      continue;
    }
    uint16_t p = t.get(c);
    int ccc = p >> kClassShift;
    if ((p & kNfcMaybeBit) || (ccc != 0 && last > ccc)) return false;
    last = ccc;
  }
  return true;
}

std::u32string nfc(std::u32string_view s) {
  if (nfc_quick_check(s)) return std::u32string(s);
  const NormalizationData& nd = normalization();
  std::u32string d;
  d.reserve(s.size() + 8);
  for (char32_t c : s) decompose_into(c, d, nd);

  // Canonical ordering: a stable sort of every run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j,
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }

  // Canonical composition: each character joins the last starter unless blocked by a character in
  // between of equal or higher class (or by any starter).
  if (d.empty()) return d;
  size_t starter = 0, w = 1;
  int last_class = combining_class(d[0]) ? 256 : 0;  // a leading non-starter composes with nothing
  for (size_t i = 1; i < d.size(); ++i) {
    char32_t c = d[i];
    int cc = combining_class(c);
    char32_t composite = last_class < cc || last_class == 0 ? compose_pair(d[starter], c, nd) : 0;
    if (composite) {
      d[starter] = composite;
      continue;
    }
    if (cc == 0) starter = w;
    last_class = cc;
    d[w++] = c;
  }
  d.resize(w);
  return d;
}

std::string nfc(std::string_view utf8) {
  bool ascii = std::all_of(utf8.begin(), utf8.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) return std::string(utf8);
  std::u32string cps = to_utf32(utf8, "nfc");
  if (nfc_quick_check(cps)) return std::string(utf8);
  return to_utf8(nfc(std::u32string_view(cps)));
}

}  // namespace zebra::unicode
