// Generates models/unicode_data.inc (the Unicode tables behind models/unicode.cpp) from the Unicode
// Character Database files that Debian's unicode-data package installs. Run by hand when the UCD
// version changes; the build never runs it (the .inc is committed):
//   apt-get install unicode-data
//   g++ -std=c++20 -O2 tools/gen_unicode.cpp -o /tmp/gen_unicode
//   /tmp/gen_unicode /usr/share/unicode models/unicode_data.inc
// Every table is a sorted list of code point ranges so the file stays small (~170 KB).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "gen_unicode: %s\n", msg.c_str());
  std::exit(1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

uint32_t hex(const std::string& s) { return uint32_t(std::stoul(trim(s), nullptr, 16)); }

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) die("cannot open " + path + " (apt-get install unicode-data)");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// "# DerivedNormalizationProps-15.0.0.txt" -> "15.0.0"
std::string version_of(const std::string& path) {
  std::string first = read_lines(path).at(0);
  size_t dash = first.rfind('-'), dot = first.rfind(".txt");
  if (dash == std::string::npos || dot == std::string::npos || dot < dash) die("no version in " + path);
  return first.substr(dash + 1, dot - dash - 1);
}

// Code points listed for `property` (and, when given, `value`) in a UCD property file
// ("0009..000D ; White_Space # ..." or "0340..0341 ; NFC_QC; N # ...").
std::vector<bool> property_set(const std::string& path, const std::string& property, const std::string& value = "") {
  std::vector<bool> set(kMaxCodePoint + 1, false);
  int hits = 0;
  for (const std::string& raw : read_lines(path)) {
    std::string line = raw.substr(0, raw.find('#'));
    if (trim(line).empty()) continue;
    std::vector<std::string> f = split(line, ';');
    if (f.size() < 2 || trim(f[1]) != property) continue;
    if (!value.empty() && (f.size() < 3 || trim(f[2]) != value)) continue;
    std::string range = trim(f[0]);
    size_t dots = range.find("..");
    uint32_t lo = hex(range.substr(0, dots)), hi = dots == std::string::npos ? lo : hex(range.substr(dots + 2));
    for (uint32_t c = lo; c <= hi; ++c) set[c] = true;
    ++hits;
  }
  if (hits == 0) die("no " + property + " entries in " + path);
  return set;
}

struct Ucd {
  std::vector<std::string> category = std::vector<std::string>(kMaxCodePoint + 1, "Cn");
  std::vector<int> ccc = std::vector<int>(kMaxCodePoint + 1, 0);
  std::map<uint32_t, std::vector<uint32_t>> canonical;  // cp -> its one-level canonical decomposition
};

Ucd read_unicode_data(const std::string& path) {
  Ucd u;
  uint32_t range_first = 0;
  for (const std::string& line : read_lines(path)) {
    if (line.empty()) continue;
    std::vector<std::string> f = split(line, ';');
    if (f.size() < 6) die("bad line in " + path + ": " + line);
    uint32_t cp = hex(f[0]);
    const std::string& name = f[1];
    if (name.ends_with(", First>")) {
      range_first = cp;
      continue;
    }
    uint32_t lo = name.ends_with(", Last>") ? range_first : cp;
    for (uint32_t c = lo; c <= cp; ++c) {
      u.category[c] = f[2];
      u.ccc[c] = std::stoi(f[3]);
    }
    std::string decomposition = trim(f[5]);
    if (!decomposition.empty() && decomposition[0] != '<') {  // "<tag> ..." marks a compatibility mapping
      std::vector<uint32_t> parts;
      std::istringstream is(decomposition);
      for (std::string h; is >> h;) parts.push_back(hex(h));
      if (parts.empty() || parts.size() > 2) die("canonical decomposition of more than two code points: " + line);
      u.canonical[cp] = parts;
    }
  }
  return u;
}

// Writes runs of equal non-default values as {first, last, value}.
template <class V, class Fmt>
void write_ranges(std::FILE* out, const char* type, const char* name, const std::vector<V>& values, const V& skip,
                  Fmt fmt) {
  std::fprintf(out, "static constexpr %s %s[] = {\n", type, name);
  int count = 0;
  for (uint32_t c = 0; c <= kMaxCodePoint;) {
    uint32_t e = c;
    while (e < kMaxCodePoint && values[e + 1] == values[c]) ++e;
    if (!(values[c] == skip)) {
      std::fprintf(out, "%s{0x%X, 0x%X%s}", count % 4 ? " " : "    ", c, e, fmt(values[c]).c_str());
      std::fprintf(out, ++count % 4 ? "," : ",\n");
    }
    c = e + 1;
  }
  std::fprintf(out, "%s};\n\n", count % 4 ? "\n" : "");
}

