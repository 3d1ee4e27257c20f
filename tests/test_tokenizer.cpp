// Tokenizer tests: UTF-8 and NFC against Unicode's own test data, the Llama-3/Qwen split regex on
// its subtle cases, BPE and added-token handling on small hand-made tokenizer.json files, malformed
// files, and id-for-id parity with reference encodings of the real Llama-3 and Qwen3 files
// (tests/fixtures/tokenizer, made by tools/fixtures/tokenizer_ref.mjs).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "models/pretokenize.h"
#include "models/tokenizer.h"
#include "models/tokenizer_bpe.h"
#include "models/unicode.h"
#include "tests/test_util.h"

namespace zebra {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string u8(std::u32string_view s) { return unicode::to_utf8(s); }

// ---------------------------------------------------------------------------------------------
// UTF-8

TEST(Utf8, FindsTheFirstIllFormedByte) {
  EXPECT_EQ(unicode::find_invalid_utf8("hello \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), unicode::npos);
  EXPECT_EQ(unicode::find_invalid_utf8(""), unicode::npos);
  EXPECT_EQ(unicode::find_invalid_utf8("ab\x80"), 2u);           // stray continuation byte
  EXPECT_EQ(unicode::find_invalid_utf8("a\xC0\x80"), 1u);        // overlong NUL
  EXPECT_EQ(unicode::find_invalid_utf8("\xE0\x80\xAF"), 0u);     // overlong 3-byte
  EXPECT_EQ(unicode::find_invalid_utf8("x\xED\xA0\x80"), 1u);    // surrogate U+D800
  EXPECT_EQ(unicode::find_invalid_utf8("\xF4\x90\x80\x80"), 0u); // above U+10FFFF
  EXPECT_EQ(unicode::find_invalid_utf8("abc\xE4\xB8"), 3u);      // truncated
  EXPECT_EQ(unicode::find_invalid_utf8("\xFF"), 0u);
  EXPECT_EQ(unicode::find_invalid_utf8("\xF4\x8F\xBF\xBF"), unicode::npos);  // U+10FFFF itself
  EXPECT_ERROR(unicode::check_utf8("abc\xE4\xB8", "encode"), "encode: invalid UTF-8 at byte 3");
}

TEST(Utf8, LossyReplacesMaximalSubparts) {
  // Expected values follow the WHATWG/Unicode "maximal subpart" practice that Rust's
  // from_utf8_lossy implements.
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(unicode::utf8_lossy("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_EQ(unicode::utf8_lossy("\xF0\x9F\x98"), r);                 // one truncated sequence
  EXPECT_EQ(unicode::utf8_lossy("\xF0\x9F\x98x"), r + "x");
  EXPECT_EQ(unicode::utf8_lossy("\xE0\x80"), r + r);                  // E0 80 can never start well-formed
  EXPECT_EQ(unicode::utf8_lossy("\xED\xA0\x80"), r + r + r);          // surrogate: three bad bytes
  EXPECT_EQ(unicode::utf8_lossy("a\xC3(b"), "a" + r + "(b");
  EXPECT_EQ(unicode::utf8_lossy("\x80\x80"), r + r);
  EXPECT_EQ(unicode::utf8_lossy("\xF1\x80\x80\xE1\x80\xC2"), r + r + r);
}

TEST(Utf8, RoundTripsEveryScalarValueRange) {
  std::mt19937 rng(7);
  std::u32string s;
  for (int i = 0; i < 5000; ++i) {
    char32_t c = rng() % 0x110000;
    if (c >= 0xD800 && c < 0xE000) continue;
    s += c;
  }
  s += U"\U0010FFFF\u007F\u0080\u07FF\u0800\uFFFF\U00010000";
  std::string bytes = u8(s);
  EXPECT_EQ(unicode::find_invalid_utf8(bytes), unicode::npos);
  EXPECT_EQ(unicode::to_utf32(bytes), s);
  EXPECT_EQ(unicode::utf8_lossy(bytes), bytes);
}

// ---------------------------------------------------------------------------------------------
// Properties and NFC

TEST(Unicode, CategoriesAndWhiteSpace) {
  using GC = unicode::GeneralCategory;
  EXPECT_STREQ(unicode::ucd_version(), "15.0.0");
  EXPECT_EQ(unicode::category('A'), GC::Lu);
  EXPECT_EQ(unicode::category('z'), GC::Ll);
  EXPECT_EQ(unicode::category(U'ǅ'), GC::Lt);
  EXPECT_EQ(unicode::category(U'ー'), GC::Lm);
  EXPECT_EQ(unicode::category(U'中'), GC::Lo);
  EXPECT_EQ(unicode::category(0x2A6DF), GC::Lo);   // last of CJK Extension B (a First/Last range)
  EXPECT_EQ(unicode::category(0x0301), GC::Mn);
  EXPECT_EQ(unicode::category('7'), GC::Nd);
  EXPECT_EQ(unicode::category(U'Ⅻ'), GC::Nl);
  EXPECT_EQ(unicode::category(U'½'), GC::No);
  EXPECT_EQ(unicode::category('_'), GC::Pc);
  EXPECT_EQ(unicode::category('$'), GC::Sc);
  EXPECT_EQ(unicode::category(U'😀'), GC::So);
  EXPECT_EQ(unicode::category(' '), GC::Zs);
  EXPECT_EQ(unicode::category(0x2028), GC::Zl);
  EXPECT_EQ(unicode::category('\n'), GC::Cc);
  EXPECT_EQ(unicode::category(0xFEFF), GC::Cf);
  EXPECT_EQ(unicode::category(0xE000), GC::Co);
  EXPECT_EQ(unicode::category(0x0378), GC::Cn);    // unassigned
  EXPECT_EQ(unicode::category(0x110000), GC::Cn);
  EXPECT_TRUE(unicode::is_letter(U'ß') && unicode::is_number(U'٣') && unicode::is_mark(0x093C));
  EXPECT_FALSE(unicode::is_letter('1') || unicode::is_number('x') || unicode::is_mark('a'));

  // White_Space is exactly these 25 code points.
  std::vector<char32_t> ws = {0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
  for (char32_t c = 0x2000; c <= 0x200A; ++c) ws.push_back(c);
  int count = 0;
  for (char32_t c = 0; c < 0x110000; ++c) count += unicode::is_white_space(c);
  EXPECT_EQ(count, int(ws.size()));
  for (char32_t c : ws) EXPECT_TRUE(unicode::is_white_space(c)) << uint32_t(c);
  EXPECT_FALSE(unicode::is_white_space(0xFEFF) || unicode::is_white_space(0x200B) || unicode::is_white_space(0x1C));

  EXPECT_TRUE(unicode::is_word_char('_') && unicode::is_word_char(U'é') && unicode::is_word_char(0x200D) &&
              unicode::is_word_char(0x0301) && unicode::is_word_char(U'٣'));
  EXPECT_FALSE(unicode::is_word_char('-') || unicode::is_word_char(' ') || unicode::is_word_char(U'½'));
  EXPECT_EQ(unicode::combining_class(0x0301), 230);
  EXPECT_EQ(unicode::combining_class(0x0323), 220);
  EXPECT_EQ(unicode::combining_class('a'), 0);
}

TEST(Unicode, NfcKnownPairs) {
  EXPECT_EQ(unicode::nfc(std::string_view("e\u0301")), "\u00e9");
  EXPECT_EQ(unicode::nfc(std::string_view("A\u030a")), "\u00c5");
  EXPECT_EQ(unicode::nfc(std::string_view("\u212b")), "\u00c5");                 // singleton: Angstrom sign
  EXPECT_EQ(unicode::nfc(std::string_view("\u2126")), "\u03a9");                 // Ohm sign
  EXPECT_EQ(unicode::nfc(std::string_view("q\u0307\u0323")), "q\u0323\u0307");   // reordered, nothing composes
  EXPECT_EQ(unicode::nfc(std::string_view("a\u0323\u0302")), "\u1ead");          // ậ via reordering
  EXPECT_EQ(unicode::nfc(std::string_view("\u1100\u1161\u11a8")), "\uac01");     // Hangul L V T
  EXPECT_EQ(unicode::nfc(std::string_view("\uac00\u11a8")), "\uac01");           // LV + T
  EXPECT_EQ(unicode::nfc(std::string_view("\u0958")), "\u0915\u093c");           // composition exclusion
  EXPECT_EQ(unicode::nfc(std::string_view("\u0344")), "\u0308\u0301");           // non-starter decomposition
  EXPECT_EQ(unicode::nfc(std::string_view("\ufb01")), "\ufb01");                 // compatibility only: kept
  EXPECT_EQ(unicode::nfc(std::string_view("\u0301a")), "\u0301a");               // leading mark stays
  EXPECT_EQ(unicode::nfc(std::string_view("a\u0301\u0301")), "\u00e1\u0301");    // second acute is blocked
  EXPECT_EQ(unicode::nfc(std::string_view("plain ascii")), "plain ascii");
  EXPECT_EQ(unicode::nfc(std::string_view("")), "");
  EXPECT_ERROR(unicode::nfc(std::string_view("a\xC3")), "invalid UTF-8 at byte 1");
}

TEST(Unicode, NfcMatchesNormalizationTest) {
  std::ifstream in(std::string(ZEBRA_SOURCE_DIR) + "/tests/fixtures/tokenizer/nfc_cases.txt");
  ASSERT_TRUE(in) << "missing tests/fixtures/tokenizer/nfc_cases.txt";
  int checked = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::u32string> col;
    std::stringstream fields(line);
    for (std::string f; std::getline(fields, f, ';');) {
      std::u32string s;
      std::stringstream hex(f);
      for (std::string h; hex >> h;) s += char32_t(std::stoul(h, nullptr, 16));
      col.push_back(s);
    }
    ASSERT_EQ(col.size(), 5u) << line;
    for (int i : {0, 1, 2}) EXPECT_EQ(unicode::nfc(std::u32string_view(col[i])), col[1]) << line << " column " << i + 1;
    for (int i : {3, 4}) EXPECT_EQ(unicode::nfc(std::u32string_view(col[i])), col[3]) << line << " column " << i + 1;
    EXPECT_EQ(unicode::nfc(std::string_view(u8(col[0]))), u8(col[1])) << line;
    ++checked;
  }
  EXPECT_GT(checked, 600);
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizer

std::vector<std::string> pieces(const SplitPretokenizer& p, std::string_view text) {
  std::u32string cps = unicode::to_utf32(text);
  std::vector<std::pair<uint32_t, uint32_t>> spans;
  p.split(cps, spans);
  std::vector<std::string> out;
  for (auto [b, e] : spans) out.push_back(u8(std::u32string_view(cps).substr(b, e - b)));
  return out;
}

using Pieces = std::vector<std::string>;

TEST(Pretokenize, LlamaPatternSubtleCases) {
  SplitPretokenizer p(kLlama3SplitRegex, "test");
  EXPECT_EQ(pieces(p, "Hello world"), (Pieces{"Hello", " world"}));
  // \s+(?!\S) leaves the last space to lead the next word; at the end of text it takes them all.
  EXPECT_EQ(pieces(p, "hello   world"), (Pieces{"hello", "  ", " world"}));
  EXPECT_EQ(pieces(p, "hello   "), (Pieces{"hello", "   "}));
  EXPECT_EQ(pieces(p, "a  !"), (Pieces{"a", " ", " !"}));
  EXPECT_EQ(pieces(p, " x"), (Pieces{" x"}));
  // \s*[\r\n]+ ends after the last newline of a run.
  EXPECT_EQ(pieces(p, "a\n\nb"), (Pieces{"a", "\n\n", "b"}));
  EXPECT_EQ(pieces(p, "a \n b"), (Pieces{"a", " \n", " b"}));
  EXPECT_EQ(pieces(p, "a\r\n\r\n  b"), (Pieces{"a", "\r\n\r\n", " ", " b"}));
  EXPECT_EQ(pieces(p, "x \n\t\n  "), (Pieces{"x", " \n\t\n", "  "}));
  // digits in groups of at most three, never joined to letters
  EXPECT_EQ(pieces(p, "12345678"), (Pieces{"123", "456", "78"}));
  EXPECT_EQ(pieces(p, "abc1234def"), (Pieces{"abc", "123", "4", "def"}));
  EXPECT_EQ(pieces(p, "$100"), (Pieces{"$", "100"}));
  EXPECT_EQ(pieces(p, "x ١٢٣٤"), (Pieces{"x", " ", "١٢٣", "٤"}));
  // contractions, case-insensitive, tried before everything else
  EXPECT_EQ(pieces(p, "DON'T"), (Pieces{"DON", "'T"}));
  EXPECT_EQ(pieces(p, "we'Ll"), (Pieces{"we", "'Ll"}));
  EXPECT_EQ(pieces(p, "they'VE'd"), (Pieces{"they", "'VE", "'d"}));
  EXPECT_EQ(pieces(p, "'sure"), (Pieces{"'s", "ure"}));
  EXPECT_EQ(pieces(p, "'x"), (Pieces{"'x"}));
  EXPECT_EQ(pieces(p, "''s"), (Pieces{"''", "s"}));  // "'" + "'" is punctuation before the contraction is tried
  EXPECT_EQ(pieces(p, "’s"), (Pieces{"’s"}));  // a curly apostrophe is no contraction
  // Oniguruma's case folding maps U+017F LONG S to s, so 'ſ is a contraction (unlike in the JS port).
  EXPECT_EQ(pieces(p, "'\u017ft"), (Pieces{"'\u017f", "t"}));
  // [^\r\n\p{L}\p{N}]?\p{L}+ takes one leading non-letter (space, tab, punctuation, mark)
  EXPECT_EQ(pieces(p, "\thello"), (Pieces{"\thello"}));
  EXPECT_EQ(pieces(p, "\u3000全角"), (Pieces{"\u3000全角"}));
  EXPECT_EQ(pieces(p, "(hello)"), (Pieces{"(hello", ")"}));
  EXPECT_EQ(pieces(p, "\nhello"), (Pieces{"\n", "hello"}));
  EXPECT_EQ(pieces(p, "e\u0301"), (Pieces{"e", "\u0301"}));
  EXPECT_EQ(pieces(p, "\u0301e"), (Pieces{"\u0301e"}));
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*' keeps trailing newlines with punctuation
  EXPECT_EQ(pieces(p, "!!!\n\n"), (Pieces{"!!!\n\n"}));
  EXPECT_EQ(pieces(p, " !!"), (Pieces{" !!"}));
  EXPECT_EQ(pieces(p, "  !!"), (Pieces{" ", " !!"}));
  EXPECT_EQ(pieces(p, "a.\n b"), (Pieces{"a", ".\n", " b"}));
  EXPECT_EQ(pieces(p, "👍🏽!"), (Pieces{"👍🏽!"}));
  // U+0085 is White_Space for Oniguruma's \s; U+FEFF is not.
  EXPECT_EQ(pieces(p, "x\u0085\u0085y"), (Pieces{"x", "\u0085", "\u0085y"}));
  EXPECT_EQ(pieces(p, "x\ufeff\ufeffy"), (Pieces{"x", "\ufeff\ufeff", "y"}));
  EXPECT_EQ(pieces(p, ""), (Pieces{}));
  EXPECT_EQ(pieces(p, " "), (Pieces{" "}));
}

TEST(Pretokenize, QwenPatternSplitsSingleDigits) {
  SplitPretokenizer q(kQwen2SplitRegex, "test");
  EXPECT_EQ(q.max_digits(), 1);
  EXPECT_EQ(pieces(q, "x 2024!"), (Pieces{"x", " ", "2", "0", "2", "4", "!"}));
  EXPECT_EQ(pieces(q, "hello   world"), (Pieces{"hello", "  ", " world"}));
}

TEST(Pretokenize, PiecesCoverRandomText) {
  SplitPretokenizer p(kLlama3SplitRegex, "test");
  const std::u32string pool = U"ab Z9 \n\r\t'sS.!é\u0301中😀\u00a0\u2028٣_-";
  std::mt19937 rng(11);
  for (int t = 0; t < 300; ++t) {
    std::u32string s;
    for (int k = int(rng() % 40); k > 0; --k) s += pool[rng() % pool.size()];
    std::vector<std::pair<uint32_t, uint32_t>> spans;
    p.split(s, spans);
    uint32_t at = 0;
    for (auto [b, e] : spans) {
      ASSERT_EQ(b, at);
      ASSERT_LT(b, e);
      at = e;
    }
    EXPECT_EQ(at, s.size());
  }
}

TEST(Pretokenize, RefusesOtherPatterns) {
  EXPECT_ERROR(SplitPretokenizer("\\s+|\\w+", "tok.json: pre_tokenizer"), "unsupported Split regex");
  EXPECT_ERROR(SplitPretokenizer("\\s+|\\w+", "tok.json: pre_tokenizer"), "tok.json: pre_tokenizer");
}

// ---------------------------------------------------------------------------------------------
// Byte-level BPE and added tokens on small hand-made tokenizer.json files

TEST(ByteLevel, MappingMatchesGpt2) {
  EXPECT_EQ(byte_level_encode(" "), "\u0120");   // Ġ
  EXPECT_EQ(byte_level_encode("\n"), "\u010a");  // Ċ
  EXPECT_EQ(byte_level_encode("a!~"), "a!~");
  EXPECT_EQ(byte_level_encode(std::string(1, '\0')), "\u0100");
  EXPECT_EQ(byte_level_encode("\xAD"), "\u0143");  // soft hyphen byte, the last remapped one
  EXPECT_EQ(byte_level_encode("\xC3\xA9"), "\u00c3\u00a9");
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  EXPECT_EQ(byte_level_decode(byte_level_encode(all)), all);
  EXPECT_EQ(byte_level_decode("\u0120hello"), " hello");
  EXPECT_FALSE(byte_level_decode("a b").has_value());  // a plain space is outside the mapping
}

// A small byte-level tokenizer.json: all 256 byte tokens (ids 0..255), extra tokens and merges.
json tiny_tokenizer(const std::vector<std::string>& merges, bool ignore_merges, const json& added = json::array(),
                    const json& normalizer = nullptr) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_encode(std::string(1, char(b)))] = b;
  int next = 256;
  for (const std::string& m : merges) {
    size_t sp = m.find(' ');
    std::string t = m.substr(0, sp) + m.substr(sp + 1);
    if (!vocab.contains(t)) vocab[t] = next++;
  }
  vocab["abc"] = next++;  // reachable only through ignore_merges
  json j = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", normalizer},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", kLlama3SplitRegex}}}, {"behavior", "Isolated"}, {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"ignore_merges", ignore_merges},
        {"vocab", vocab}, {"merges", merges}}},
  };
  return j;
}

