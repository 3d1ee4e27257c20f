// The Split pre-tokenizer of Llama-3 and Qwen2/3 tokenizer.json files: a hand-written matcher with
// the exact leftmost-first alternation semantics Oniguruma gives their regex (HF tokenizers' engine),
// selected by comparing the pattern string. Any other pattern is refused.
#pragma once
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace zebra {

// Llama-3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// Qwen2/3: the same with \p{N} in place of \p{N}{1,3}.
inline constexpr std::string_view kLlama3SplitRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
inline constexpr std::string_view kQwen2SplitRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

class SplitPretokenizer {
 public:
  // Throws zebra::Error naming `where` (file and field) unless `regex` is one of the patterns above.
  SplitPretokenizer(std::string_view regex, std::string_view where);
  // Appends the pieces of `text` (code points) as [begin, end) code point offsets, matches and the
  // unmatched gaps between them in order (behavior Isolated); together they cover the text.
  void split(std::u32string_view text, std::vector<std::pair<uint32_t, uint32_t>>& pieces) const;
  int max_digits() const { return max_digits_; }

 private:
  int max_digits_;  // 3 for Llama-3's \p{N}{1,3}, 1 for Qwen's \p{N}
};

}  // namespace zebra
