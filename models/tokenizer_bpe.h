// The byte-level BPE model behind Tokenizer: GPT-2's byte <-> character mapping, the vocabulary keyed
// by raw bytes, merges by rank, and a bounded cache of encoded pre-tokens.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace zebra {

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100..
// The tokenizer.json vocabulary is written in these characters.
std::string byte_level_encode(std::string_view bytes);
// The bytes behind a byte-level string; nullopt if some character is outside the mapping.
std::optional<std::string> byte_level_decode(std::string_view token);

class BpeModel {
 public:
  struct Options {
    bool ignore_merges = false;           // a pre-token that is itself in the vocabulary maps straight to it
    std::optional<int32_t> unk_id;        // used for bytes whose character is missing from the vocabulary
    bool fuse_unk = false;
  };
  // vocab: (token as written in the file, id); merges: pairs of tokens, in rank order. Throws
  // zebra::Error naming `where` and the offending merge when a merge names a token (or yields a
  // concatenation) that the vocabulary lacks.
  BpeModel(const std::vector<std::pair<std::string, int32_t>>& vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, Options options, const std::string& where);

  // Appends the ids of one pre-token given as raw bytes.
  void encode(std::string_view bytes, std::vector<int32_t>& out) const;

 private:
  void merge_word(std::string_view bytes, std::vector<int32_t>& out) const;

  struct MergeHash {
    size_t operator()(uint64_t k) const { return size_t((k ^ (k >> 29)) * 0x9E3779B97F4A7C15ull >> 17); }
  };
  std::unordered_map<std::string, int32_t> by_bytes_;  // raw bytes of each token -> id
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>, MergeHash> merges_;  // (left << 32 | right) -> (rank, id)
  std::array<int32_t, 256> byte_id_;  // id of the one-byte token, -1 if the vocabulary lacks it
  Options options_;

  // HF caches pre-tokens shorter than 256 bytes, up to 10,000 of them; so do we.
  static constexpr size_t kCacheCapacity = 10000, kCacheMaxBytes = 256;
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace zebra