int32_t id_of(const Tokenizer& t, const std::string& token) {
  auto id = t.token_to_id(token);
  EXPECT_TRUE(id.has_value()) << token;
  return id.value_or(-1);
}

TEST(Bpe, MergesByRankThenLeftmost) {
  Tokenizer t = Tokenizer::from_json(tiny_tokenizer({"b c", "a b", "a a", "aa a"}, false), "tiny");
  // "bc" outranks "ab", so abc -> a + bc.
  EXPECT_EQ(t.encode("abc"), (std::vector<int32_t>{'a', id_of(t, "bc")}));
  // Equal ranks merge leftmost first: aaaa -> aa aa, aaa -> aa a -> aaa.
  EXPECT_EQ(t.encode("aaaa"), (std::vector<int32_t>{id_of(t, "aa"), id_of(t, "aa")}));
  EXPECT_EQ(t.encode("aaa"), (std::vector<int32_t>{id_of(t, "aaa")}));
  EXPECT_EQ(t.encode("aaaaa"), (std::vector<int32_t>{id_of(t, "aa"), id_of(t, "aaa")}));
  // Every byte has a token, so arbitrary UTF-8 encodes and decodes back.
  std::string s = "x\xE2\x82\xAC y\n";
  EXPECT_EQ(t.decode(t.encode(s)), s);
  // Long words go through the heap merge without quadratic blow-up.
  std::string longword(20000, 'a');
  std::vector<int32_t> ids = t.encode(longword);
  EXPECT_EQ(t.decode(ids), longword);
  EXPECT_EQ(ids, std::vector<int32_t>(10000, id_of(t, "aa")));
}

