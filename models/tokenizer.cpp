// Tokenizer: reading tokenizer.json, the encode pipeline (added tokens -> normalizer -> pre-tokenizer
// -> BPE -> post-processor) and decoding, mirroring HF tokenizers' TokenizerImpl::encode/decode.
#include "models/tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/threadpool.h"
#include "models/pretokenize.h"
#include "models/tokenizer_bpe.h"
#include "models/unicode.h"

namespace zebra {

namespace {

using json = nlohmann::json;

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false, lstrip = false, rstrip = false, normalized = false, single_word = false;
};

// Leftmost-longest matching of a set of strings (HF builds an Aho-Corasick automaton with
// MatchKind::LeftmostLongest; with a few hundred short tokens a first-byte bucket scan is as good).
class TokenMatcher {
 public:
  void add(std::string pattern, int token) {
    if (pattern.empty()) return;
    auto& bucket = by_first_byte_[static_cast<unsigned char>(pattern[0])];
    bucket.push_back({std::move(pattern), token});
    std::stable_sort(bucket.begin(), bucket.end(),
                     [](const Entry& a, const Entry& b) { return a.pattern.size() > b.pattern.size(); });
  }
  bool empty() const {
    return std::all_of(by_first_byte_.begin(), by_first_byte_.end(), [](const auto& b) { return b.empty(); });
  }
  // The leftmost match at or after `from`, longest there: {start, length, token}, or token -1.
  std::array<int64_t, 3> find(std::string_view s, size_t from) const {
    for (size_t i = from; i < s.size(); ++i) {
      const auto& bucket = by_first_byte_[static_cast<unsigned char>(s[i])];
      for (const Entry& e : bucket)
        if (s.compare(i, e.pattern.size(), e.pattern) == 0) return {int64_t(i), int64_t(e.pattern.size()), e.token};
    }
    return {int64_t(s.size()), 0, -1};
  }

 private:
  struct Entry {
    std::string pattern;
    int token;
  };
  std::array<std::vector<Entry>, 256> by_first_byte_;
};

// A piece of the input: a span of text to tokenize further, or an added token already resolved.
struct Piece {
  size_t begin, end;
  int32_t id;  // -1 for text
};

// Stepping through valid UTF-8 by code point, around byte offset i (a code point boundary).
size_t next_boundary(std::string_view s, size_t i) {
  do ++i;
  while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80);
  return i;
}
size_t previous_boundary(std::string_view s, size_t i) {
  do --i;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80);
  return i;
}
char32_t code_point_at(std::string_view s, size_t i) {
  return unicode::to_utf32(s.substr(i, next_boundary(s, i) - i))[0];
}
char32_t code_point_before(std::string_view s, size_t i) { return code_point_at(s, previous_boundary(s, i)); }

bool is_python_space(char32_t c) {  // str.isspace(), what Jinja's trim strips
  return unicode::is_white_space(c) || (c >= 0x1C && c <= 0x1F);
}

std::string python_strip(std::string_view s) {
  std::u32string cps = unicode::to_utf32(s, "format_chat");
  size_t b = 0, e = cps.size();
  while (b < e && is_python_space(cps[b])) ++b;
  while (e > b && is_python_space(cps[e - 1])) --e;
  return unicode::to_utf8(std::u32string_view(cps).substr(b, e - b));
}

}  // namespace

struct Tokenizer::Impl {
  std::string source;
  bool nfc = false;
  std::optional<SplitPretokenizer> split;
  std::optional<BpeModel> model;
  std::vector<AddedToken> added;
  TokenMatcher raw_matcher, normalized_matcher;  // tokens with normalized false / true
  std::vector<std::vector<std::vector<int32_t>>> templates;  // per TemplateProcessing: ids before/after A
  std::vector<std::string> id_token;             // the token string as in the file, per id
  std::vector<std::string> id_bytes;             // what the ByteLevel decoder turns it into
  std::vector<uint8_t> id_kind;                  // 0 unassigned, 1 model, 2 added, 3 added special
  std::unordered_map<std::string, int32_t> token_id;

