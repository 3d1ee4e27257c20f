// `zebra logits` and `zebra generate`: run a Hugging Face checkpoint directory.
#include <cstdio>
#include <sstream>

#include "autograd/node.h"
#include "core/safetensors.h"
#include "models/generate.h"
#include "models/hf.h"
#include "tools/zebra/commands.h"

namespace zebra::cli {

namespace {
// "3,17,42" -> {3, 17, 42}; anything else is an error naming the bad piece.
std::vector<int64_t> parse_ids(const std::string& s) {
  std::vector<int64_t> ids;
  std::stringstream ss(s);
  std::string piece;
  while (std::getline(ss, piece, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(piece, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ZCHECK(used == piece.size() && !piece.empty() && v >= 0, "--ids: '", piece, "' is not a token id (expected e.g. 3,17,42)");
    ids.push_back(v);
  }
  ZCHECK(!ids.empty(), "--ids: no token ids given");
  return ids;
}

void check_vocab(const std::vector<int64_t>& ids, const LlamaModel& m) {
  for (int64_t id : ids)
    ZCHECK(id < m.config().vocab_size, "--ids: id ", id, " is outside the model's vocabulary of ", m.config().vocab_size);
}
}  // namespace

void register_model_commands(CLI::App& app) {
  {
    auto* sub = app.add_subcommand("logits", "Write the logits of a model for the given token ids");
    auto model = std::make_shared<std::string>();
    auto ids = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    sub->add_option("--model", *model, "Hugging Face model directory")->required()->check(CLI::ExistingDirectory);
    sub->add_option("--ids", *ids, "comma-separated token ids (no BOS is added)")->required();
    sub->add_option("--out", *out, "output .safetensors file (tensor 'logits', f32 [T, vocab])")->required();
    add_command(sub, [=] {
      std::vector<int64_t> tok = parse_ids(*ids);
      LlamaModel m = load_hf_model(*model);
      check_vocab(tok, m);
      NoGrad ng;
      Tensor logits = m.forward(Tensor::from_vector(tok, {1, int64_t(tok.size())}));
      save_safetensors(*out, {{"logits", logits.view({int64_t(tok.size()), m.config().vocab_size})}});
      std::printf("wrote %s: logits f32[%zu, %lld]\n", out->c_str(), tok.size(), (long long)m.config().vocab_size);
      return 0;
    });
  }
  {
    auto* sub = app.add_subcommand("generate", "Generate tokens from a model with a KV cache");
    auto model = std::make_shared<std::string>();
    auto ids = std::make_shared<std::string>();
    auto opt = std::make_shared<GenerateOptions>();
    auto print_ids = std::make_shared<bool>(false);
    sub->add_option("--model", *model, "Hugging Face model directory")->required()->check(CLI::ExistingDirectory);
    sub->add_option("--ids", *ids, "comma-separated prompt token ids")->required();
    sub->add_option("--max-new-tokens", opt->max_new_tokens, "tokens to generate")->check(CLI::Range(0, 1 << 24));
    sub->add_option("--temperature", opt->sampling.temperature, "0 = greedy")->check(CLI::Range(0.0, 100.0));
    sub->add_option("--top-k", opt->sampling.top_k, "keep the k most likely tokens (0 = off)")->check(CLI::Range(0, 1 << 30));
    sub->add_option("--top-p", opt->sampling.top_p, "nucleus sampling mass (1 = off)");
    sub->add_option("--seed", opt->sampling.seed, "sampling seed");
    sub->add_flag("--print-ids", *print_ids, "print the new token ids space-separated on one line");
    add_command(sub, [=] {
      std::vector<int64_t> tok = parse_ids(*ids);
      validate(opt->sampling);
      LlamaModel m = load_hf_model(*model);
      check_vocab(tok, m);
      GenerateOptions o = *opt;
      o.eos_ids = m.config().eos_token_ids;
      bool first = true;
      std::vector<int64_t> out = generate(m, tok, o, [&](int64_t id) {
        if (*print_ids) {
          std::printf(first ? "%lld" : " %lld", (long long)id);
          std::fflush(stdout);
          first = false;
        }
        return true;
      });
      if (*print_ids) std::printf("\n");
      return 0;
    });
  }
}

}  // namespace zebra::cli