TEST(Bpe, IgnoreMergesAndMergeForms) {
  Tokenizer plain = Tokenizer::from_json(tiny_tokenizer({"a b"}, false), "tiny");
  Tokenizer direct = Tokenizer::from_json(tiny_tokenizer({"a b"}, true), "tiny");
  EXPECT_EQ(plain.encode("abc"), (std::vector<int32_t>{id_of(plain, "ab"), 'c'}));
  EXPECT_EQ(direct.encode("abc"), (std::vector<int32_t>{id_of(direct, "abc")}));
  // The [["a", "b"]] merge form reads the same as "a b".
  json arr = tiny_tokenizer({"a b", "b c"}, false);
  arr["model"]["merges"] = json::array({json::array({"a", "b"}), json::array({"b", "c"})});
  Tokenizer from_arr = Tokenizer::from_json(arr, "tiny");
  Tokenizer from_str = Tokenizer::from_json(tiny_tokenizer({"a b", "b c"}, false), "tiny");
  for (const char* s : {"abc", "bcab", "cab"}) EXPECT_EQ(from_arr.encode(s), from_str.encode(s)) << s;
}

json added(const std::string& content, int id, bool special, json flags = json::object()) {
  json t = {{"id", id},           {"content", content}, {"single_word", false}, {"lstrip", false},
            {"rstrip", false},    {"normalized", false}, {"special", special}};
  for (auto& [k, v] : flags.items()) t[k] = v;
  return t;
}