void write_set(std::FILE* out, const char* name, const std::vector<bool>& set) {
  write_ranges(out, "CodeRange", name, set, false, [](bool) { return std::string(); });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) die("usage: gen_unicode UCD_DIR OUT.inc");
  std::string dir = argv[1];
  std::string version = version_of(dir + "/DerivedNormalizationProps.txt");
  for (const char* f : {"PropList.txt", "CompositionExclusions.txt", "DerivedCoreProperties.txt"})
    if (version_of(dir + "/" + f) != version) die(std::string(f) + " is not Unicode " + version);

  Ucd u = read_unicode_data(dir + "/UnicodeData.txt");
  std::vector<bool> white_space = property_set(dir + "/PropList.txt", "White_Space");
  std::vector<bool> alphabetic = property_set(dir + "/DerivedCoreProperties.txt", "Alphabetic");
  std::vector<bool> full_exclusion = property_set(dir + "/DerivedNormalizationProps.txt", "Full_Composition_Exclusion");
  std::vector<bool> nfc_no = property_set(dir + "/DerivedNormalizationProps.txt", "NFC_QC", "N");
  std::vector<bool> nfc_maybe = property_set(dir + "/DerivedNormalizationProps.txt", "NFC_QC", "M");

  // Full_Composition_Exclusion = CompositionExclusions.txt + singletons + non-starter decompositions;
  // derive it that way too and insist both agree, so a malformed input cannot slip through.
  std::vector<bool> derived(kMaxCodePoint + 1, false);
  for (const std::string& raw : read_lines(dir + "/CompositionExclusions.txt")) {
    std::string line = trim(raw.substr(0, raw.find('#')));
    if (!line.empty()) derived[hex(line)] = true;
  }
  for (const auto& [cp, parts] : u.canonical)
    if (parts.size() == 1 || u.ccc[cp] != 0 || u.ccc[parts[0]] != 0) derived[cp] = true;
  for (uint32_t c = 0; c <= kMaxCodePoint; ++c)
    if (derived[c] != full_exclusion[c]) die("Full_Composition_Exclusion disagrees with the derivation at U+" +
                                             std::to_string(c));

  std::vector<bool> nfc_not_yes(kMaxCodePoint + 1);
  for (uint32_t c = 0; c <= kMaxCodePoint; ++c) nfc_not_yes[c] = nfc_no[c] || nfc_maybe[c];

  std::FILE* out = std::fopen(argv[2], "w");
  if (!out) die(std::string("cannot write ") + argv[2]);
  std::fprintf(out,
               "// Generated by tools/gen_unicode.cpp from the Unicode Character Database %s (Debian's\n"
               "// unicode-data package). Do not edit; regenerate instead. Included by models/unicode.cpp.\n\n",
               version.c_str());
  std::fprintf(out, "static constexpr const char* kUcdVersion = \"%s\";\n\n", version.c_str());
  std::fprintf(out, "// General category of every assigned code point; code points in no range are Cn.\n");
  write_ranges(out, "CategoryRange", "kCategories", u.category, std::string("Cn"),
               [](const std::string& v) { return ", GC::" + v; });
  std::fprintf(out, "// Canonical_Combining_Class; code points in no range have class 0.\n");
  write_ranges(out, "ClassRange", "kCombiningClasses", u.ccc, 0, [](int v) { return ", " + std::to_string(v); });
  std::fprintf(out, "// PropList.txt White_Space (what \\s means in Oniguruma and Rust's regex).\n");
  write_set(out, "kWhiteSpace", white_space);
  std::fprintf(out, "// DerivedCoreProperties.txt Alphabetic (part of \\w in Rust's regex).\n");
  write_set(out, "kAlphabetic", alphabetic);
  std::fprintf(out, "// DerivedNormalizationProps.txt Full_Composition_Exclusion.\n");
  write_set(out, "kFullCompositionExclusion", full_exclusion);
  std::fprintf(out, "// DerivedNormalizationProps.txt NFC_Quick_Check = No or Maybe.\n");
  write_set(out, "kNfcQuickCheckNotYes", nfc_not_yes);

  std::fprintf(out, "// One-level canonical decompositions {code point, first, second (0 for a singleton)}.\n");
  std::fprintf(out, "static constexpr Decomposition kCanonicalDecompositions[] = {\n");
  int count = 0;
  for (const auto& [cp, parts] : u.canonical) {
    std::fprintf(out, "%s{0x%X, 0x%X, 0x%X}", count % 4 ? " " : "    ", cp, parts[0], parts.size() > 1 ? parts[1] : 0);
    std::fprintf(out, ++count % 4 ? "," : ",\n");
  }
  std::fprintf(out, "%s};\n", count % 4 ? "\n" : "");
  std::fclose(out);
  std::fprintf(stderr, "gen_unicode: wrote %s (Unicode %s, %zu canonical decompositions)\n", argv[2], version.c_str(),
               u.canonical.size());
  return 0;
}