  // HF AddedVocabulary::find_matches: split `s` around added tokens, honouring their flags.
  void split_added(std::string_view s, const TokenMatcher& matcher, bool parse_special, std::vector<Piece>& out) const;
  void encode_text(std::string_view text, std::vector<int32_t>& ids) const;
};

void Tokenizer::Impl::split_added(std::string_view s, const TokenMatcher& matcher, bool parse_special,
                                  std::vector<Piece>& out) const {
  size_t start_offset = 0;
  for (size_t from = 0; from < s.size();) {
    auto [mstart, mlen, index] = matcher.find(s, from);
    if (index < 0) break;
    // Like HF's Aho-Corasick iteration, the next search starts after the match even when the match
    // is then discarded or stretched by rstrip.
    from = size_t(mstart + mlen);
    const AddedToken& tok = added[size_t(index)];
    if (!parse_special && tok.special) continue;
    size_t start = size_t(mstart), stop = size_t(mstart + mlen);
    if (tok.single_word) {
      bool start_space = start == 0 || !unicode::is_word_char(code_point_before(s, start));
      bool stop_space = stop == s.size() || !unicode::is_word_char(code_point_at(s, stop));
      if (!start_space || !stop_space) continue;
    }
    if (tok.lstrip) {
      size_t b = start;
      while (b > 0 && unicode::is_white_space(code_point_before(s, b))) b = previous_boundary(s, b);
      start = std::max(b, start_offset);
    }
    if (tok.rstrip)
      while (stop < s.size() && unicode::is_white_space(code_point_at(s, stop))) stop = next_boundary(s, stop);
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, tok.id});
    start_offset = stop;
  }
  if (start_offset < s.size()) out.push_back({start_offset, s.size(), -1});
}