TEST(AddedTokens, SplitLongestFirstWithFlags) {
  json list = json::array({added("<A>", 1000, true), added("<AB>", 1001, true), added("[L]", 1002, true, {{"lstrip", true}}),
                           added("[R]", 1003, true, {{"rstrip", true}}),
                           added("word", 1004, false, {{"single_word", true}}), added("<n>", 1005, false)});
  Tokenizer t = Tokenizer::from_json(tiny_tokenizer({}, false, list), "tiny");
  EXPECT_EQ(t.vocab_size(), 1006);
  using V = std::vector<int32_t>;
  EXPECT_EQ(t.encode("x<AB>y"), (V{'x', 1001, 'y'}));
  EXPECT_EQ(t.encode("<A><AB><A"), (V{1000, 1001, '<', 'A'}));
  // lstrip swallows the white space before the token, rstrip the white space after it.
  EXPECT_EQ(t.encode("a  [L] b"), (V{'a', 1002, ' ', 'b'}));
  EXPECT_EQ(t.encode("a [R]  b"), (V{'a', ' ', 1003, 'b'}));
  // single_word: only when not inside a word.
  EXPECT_EQ(t.encode("a word"), (V{'a', ' ', 1004}));
  EXPECT_EQ(t.encode("swordfish"), (V{'s', 'w', 'o', 'r', 'd', 'f', 'i', 's', 'h'}));
  EXPECT_EQ(t.encode("\u00e9word"), (V{0xC3, 0xA9, 'w', 'o', 'r', 'd'}));  // é is a word character
  EXPECT_EQ(t.encode("\u2014word"), (V{0xE2, 0x80, 0x94, 1004}));         // an em dash is not
  EXPECT_EQ(t.encode("x\u3000\u3000[L]"), (V{'x', 1002}));                 // lstrip takes any White_Space
  // parse_special = false leaves special tokens as text but still splits non-special added tokens.
  EXPECT_EQ(t.encode("<A><n>", false, false), (V{'<', 'A', '>', 1005}));
  EXPECT_TRUE(t.is_special(1000));
  EXPECT_FALSE(t.is_special(1005));
  EXPECT_FALSE(t.is_special('a'));
  // Decoding: special tokens can be skipped, non-special added tokens stay.
  EXPECT_EQ(t.decode({'x', 1001, 1005, 'y'}), "x<AB><n>y");
  EXPECT_EQ(t.decode({'x', 1001, 1005, 'y'}, true), "x<n>y");
  EXPECT_ERROR(t.decode({'x', 1006}), "id 1006 at position 1 is not in the vocabulary");
  EXPECT_ERROR(t.decode({-1}), "id -1");
  EXPECT_ERROR(t.decode({600}), "id 600");  // a hole between the model and the added tokens
}

