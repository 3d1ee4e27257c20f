// `zebra encode` / `zebra decode`: a tokenizer.json applied to stdin. encode prints the ids on one
// line; decode reads white-space separated ids and prints the text with no newline added.
#include <cstdio>
#include <memory>
#include <string>

#include "core/error.h"
#include "models/tokenizer.h"
#include "tools/zebra/commands.h"

namespace zebra::cli {

namespace {

// stdin as raw bytes: encode validates the UTF-8 itself and names the offending byte offset.
std::string read_stdin() {
  std::string s;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) s.append(buf, n);
  ZCHECK(!std::ferror(stdin), "cannot read standard input");
  return s;
}

void write_stdout(const std::string& s) {
  ZCHECK(std::fwrite(s.data(), 1, s.size(), stdout) == s.size() && std::fflush(stdout) == 0,
         "cannot write standard output");
}

struct TokenizeOptions {
  std::string tokenizer;
  bool flag = false;  // --add-special for encode, --skip-special for decode
};

}  // namespace

void register_tokenize(CLI::App& app) {
  auto enc = std::make_shared<TokenizeOptions>();
  auto* encode = app.add_subcommand("encode", "Tokenize UTF-8 text from stdin and print the token ids on one line");
  encode->add_option("--tokenizer", enc->tokenizer, "tokenizer.json (Llama-3 or Qwen2/3)")
      ->required()
      ->check(CLI::ExistingFile);
  encode->add_flag("--add-special", enc->flag, "apply the post-processor (e.g. Llama-3's <|begin_of_text|>)");
  add_command(encode, [enc] {
    Tokenizer t = Tokenizer::from_file(enc->tokenizer);
    write_stdout(format_ids(t.encode(read_stdin(), enc->flag)) + "\n");
    return 0;
  });

  auto dec = std::make_shared<TokenizeOptions>();
  auto* decode = app.add_subcommand("decode", "Turn white-space separated token ids from stdin back into text");
  decode->add_option("--tokenizer", dec->tokenizer, "tokenizer.json (Llama-3 or Qwen2/3)")
      ->required()
      ->check(CLI::ExistingFile);
  decode->add_flag("--skip-special", dec->flag, "leave special tokens out");
  add_command(decode, [dec] {
    Tokenizer t = Tokenizer::from_file(dec->tokenizer);
    write_stdout(t.decode(parse_ids(read_stdin()), dec->flag));
    return 0;
  });
}

}  // namespace zebra::cli
