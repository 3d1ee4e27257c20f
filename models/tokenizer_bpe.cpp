// Byte-level BPE: the byte mapping and the merge loop (lowest rank first, leftmost on ties, exactly
// the order HF tokenizers' Word::merge_all pops its heap in).
#include "models/tokenizer_bpe.h"

#include <algorithm>
#include <queue>

#include "core/error.h"
#include "models/unicode.h"

namespace zebra {

namespace {

struct ByteMap {
  std::array<char32_t, 256> to_char{};
  std::unordered_map<char32_t, uint8_t> to_byte;
  ByteMap() {
    char32_t extra = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_char[b] = printable ? char32_t(b) : extra++;
      to_byte[to_char[b]] = uint8_t(b);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

}  // namespace

std::string byte_level_encode(std::string_view bytes) {
  const ByteMap& m = byte_map();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char b : bytes) unicode::append_utf8(out, m.to_char[static_cast<unsigned char>(b)]);
  return out;
}

std::optional<std::string> byte_level_decode(std::string_view token) {
  if (unicode::find_invalid_utf8(token) != unicode::npos) return std::nullopt;
  const ByteMap& m = byte_map();
  std::string out;
  out.reserve(token.size());
  for (char32_t c : unicode::to_utf32(token)) {
    auto it = m.to_byte.find(c);
    if (it == m.to_byte.end()) return std::nullopt;
    out += char(it->second);
  }
  return out;
}

BpeModel::BpeModel(const std::vector<std::pair<std::string, int32_t>>& vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, Options options,
                   const std::string& where)
    : options_(options) {
  std::unordered_map<std::string, int32_t> by_text;
  by_text.reserve(vocab.size());
  by_bytes_.reserve(vocab.size());
  for (const auto& [text, id] : vocab) {
    by_text[text] = id;
    // Tokens with characters outside the byte mapping can never come out of a byte-level pre-token.
    if (auto bytes = byte_level_decode(text)) by_bytes_[*bytes] = id;
  }
  byte_id_.fill(-1);
  for (int b = 0; b < 256; ++b) {
    auto it = by_bytes_.find(std::string(1, char(b)));
    if (it != by_bytes_.end()) byte_id_[b] = it->second;
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = by_text.find(a), ib = by_text.find(b), im = by_text.find(a + b);
    const std::string& missing = ia == by_text.end() ? a : ib == by_text.end() ? b : a + b;
    ZCHECK(ia != by_text.end() && ib != by_text.end() && im != by_text.end(), where, ": model.merges[", rank,
           "] (\"", a, "\", \"", b, "\"): token \"", missing, "\" is not in model.vocab");
    // A repeated pair takes the later rank, as HF's HashMap collect does.
    merges_[uint64_t(uint32_t(ia->second)) << 32 | uint32_t(ib->second)] = {int32_t(rank), im->second};
  }
}

void BpeModel::encode(std::string_view bytes, std::vector<int32_t>& out) const {
  if (bytes.empty()) return;
  if (options_.ignore_merges) {
    auto it = by_bytes_.find(std::string(bytes));
    if (it != by_bytes_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = bytes.size() < kCacheMaxBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(std::string(bytes));
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  merge_word(bytes, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(bytes), std::move(ids));
  }
}

void BpeModel::merge_word(std::string_view bytes, std::vector<int32_t>& out) const {
  // A doubly linked list of symbols over the bytes; merged-away symbols get id -1.
  struct Symbol {
    int32_t id;
    int32_t prev, next;
  };
  std::vector<Symbol> sym;
  sym.reserve(bytes.size());
  for (char ch : bytes) {
    int32_t id = byte_id_[static_cast<unsigned char>(ch)];
    if (id < 0) {
      // HF drops characters the vocabulary lacks unless there is an unk token.
      if (!options_.unk_id) continue;
      if (options_.fuse_unk && !sym.empty() && sym.back().id == *options_.unk_id) continue;
      id = *options_.unk_id;
    }
    int32_t i = int32_t(sym.size());
    sym.push_back({id, i - 1, i + 1});
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  // Heap of candidate merges (rank, left position, resulting id): lowest rank, then leftmost.
  struct Candidate {
    int32_t rank, pos, id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto lookup = [&](int32_t l, int32_t r) -> const std::pair<int32_t, int32_t>* {
    auto it = merges_.find(uint64_t(uint32_t(sym[l].id)) << 32 | uint32_t(sym[r].id));
    return it == merges_.end() ? nullptr : &it->second;
  };
  auto push = [&](int32_t l) {
    if (l < 0 || sym[l].next < 0) return;
    if (auto* m = lookup(l, sym[l].next)) heap.push({m->first, l, m->second});
  };
  for (int32_t i = 0; i + 1 < int32_t(sym.size()); ++i) push(i);

  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    Symbol& left = sym[c.pos];
    if (left.id < 0 || left.next < 0) continue;
    // Stale when either symbol changed since the candidate was pushed.
    const auto* m = lookup(c.pos, left.next);
    if (!m || m->first != c.rank || m->second != c.id) continue;
    Symbol& right = sym[left.next];
    left.id = c.id;
    right.id = -1;
    left.next = right.next;
    if (left.next >= 0) sym[left.next].prev = c.pos;
    push(left.prev);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace zebra