TEST(AddedTokens, NormalizedTokensMatchAfterNfc) {
  // A normalized added token is matched against NFC text, a raw one against the input as given.
  json list = json::array({added("\u00f1", 2000, false, {{"normalized", true}}), added("n\u0303!", 2001, false)});
  Tokenizer t = Tokenizer::from_json(tiny_tokenizer({}, false, list, {{"type", "NFC"}}), "tiny");
  using V = std::vector<int32_t>;
  EXPECT_EQ(t.encode("n\u0303"), (V{2000}));
  EXPECT_EQ(t.encode("\u00f1"), (V{2000}));
  EXPECT_EQ(t.encode("n\u0303!"), (V{2001}));
  // NFC applies to the text between added tokens only.
  EXPECT_EQ(t.encode("e\u0301"), (V{0xC3, 0xA9}));
}

TEST(PostProcessor, TemplateProcessingAddsIds) {
  json j = tiny_tokenizer({}, false, json::array({added("<s>", 300, true), added("</s>", 301, true)}));
  j["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       {{{"type", "ByteLevel"}, {"trim_offsets", false}},
        {{"type", "TemplateProcessing"},
         {"single",
          {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
           {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
           {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}},
         {"special_tokens",
          {{"<s>", {{"id", "<s>"}, {"ids", {300}}, {"tokens", {"<s>"}}}},
           {"</s>", {{"id", "</s>"}, {"ids", {301}}, {"tokens", {"</s>"}}}}}}}}}};
  Tokenizer t = Tokenizer::from_json(j, "tiny");
  EXPECT_EQ(t.encode("hi", true), (std::vector<int32_t>{300, 'h', 'i', 301}));
  EXPECT_EQ(t.encode("hi", false), (std::vector<int32_t>{'h', 'i'}));
  EXPECT_EQ(t.encode("", true), (std::vector<int32_t>{300, 301}));
}

// ---------------------------------------------------------------------------------------------
// Malformed tokenizer.json

class Malformed : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("zebra_tok_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::string write(const std::string& name, const json& j) { return write(name, j.dump()); }
  fs::path dir_;
};