void Tokenizer::Impl::encode_text(std::string_view text, std::vector<int32_t>& ids) const {
  if (text.empty()) return;
  // Code points with their byte offsets, so pre-tokens go to the model as slices of `text`.
  std::u32string cps = unicode::to_utf32(text, "encode");
  std::vector<uint32_t> byte_at(cps.size() + 1);
  for (size_t i = 0, b = 0; i < cps.size(); ++i) {
    byte_at[i] = uint32_t(b);
    char32_t c = cps[i];
    b += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  byte_at[cps.size()] = uint32_t(text.size());
  std::vector<std::pair<uint32_t, uint32_t>> pieces;
  split->split(cps, pieces);
  for (auto [b, e] : pieces) model->encode(text.substr(byte_at[b], byte_at[e] - byte_at[b]), ids);
}

// --- loading ----------------------------------------------------------------------------------

namespace {

class Reader {
 public:
  explicit Reader(const std::string& source) : source_(source) {}
  [[noreturn]] void bad(const std::string& field, const std::string& problem) const {
    fail("tokenizer ", source_, ": ", field, ": ", problem);
  }
  const json& get(const json& obj, const std::string& key, const std::string& field) const {
    if (!obj.is_object() || !obj.contains(key)) bad(field, "missing");
    return obj.at(key);
  }
  std::string string(const json& obj, const std::string& key, const std::string& field) const {
    const json& v = get(obj, key, field);
    if (!v.is_string()) bad(field, "expected a string");
    return v.get<std::string>();
  }
  bool flag(const json& obj, const std::string& key, const std::string& field, bool fallback) const {
    if (!obj.contains(key) || obj.at(key).is_null()) return fallback;
    if (!obj.at(key).is_boolean()) bad(field, "expected true or false");
    return obj.at(key).get<bool>();
  }
  int32_t id(const json& v, const std::string& field) const {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
      bad(field, "expected a non-negative 32-bit integer id");
    return int32_t(v.get<int64_t>());
  }
  std::string type(const json& obj, const std::string& field) const {
    if (!obj.is_object()) bad(field, "expected an object");
    return string(obj, "type", field + ".type");
  }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

void read_normalizer(const Reader& r, const json& n, const std::string& field, bool& nfc) {
  if (n.is_null()) return;
  std::string type = r.type(n, field);
  if (type == "NFC") {
    nfc = true;
  } else if (type == "Sequence") {
    const json& list = r.get(n, "normalizers", field + ".normalizers");
    if (!list.is_array()) r.bad(field + ".normalizers", "expected an array");
    for (size_t i = 0; i < list.size(); ++i) read_normalizer(r, list[i], str(field, ".normalizers[", i, "]"), nfc);
  } else {
    r.bad(field + ".type", "unsupported normalizer \"" + type + "\" (zebra supports null, NFC and Sequence)");
  }
}

SplitPretokenizer read_pre_tokenizer(const Reader& r, const json& p) {
  const std::string field = "pre_tokenizer";
  if (p.is_null()) r.bad(field, "missing (zebra needs the Split + ByteLevel sequence of Llama-3 / Qwen)");
  std::string type = r.type(p, field);
  if (type != "Sequence") r.bad(field + ".type", "unsupported pre_tokenizer \"" + type + "\" (expected Sequence)");
  const json& list = r.get(p, "pretokenizers", field + ".pretokenizers");
  if (!list.is_array() || list.size() != 2)
    r.bad(field + ".pretokenizers", "expected [Split, ByteLevel] (zebra supports only that sequence)");
  const json& split = list[0];
  std::string f0 = field + ".pretokenizers[0]", f1 = field + ".pretokenizers[1]";
  if (std::string t = r.type(split, f0); t != "Split") r.bad(f0 + ".type", "unsupported \"" + t + "\" (expected Split)");
  const json& pattern = r.get(split, "pattern", f0 + ".pattern");
  if (!pattern.is_object() || !pattern.contains("Regex")) r.bad(f0 + ".pattern", "expected {\"Regex\": ...}");
  std::string regex = r.string(pattern, "Regex", f0 + ".pattern.Regex");
  if (r.string(split, "behavior", f0 + ".behavior") != "Isolated")
    r.bad(f0 + ".behavior", "unsupported (expected Isolated)");
  if (r.flag(split, "invert", f0 + ".invert", false)) r.bad(f0 + ".invert", "unsupported (expected false)");
  const json& bl = list[1];
  if (std::string t = r.type(bl, f1); t != "ByteLevel")
    r.bad(f1 + ".type", "unsupported \"" + t + "\" (expected ByteLevel)");
  if (r.flag(bl, "add_prefix_space", f1 + ".add_prefix_space", true))
    r.bad(f1 + ".add_prefix_space", "unsupported (expected false)");
  if (r.flag(bl, "use_regex", f1 + ".use_regex", true)) r.bad(f1 + ".use_regex", "unsupported (expected false)");
  return SplitPretokenizer(regex, "tokenizer " + r.source() + ": " + f0 + ".pattern.Regex");
}

// TemplateProcessing's "single" template as the ids before and after the sequence A.
std::vector<std::vector<int32_t>> read_template(const Reader& r, const json& p, const std::string& field) {
  const json& single = r.get(p, "single", field + ".single");
  const json& specials = r.get(p, "special_tokens", field + ".special_tokens");
  if (!single.is_array()) r.bad(field + ".single", "expected an array");
  std::vector<std::vector<int32_t>> parts(2);
  bool seen_a = false;
  for (size_t i = 0; i < single.size(); ++i) {
    std::string f = str(field, ".single[", i, "]");
    const json& piece = single[i];
    if (piece.is_object() && piece.contains("Sequence")) {
      if (r.string(piece.at("Sequence"), "id", f + ".Sequence.id") != "A" || seen_a)
        r.bad(f + ".Sequence.id", "a single template holds sequence A exactly once");
      seen_a = true;
    } else if (piece.is_object() && piece.contains("SpecialToken")) {
      std::string name = r.string(piece.at("SpecialToken"), "id", f + ".SpecialToken.id");
      if (!specials.is_object() || !specials.contains(name))
        r.bad(f + ".SpecialToken.id", "\"" + name + "\" is not in " + field + ".special_tokens");
      const json& ids = r.get(specials.at(name), "ids", field + ".special_tokens." + name + ".ids");
      if (!ids.is_array()) r.bad(field + ".special_tokens." + name + ".ids", "expected an array");
      for (const json& id : ids) parts[seen_a].push_back(r.id(id, field + ".special_tokens." + name + ".ids"));
    } else {
      r.bad(f, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  if (!seen_a) r.bad(field + ".single", "no sequence A");
  return parts;
}

void read_post_processor(const Reader& r, const json& p, const std::string& field,
                         std::vector<std::vector<std::vector<int32_t>>>& templates) {
  if (p.is_null()) return;
  std::string type = r.type(p, field);
  if (type == "ByteLevel") return;  // only adjusts offsets
  if (type == "TemplateProcessing") {
    templates.push_back(read_template(r, p, field));
  } else if (type == "Sequence") {
    const json& list = r.get(p, "processors", field + ".processors");
    if (!list.is_array()) r.bad(field + ".processors", "expected an array");
    for (size_t i = 0; i < list.size(); ++i)
      read_post_processor(r, list[i], str(field, ".processors[", i, "]"), templates);
  } else {
    r.bad(field + ".type", "unsupported post_processor \"" + type +
                               "\" (zebra supports ByteLevel, TemplateProcessing and Sequence)");
  }
}

void check_decoder(const Reader& r, const json& d, const std::string& field) {
  if (d.is_null()) r.bad(field, "missing (zebra needs the ByteLevel decoder)");
  std::string type = r.type(d, field);
  if (type == "ByteLevel") return;
  if (type != "Sequence") r.bad(field + ".type", "unsupported decoder \"" + type + "\" (expected ByteLevel)");
  const json& list = r.get(d, "decoders", field + ".decoders");
  if (!list.is_array() || list.empty()) r.bad(field + ".decoders", "expected a non-empty array");
  for (size_t i = 0; i < list.size(); ++i) check_decoder(r, list[i], str(field, ".decoders[", i, "]"));
}

struct ModelSpec {
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  BpeModel::Options options;
};

ModelSpec read_model(const Reader& r, const json& m) {
  ModelSpec spec;
  auto& vocab = spec.vocab;
  auto& merges = spec.merges;
  auto& opt = spec.options;
  if (std::string t = r.type(m, "model"); t != "BPE")
    r.bad("model.type", "unsupported model \"" + t + "\" (zebra supports BPE)");
  const json& v = r.get(m, "vocab", "model.vocab");
  if (!v.is_object() || v.empty()) r.bad("model.vocab", "expected a non-empty object of token -> id");
  vocab.reserve(v.size());
  for (auto it = v.begin(); it != v.end(); ++it) vocab.emplace_back(it.key(), r.id(it.value(), "model.vocab." + it.key()));

  const json& ms = r.get(m, "merges", "model.merges");
  if (!ms.is_array()) r.bad("model.merges", "expected an array");
  merges.reserve(ms.size());
  for (size_t i = 0; i < ms.size(); ++i) {
    const json& e = ms[i];
    std::string f = str("model.merges[", i, "]");
    if (e.is_string()) {  // "a b"
      const std::string& s = e.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        r.bad(f, "\"" + s + "\" is not two tokens separated by one space");
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {  // ["a", "b"]
      merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    } else {
      r.bad(f, "expected \"a b\" or [\"a\", \"b\"]");
    }
  }

  opt.ignore_merges = r.flag(m, "ignore_merges", "model.ignore_merges", false);
  opt.fuse_unk = r.flag(m, "fuse_unk", "model.fuse_unk", false);
  if (r.flag(m, "byte_fallback", "model.byte_fallback", false)) r.bad("model.byte_fallback", "unsupported (true)");
  if (m.contains("dropout") && !m.at("dropout").is_null() &&
      !(m.at("dropout").is_number() && m.at("dropout").get<double>() == 0.0))
    r.bad("model.dropout", "unsupported (zebra encodes deterministically; expected null)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (m.contains(key) && !m.at(key).is_null() && m.at(key) != "")
      r.bad(std::string("model.") + key, "unsupported (expected null or \"\")");
  if (m.contains("unk_token") && !m.at("unk_token").is_null()) {
    std::string unk = r.string(m, "unk_token", "model.unk_token");
    auto it = std::find_if(vocab.begin(), vocab.end(), [&](const auto& p) { return p.first == unk; });
    if (it == vocab.end()) r.bad("model.unk_token", "\"" + unk + "\" is not in model.vocab");
    opt.unk_id = it->second;
  }
  return spec;
}

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ZCHECK(in, "tokenizer ", path, ": cannot open file (fetch Llama-3/Qwen3 files with tools/fetch_tokenizers.sh)");
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  ZCHECK(!j.is_discarded(), "tokenizer ", path, ": not valid JSON");
  return from_json(j, path);
}

Tokenizer Tokenizer::from_json(const json& j, const std::string& source) {
  Reader r(source);
  if (!j.is_object()) r.bad("(top level)", "expected a JSON object");
  auto impl = std::make_shared<Impl>();
  impl->source = source;

  ModelSpec spec = read_model(r, r.get(j, "model", "model"));
  const auto& vocab = spec.vocab;
  impl->model.emplace(spec.vocab, spec.merges, spec.options, "tokenizer " + source);
  read_normalizer(r, j.value("normalizer", json()), "normalizer", impl->nfc);
  impl->split.emplace(read_pre_tokenizer(r, j.value("pre_tokenizer", json())));
  read_post_processor(r, j.value("post_processor", json()), "post_processor", impl->templates);
  check_decoder(r, j.value("decoder", json()), "decoder");

  if (j.contains("added_tokens") && !j.at("added_tokens").is_null()) {
    const json& list = j.at("added_tokens");
    if (!list.is_array()) r.bad("added_tokens", "expected an array");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string f = str("added_tokens[", i, "]");
      AddedToken t;
      t.id = r.id(r.get(list[i], "id", f + ".id"), f + ".id");
      t.content = r.string(list[i], "content", f + ".content");
      if (t.content.empty()) continue;  // HF ignores empty added tokens
      if (unicode::find_invalid_utf8(t.content) != unicode::npos) r.bad(f + ".content", "invalid UTF-8");
      t.special = r.flag(list[i], "special", f + ".special", false);
      t.lstrip = r.flag(list[i], "lstrip", f + ".lstrip", false);
      t.rstrip = r.flag(list[i], "rstrip", f + ".rstrip", false);
      t.single_word = r.flag(list[i], "single_word", f + ".single_word", false);
      t.normalized = r.flag(list[i], "normalized", f + ".normalized", !t.special);
      impl->added.push_back(t);
    }
  }
  for (size_t i = 0; i < impl->added.size(); ++i) {
    const AddedToken& t = impl->added[i];
    if (t.normalized)
      impl->normalized_matcher.add(impl->nfc ? unicode::nfc(std::string_view(t.content)) : t.content, int(i));
    else
      impl->raw_matcher.add(t.content, int(i));
  }

  // Id tables: added tokens take precedence over the model's entry for the same id, as in HF.
  int32_t size = 0;
  for (const auto& [text, id] : vocab) size = std::max(size, id + 1);
  for (const AddedToken& t : impl->added) size = std::max(size, t.id + 1);
  impl->id_token.resize(size_t(size));
  impl->id_kind.assign(size_t(size), 0);
  for (const auto& [text, id] : vocab) {
    impl->id_token[id] = text;
    impl->id_kind[id] = 1;
  }
  for (const AddedToken& t : impl->added) {
    impl->id_token[t.id] = t.content;
    impl->id_kind[t.id] = t.special ? 3 : 2;
  }
  impl->id_bytes.resize(size_t(size));
  for (int32_t id = 0; id < size; ++id) {
    // ByteLevel decoder: a token whose characters all lie in the byte mapping becomes those bytes,
    // any other token (e.g. one with a plain space) stays as its UTF-8 text.
    auto bytes = byte_level_decode(impl->id_token[id]);
    impl->id_bytes[id] = bytes ? *bytes : impl->id_token[id];
  }
  impl->token_id.reserve(vocab.size() + impl->added.size());
  for (const auto& [text, id] : vocab) impl->token_id[text] = id;
  for (const AddedToken& t : impl->added) impl->token_id[t.content] = t.id;
  return Tokenizer(std::move(impl));
}

// --- encode / decode --------------------------------------------------------------------------

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& im = *impl_;
  unicode::check_utf8(text, "encode");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<Piece> raw;
  im.split_added(text, im.raw_matcher, parse_special, raw);
  std::vector<Piece> pieces;
  std::string normalized;
  for (const Piece& p : raw) {
    if (p.id >= 0) {
      ids.push_back(p.id);
      continue;
    }
    std::string_view s = text.substr(p.begin, p.end - p.begin);
    if (im.nfc) {
      normalized = unicode::nfc(s);
      s = normalized;
    }
    if (im.normalized_matcher.empty()) {
      im.encode_text(s, ids);
      continue;
    }
    pieces.clear();
    im.split_added(s, im.normalized_matcher, parse_special, pieces);
    for (const Piece& q : pieces) {
      if (q.id >= 0)
        ids.push_back(q.id);
      else
        im.encode_text(s.substr(q.begin, q.end - q.begin), ids);
    }
  }
  if (add_special) {
    for (const auto& parts : im.templates) {
      std::vector<int32_t> out = parts[0];
      out.insert(out.end(), ids.begin(), ids.end());
      out.insert(out.end(), parts[1].begin(), parts[1].end());
      ids = std::move(out);
    }
  }
  return ids;
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                          bool add_special) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  parallel_for(0, int64_t(texts.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[size_t(i)] = encode(texts[size_t(i)], add_special);
  });
  return out;
}

std::string Tokenizer::decode_bytes(const std::vector<int32_t>& ids, bool skip_special) const {
  const Impl& im = *impl_;
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    int32_t id = ids[i];
    ZCHECK(id >= 0 && id < vocab_size() && im.id_kind[id] != 0, "decode: id ", id, " at position ", i,
           " is not in the vocabulary of ", im.source, " (size ", vocab_size(), ")");
    if (skip_special && im.id_kind[id] == 3) continue;
    out += im.id_bytes[id];
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  return unicode::utf8_lossy(decode_bytes(ids, skip_special));
}

int32_t Tokenizer::vocab_size() const { return int32_t(impl_->id_token.size()); }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  auto it = impl_->token_id.find(std::string(token));
  if (it == impl_->token_id.end()) return std::nullopt;
  return it->second;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  ZCHECK(id >= 0 && id < vocab_size() && impl_->id_kind[id] != 0, "id_to_token: id ", id,
         " is not in the vocabulary of ", impl_->source);
  return impl_->id_token[id];
}

bool Tokenizer::is_special(int32_t id) const { return id >= 0 && id < vocab_size() && impl_->id_kind[id] == 3; }

const std::string& Tokenizer::source() const { return impl_->source; }

std::string format_ids(const std::vector<int32_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ' ';
    out += std::to_string(ids[i]);
  }
  return out;
}

std::vector<int32_t> parse_ids(std::string_view text) {
  std::vector<int32_t> ids;
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  for (size_t i = 0; i < text.size();) {
    if (space(text[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && !space(text[j])) ++j;
    std::string_view word = text.substr(i, j - i);
    int64_t v = 0;
    bool ok = word.size() <= 10 && std::all_of(word.begin(), word.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (ok)
      for (char c : word) v = v * 10 + (c - '0');
    ZCHECK(ok && v <= INT32_MAX, "decode: \"", word, "\" at byte ", i, " is not a token id");
    ids.push_back(int32_t(v));
    i = j;
  }
  return ids;
}

// --- chat -------------------------------------------------------------------------------------

ChatFormat Tokenizer::chat_format() const {
  auto has = [&](const char* t) { return token_to_id(t).has_value(); };
  if (has("<|begin_of_text|>") && has("<|start_header_id|>") && has("<|end_header_id|>") && has("<|eot_id|>"))
    return ChatFormat::Llama3;
  if (has("<|im_start|>") && has("<|im_end|>")) return ChatFormat::ChatML;
  fail("tokenizer ", impl_->source,
       ": no chat format fits (neither Llama-3 header tokens nor ChatML <|im_start|>/<|im_end|> are in the vocabulary)");
}

std::string format_chat(ChatFormat format, const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  std::string out;
  if (format == ChatFormat::Llama3) {
    out = "<|begin_of_text|>";
    for (const ChatMessage& m : messages)
      out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + python_strip(m.content) + "<|eot_id|>";
    if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  } else {
    for (const ChatMessage& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
  }
  return out;
}

}  // namespace zebra
