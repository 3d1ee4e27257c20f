// Byte-level BPE tokenizer read from a Hugging Face tokenizer.json (Llama-3, Qwen2/3), matching the
// HF `tokenizers` library id for id: added/special tokens are split out first (leftmost-longest,
// with their lstrip/rstrip/single_word/normalized flags), the normalizer (none or NFC) and the
// Split + ByteLevel pre-tokenizer run on the rest, BPE merges by rank (ignore_merges honoured), and
// the post-processor (TemplateProcessing) adds special tokens on request. Decoding inverts the
// byte-level mapping. Anything outside that family of files is refused with an Error naming the
// file and the field.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zebra {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", ...
  std::string content;
};

enum class ChatFormat {
  Llama3,  // <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>...
  ChatML,  // <|im_start|>role\ncontent<|im_end|>\n...
};

// The prompt text of a conversation; add_generation_prompt appends the opening of an assistant turn.
// Llama-3 strips white space around each content as its chat template does; ChatML keeps it as is.
// Encode the result with add_special = false: the text already holds the special tokens.
std::string format_chat(ChatFormat format, const std::vector<ChatMessage>& messages, bool add_generation_prompt);

// The id text format of `zebra encode` / `zebra decode`: ids joined by single spaces; parsing takes
// any white space between ids and throws on anything that is not a non-negative 32-bit integer.
std::string format_ids(const std::vector<int32_t>& ids);
std::vector<int32_t> parse_ids(std::string_view text);

class Tokenizer {
 public:
  // Reads a tokenizer.json; throws zebra::Error naming the file and the field on anything malformed.
  static Tokenizer from_file(const std::string& path);
  // `source` names the origin (a path) in error messages.
  static Tokenizer from_json(const nlohmann::json& json, const std::string& source);

  // Text must be valid UTF-8 (else an Error names the byte offset). add_special applies the
  // post-processor (e.g. Llama-3's <|begin_of_text|>); parse_special = false treats the text of
  // special tokens as plain text (HF's split_special_tokens), leaving non-special added tokens alone.
  std::vector<int32_t> encode(std::string_view text, bool add_special = false, bool parse_special = true) const;
  // Encodes many texts on the thread pool.
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts, bool add_special = false) const;

  // The text of `ids`; byte sequences that are not valid UTF-8 become U+FFFD (as HF does).
  // skip_special drops special tokens. Ids outside the vocabulary throw.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // The raw bytes, for streaming output where one token may end inside a character.
  std::string decode_bytes(const std::vector<int32_t>& ids, bool skip_special = false) const;

  int32_t vocab_size() const;  // largest id + 1, added tokens included
  std::optional<int32_t> token_to_id(std::string_view token) const;  // a vocabulary or added token
  std::string id_to_token(int32_t id) const;                          // its string as in the file
  bool is_special(int32_t id) const;
  const std::string& source() const;

  // The chat format implied by which special tokens the vocabulary has; throws when neither fits.
  ChatFormat chat_format() const;
  std::string format_chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
    return zebra::format_chat(chat_format(), messages, add_generation_prompt);
  }

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace zebra