TEST_F(Malformed, NamesFileAndField) {
  json good = tiny_tokenizer({"a b"}, false);
  EXPECT_NO_THROW(Tokenizer::from_file(write("good.json", good)));
  EXPECT_ERROR(Tokenizer::from_file((dir_ / "absent.json").string()), "absent.json: cannot open");
  EXPECT_ERROR(Tokenizer::from_file(write("garbage.json", std::string("{\"model\": [1, 2"))), "garbage.json: not valid JSON");
  EXPECT_ERROR(Tokenizer::from_file(write("array.json", std::string("[1, 2]"))), "array.json: (top level)");

  auto expect_bad = [&](const std::string& name, auto edit, const std::string& msg) {
    json j = good;
    edit(j);
    std::string path = write(name, j);
    EXPECT_ERROR(Tokenizer::from_file(path), name + ": " + msg);
  };
  expect_bad("no_model.json", [](json& j) { j.erase("model"); }, "model: missing");
  expect_bad("no_vocab.json", [](json& j) { j["model"].erase("vocab"); }, "model.vocab: missing");
  expect_bad("no_merges.json", [](json& j) { j["model"].erase("merges"); }, "model.merges: missing");
  expect_bad("wordpiece.json", [](json& j) { j["model"]["type"] = "WordPiece"; }, "model.type: unsupported model \"WordPiece\"");
  expect_bad("unknown_merge.json", [](json& j) { j["model"]["merges"].push_back("a zz"); },
             "model.merges[1] (\"a\", \"zz\"): token \"zz\" is not in model.vocab");
  expect_bad("merge_result.json", [](json& j) { j["model"]["merges"].push_back("c d"); },
             "model.merges[1] (\"c\", \"d\"): token \"cd\" is not in model.vocab");
  expect_bad("merge_form.json", [](json& j) { j["model"]["merges"].push_back("abc"); },
             "model.merges[1]: \"abc\" is not two tokens");
  expect_bad("merge_type.json", [](json& j) { j["model"]["merges"].push_back(7); }, "model.merges[1]: expected");
  expect_bad("vocab_id.json", [](json& j) { j["model"]["vocab"]["a"] = -3; }, "model.vocab.a: expected a non-negative");
  expect_bad("dropout.json", [](json& j) { j["model"]["dropout"] = 0.1; }, "model.dropout: unsupported");
  expect_bad("normalizer.json", [](json& j) { j["normalizer"] = {{"type", "Lowercase"}}; },
             "normalizer.type: unsupported normalizer \"Lowercase\"");
  expect_bad("normalizer_seq.json",
             [](json& j) { j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFKC"}}}}}; },
             "normalizer.normalizers[0].type: unsupported normalizer \"NFKC\"");
  expect_bad("pretok.json", [](json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; },
             "pre_tokenizer.type: unsupported pre_tokenizer \"Whitespace\"");
  expect_bad("no_pretok.json", [](json& j) { j["pre_tokenizer"] = nullptr; }, "pre_tokenizer: missing");
  expect_bad("regex.json", [](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+"; },
             "pre_tokenizer.pretokenizers[0].pattern.Regex: unsupported Split regex \"\\w+\"");
  expect_bad("prefix.json", [](json& j) { j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true; },
             "pre_tokenizer.pretokenizers[1].add_prefix_space: unsupported");
  expect_bad("post.json", [](json& j) { j["post_processor"] = {{"type", "BertProcessing"}}; },
             "post_processor.type: unsupported post_processor \"BertProcessing\"");
  expect_bad("template.json",
             [](json& j) {
               j["post_processor"] = {{"type", "TemplateProcessing"},
                                      {"single", {{{"SpecialToken", {{"id", "<x>"}}}}, {{"Sequence", {{"id", "A"}}}}}},
                                      {"special_tokens", json::object()}};
             },
             "post_processor.single[0].SpecialToken.id: \"<x>\" is not in post_processor.special_tokens");
  expect_bad("decoder.json", [](json& j) { j["decoder"] = {{"type", "WordPiece"}}; },
             "decoder.type: unsupported decoder \"WordPiece\"");
  expect_bad("added.json", [](json& j) { j["added_tokens"] = 5; }, "added_tokens: expected an array");
  expect_bad("added_id.json", [](json& j) { j["added_tokens"] = json::array({{{"content", "<x>"}}}); },
             "added_tokens[0].id: missing");
}

// ---------------------------------------------------------------------------------------------
// Chat formats

TEST(Chat, ExactStrings) {
  std::vector<ChatMessage> msgs = {{"system", "  Be brief.\n"}, {"user", "Hi!"}, {"assistant", "Hello."}};
  EXPECT_EQ(format_chat(ChatFormat::Llama3, msgs, false),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>");
  EXPECT_EQ(format_chat(ChatFormat::Llama3, {{"user", "Q"}}, true),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(format_chat(ChatFormat::ChatML, msgs, false),
            "<|im_start|>system\n  Be brief.\n<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n");
  EXPECT_EQ(format_chat(ChatFormat::ChatML, {{"user", "Q"}}, true), "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(format_chat(ChatFormat::ChatML, {}, false), "");
  Tokenizer tiny = Tokenizer::from_json(tiny_tokenizer({}, false), "tiny");
  EXPECT_ERROR(tiny.chat_format(), "tiny: no chat format fits");
}

// ---------------------------------------------------------------------------------------------
// CLI helpers (`zebra encode` prints format_ids, `zebra decode` reads parse_ids)

TEST(Cli, IdTextFormat) {
  EXPECT_EQ(format_ids({}), "");
  EXPECT_EQ(format_ids({9906, 1917}), "9906 1917");
  EXPECT_EQ(parse_ids(" 9906\t1917\n\n 0 "), (std::vector<int32_t>{9906, 1917, 0}));
  EXPECT_EQ(parse_ids(""), (std::vector<int32_t>{}));
  EXPECT_EQ(parse_ids("2147483647"), (std::vector<int32_t>{2147483647}));
  EXPECT_ERROR(parse_ids("12 x3 4"), "\"x3\" at byte 3 is not a token id");
  EXPECT_ERROR(parse_ids("-1"), "\"-1\" at byte 0");
  EXPECT_ERROR(parse_ids("2147483648"), "is not a token id");
  EXPECT_ERROR(parse_ids("99999999999999999999"), "is not a token id");
}

// ---------------------------------------------------------------------------------------------
// The real Llama-3 and Qwen3 files

std::string tokenizers_dir() {
  const char* env = std::getenv("ZEBRA_TOKENIZERS_DIR");
  return env && *env ? env : std::string(ZEBRA_SOURCE_DIR) + "/data/tokenizers";
}

// Loaded once per family; null when the files are absent.
const Tokenizer* real(const std::string& family) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(family);
  if (it != cache.end()) return it->second.get();
  std::string path = tokenizers_dir() + "/" + family + "/tokenizer.json";
  std::unique_ptr<Tokenizer> t;
  if (fs::exists(path)) t = std::make_unique<Tokenizer>(Tokenizer::from_file(path));
  return (cache[family] = std::move(t)).get();
}

#define REQUIRE_REAL(var, family)                                                                          \
  const Tokenizer* var = real(family);                                                                     \
  if (!var) {                                                                                              \
    const char* req = std::getenv("ZEBRA_REQUIRE_TOKENIZERS");                                             \
    if (req && std::string(req) == "1") FAIL() << "missing " << tokenizers_dir() << "/" << family;         \
    GTEST_SKIP() << "no " << family << " tokenizer in " << tokenizers_dir()                                \
                 << "; fetch it with tools/fetch_tokenizers.sh (or set ZEBRA_TOKENIZERS_DIR)";            \
  }

json fixture(const std::string& family) {
  return json::parse(read_file(std::string(ZEBRA_SOURCE_DIR) + "/tests/fixtures/tokenizer/" + family + ".json"));
}

std::vector<int32_t> ids_of(const json& a) { return a.get<std::vector<int32_t>>(); }

class RealTokenizer : public ::testing::TestWithParam<std::string> {};

TEST_P(RealTokenizer, MatchesReferenceIds) {
  REQUIRE_REAL(t, GetParam());
  json fx = fixture(GetParam());
  ASSERT_GT(fx["cases"].size(), 300u);
  int mismatches = 0;
  for (const json& c : fx["cases"]) {
    std::string text = c["text"];
    EXPECT_EQ(t->encode(text, false), ids_of(c["ids"])) << "text " << json(text).dump();
    EXPECT_EQ(t->encode(text, true), ids_of(c["ids_special"])) << "text " << json(text).dump() << " (add_special)";
    mismatches += t->encode(text, false) != ids_of(c["ids"]);
  }
  EXPECT_EQ(mismatches, 0);
}

TEST_P(RealTokenizer, DecodeInvertsEncode) {
  REQUIRE_REAL(t, GetParam());
  const bool nfc = GetParam() == "qwen3";  // Qwen normalizes to NFC, so only NFC text comes back verbatim
  const json fx = fixture(GetParam());
  for (const json& c : fx["cases"]) {
    std::string text = c["text"];
    std::string want = nfc ? unicode::nfc(std::string_view(text)) : text;
    EXPECT_EQ(t->decode(t->encode(text)), want) << json(text).dump();
    EXPECT_EQ(t->decode(ids_of(c["ids"])), want) << json(text).dump();
  }
  // Random UTF-8 of every length class, including code points no vocabulary knows.
  std::mt19937 rng(GetParam().size());
  for (int n = 0; n < 200; ++n) {
    std::u32string s;
    for (int k = int(rng() % 60); k > 0; --k) {
      uint32_t kind = rng() % 4, c;
      if (kind == 0) c = rng() % 0x80;
      else if (kind == 1) c = 0x80 + rng() % 0x780;
      else if (kind == 2) c = 0x800 + rng() % 0xF800;
      else c = 0x10000 + rng() % 0x100000;
      if (c >= 0xD800 && c < 0xE000) c = 'x';
      s += char32_t(c);
    }
    std::string text = u8(s);
    std::string want = nfc ? unicode::nfc(std::string_view(text)) : text;
    ASSERT_EQ(t->decode(t->encode(text)), want) << json(text).dump();
  }
}

TEST_P(RealTokenizer, BatchEqualsSingle) {
  REQUIRE_REAL(t, GetParam());
  const json fx = fixture(GetParam());
  std::vector<std::string> texts;
  for (const json& c : fx["cases"]) texts.push_back(c["text"]);
  std::vector<std::vector<int32_t>> batch = t->encode_batch(texts, true);
  ASSERT_EQ(batch.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(batch[i], t->encode(texts[i], true)) << i;
  // Copies share the model and its cache; concurrent use must give the same ids.
  Tokenizer copy = *t;
  std::vector<std::vector<int32_t>> other(texts.size());
  std::thread worker([&] {
    for (size_t i = texts.size(); i-- > 0;) other[i] = copy.encode(texts[i], true);
  });
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(t->encode(texts[i], true), batch[i]);
  worker.join();
  EXPECT_EQ(other, batch);
}

TEST_P(RealTokenizer, RejectsInvalidUtf8AndBadIds) {
  REQUIRE_REAL(t, GetParam());
  EXPECT_ERROR(t->encode("ok\xC3("), "encode: invalid UTF-8 at byte 2");
  EXPECT_ERROR(t->decode({1, t->vocab_size()}), str("id ", t->vocab_size(), " at position 1"));
  EXPECT_ERROR(t->decode({-5}), "id -5");
  EXPECT_ERROR(t->id_to_token(-1), "id_to_token: id -1");
}

INSTANTIATE_TEST_SUITE_P(Families, RealTokenizer, ::testing::Values("llama3", "qwen3"));

TEST(Llama3, SpecialTokensChatAndTemplate) {
  REQUIRE_REAL(t, "llama3");
  EXPECT_EQ(t->vocab_size(), 128256);
  EXPECT_EQ(id_of(*t, "<|begin_of_text|>"), 128000);
  EXPECT_EQ(id_of(*t, "<|eot_id|>"), 128009);
  EXPECT_TRUE(t->is_special(128009));
  EXPECT_FALSE(t->is_special(9906));
  EXPECT_EQ(t->id_to_token(1917), "\u0120world");
  EXPECT_EQ(t->encode("Hello world"), (std::vector<int32_t>{9906, 1917}));
  // This copy of the file has a ByteLevel post-processor: add_special adds nothing.
  EXPECT_EQ(t->encode("Hello world", true), (std::vector<int32_t>{9906, 1917}));
  EXPECT_EQ(t->decode({128000, 9906, 1917, 128009}), "<|begin_of_text|>Hello world<|eot_id|>");
  EXPECT_EQ(t->decode({128000, 9906, 1917, 128009}, true), "Hello world");
  // A token holding the first byte of a 4-byte character: raw bytes, or U+FFFD once decoded as text.
  int32_t f0 = id_of(*t, byte_level_encode("\xF0"));
  EXPECT_EQ(t->decode_bytes({f0}), "\xF0");
  EXPECT_EQ(t->decode({f0}), "\uFFFD");
  std::vector<int32_t> bytes = {f0};
  for (const char* b : {"\x9F", "\x98", "\x80"}) bytes.push_back(id_of(*t, byte_level_encode(b)));
  EXPECT_EQ(t->decode(bytes), "😀");

  EXPECT_EQ(t->chat_format(), ChatFormat::Llama3);
  std::string prompt = t->format_chat({{"user", "Hi"}}, true);
  EXPECT_EQ(t->encode(prompt),
            (std::vector<int32_t>{128000, 128006, id_of(*t, "user"), 128007, id_of(*t, "\u010a\u010a"), id_of(*t, "Hi"),
                                  128009, 128006, id_of(*t, "assistant"), 128007, id_of(*t, "\u010a\u010a")}));

  // With the TemplateProcessing post-processor of newer revisions of the file, <|begin_of_text|> is added.
  json fx = fixture("llama3");
  json j = json::parse(read_file(tokenizers_dir() + "/llama3/tokenizer.json"));
  j["post_processor"] = fx["template_post_processor"];
  Tokenizer templ = Tokenizer::from_json(j, "llama3 with TemplateProcessing");
  for (const json& c : fx["cases"]) {
    std::string text = c["text"];
    EXPECT_EQ(templ.encode(text, true), ids_of(c["ids_template"])) << json(text).dump();
  }
  EXPECT_EQ(templ.encode("Hello world", true), (std::vector<int32_t>{128000, 9906, 1917}));
}

TEST(Qwen3, SpecialTokensChatAndNfc) {
  REQUIRE_REAL(t, "qwen3");
  EXPECT_EQ(t->vocab_size(), 151669);
  EXPECT_EQ(id_of(*t, "<|im_start|>"), 151644);
  EXPECT_EQ(id_of(*t, "<|im_end|>"), 151645);
  EXPECT_TRUE(t->is_special(151645));
  EXPECT_FALSE(t->is_special(id_of(*t, "<think>")));  // an added token that is not special
  EXPECT_EQ(t->encode("Hello world", true), (std::vector<int32_t>{9707, 1879}));
  EXPECT_EQ(t->encode("cafe\u0301"), t->encode("caf\u00e9"));
  EXPECT_EQ(t->decode({151644, 9707, 151667, 151645}, true), "Hello<think>");
  EXPECT_EQ(t->chat_format(), ChatFormat::ChatML);
  std::string prompt = t->format_chat({{"system", "S"}, {"user", "Hi"}}, true);
  EXPECT_EQ(prompt, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  std::vector<int32_t> ids = t->encode(prompt);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 151644), 3);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 151645), 2);
  EXPECT_EQ(t->decode(ids), prompt);
  // parse_special = false: the text of special tokens is encoded like any text.
  std::vector<int32_t> plain = t->encode("<|im_start|>", false, false);
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(t->decode(plain), "<|im_start|>");
}

}  // namespace
}  // namespace zebra
