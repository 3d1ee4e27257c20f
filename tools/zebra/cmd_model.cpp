// `zebra logits` and `zebra generate`: run a Hugging Face checkpoint directory.
#include <cstdio>
#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>

#include "autograd/node.h"
#include "core/safetensors.h"
#include "models/generate.h"
#include "models/hf.h"
#include "models/hybrid.h"
#include "models/tokenizer.h"
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

// A teacher (Hugging Face) or hybrid model directory behind one interface.
struct LoadedModel {
  int64_t vocab = 0;
  std::vector<int64_t> eos;
  std::function<Tensor(const Tensor&)> full;  // ids [1, T] -> logits [1, T, V]
  std::function<std::vector<int64_t>(const std::vector<int64_t>&, const GenerateOptions&,
                                     const std::function<bool(int64_t)>&)> generate;
};

LoadedModel load_any(const std::string& dir) {
  LoadedModel lm;
  if (is_hybrid_dir(dir)) {
    auto m = std::make_shared<HybridModel>(load_hybrid(dir));
    lm.vocab = m->config().teacher.vocab_size;
    lm.eos = m->config().teacher.eos_token_ids;
    lm.full = [m](const Tensor& ids) { return m->forward(ids); };
    lm.generate = [m](const std::vector<int64_t>& p, const GenerateOptions& o, const std::function<bool(int64_t)>& cb) {
      HybridCache cache = m->make_cache(1, int64_t(p.size()) + std::max<int64_t>(o.max_new_tokens, 1));
      return generate_with([&](const Tensor& ids) { return m->forward(ids, &cache); }, m->config().teacher.vocab_size,
                           p, o, cb);
    };
  } else {
    auto m = std::make_shared<LlamaModel>(load_hf_model(dir));
    lm.vocab = m->config().vocab_size;
    lm.eos = m->config().eos_token_ids;
    lm.full = [m](const Tensor& ids) { return m->forward(ids); };
    lm.generate = [m](const std::vector<int64_t>& p, const GenerateOptions& o, const std::function<bool(int64_t)>& cb) {
      return zebra::generate(*m, p, o, cb);
    };
  }
  return lm;
}

void check_vocab(const std::vector<int64_t>& ids, const LoadedModel& m) {
  for (int64_t id : ids) ZCHECK(id < m.vocab, "--ids: id ", id, " is outside the model's vocabulary of ", m.vocab);
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
      LoadedModel m = load_any(*model);
      check_vocab(tok, m);
      NoGrad ng;
      Tensor logits = m.full(Tensor::from_vector(tok, {1, int64_t(tok.size())}));
      save_safetensors(*out, {{"logits", logits.contiguous().view({int64_t(tok.size()), m.vocab})}});
      std::printf("wrote %s: logits f32[%zu, %lld]\n", out->c_str(), tok.size(), (long long)m.vocab);
      return 0;
    });
  }
  {
    auto* sub = app.add_subcommand("generate", "Generate tokens from a model with a KV cache");
    struct Args {
      std::string model, ids, prompt;
      std::vector<std::string> stops;
      bool chat = false, print_ids = false;
      GenerateOptions opt;
    };
    auto a = std::make_shared<Args>();
    sub->add_option("--model", a->model, "Hugging Face model directory")->required()->check(CLI::ExistingDirectory);
    auto* ids_opt = sub->add_option("--ids", a->ids, "comma-separated prompt token ids");
    auto* prompt_opt = sub->add_option("--prompt", a->prompt, "prompt text (tokenised with DIR/tokenizer.json)");
    ids_opt->excludes(prompt_opt);
    sub->add_flag("--chat", a->chat, "wrap --prompt as a user turn in the model's chat format");
    sub->add_option("--stop", a->stops, "stop when the generated text contains this string (repeatable)");
    sub->add_option("--max-new-tokens", a->opt.max_new_tokens, "tokens to generate")->check(CLI::Range(0, 1 << 24));
    sub->add_option("--temperature", a->opt.sampling.temperature, "0 = greedy")->check(CLI::Range(0.0, 100.0));
    sub->add_option("--top-k", a->opt.sampling.top_k, "keep the k most likely tokens (0 = off)")->check(CLI::Range(0, 1 << 30));
    sub->add_option("--top-p", a->opt.sampling.top_p, "nucleus sampling mass (1 = off)");
    sub->add_option("--seed", a->opt.sampling.seed, "sampling seed");
    sub->add_flag("--print-ids", a->print_ids, "print the new token ids space-separated on one line");
    add_command(sub, [a] {
      ZCHECK(!a->ids.empty() || !a->prompt.empty(), "generate: give --ids or --prompt");
      ZCHECK(!a->chat || !a->prompt.empty(), "generate: --chat needs --prompt");
      validate(a->opt.sampling);
      std::vector<int64_t> prompt;
      if (a->prompt.empty()) prompt = parse_ids(a->ids);  // cheap checks first
      std::optional<Tokenizer> tok;
      bool text_out = !a->print_ids;
      if (!a->prompt.empty() || text_out || !a->stops.empty())
        tok = Tokenizer::from_file(a->model + "/tokenizer.json");
      if (!a->prompt.empty()) {
        std::string text = a->chat ? tok->format_chat({{"user", a->prompt}}, true) : a->prompt;
        for (int32_t id : tok->encode(text, /*add_special=*/!a->chat)) prompt.push_back(id);
      }
      LoadedModel m = load_any(a->model);
      check_vocab(prompt, m);
      GenerateOptions o = a->opt;
      o.eos_ids = m.eos;
      if (tok && a->chat)  // the end-of-turn token ends a chat reply even where config.json omits it
        for (const char* t : {"<|eot_id|>", "<|im_end|>"})
          if (auto id = tok->token_to_id(t)) o.eos_ids.push_back(*id);
      // Text streams as it comes, holding back just enough to never print part of a stop string.
      std::string text;
      size_t printed = 0, hold = 0;
      for (auto& s : a->stops) hold = std::max(hold, s.size());
      bool first = true;
      auto flush_text = [&](size_t upto) {
        if (upto > printed) std::fwrite(text.data() + printed, 1, upto - printed, stdout);
        printed = std::max(printed, upto);
        std::fflush(stdout);
      };
      m.generate(prompt, o, [&](int64_t id) {
        if (a->print_ids) {
          std::printf(first ? "%lld" : " %lld", (long long)id);
          std::fflush(stdout);
          first = false;
        }
        if (!tok) return true;
        if (std::find(o.eos_ids.begin(), o.eos_ids.end(), id) == o.eos_ids.end())
          text += tok->decode_bytes({int32_t(id)});
        for (auto& s : a->stops) {
          size_t at = text.find(s, printed > s.size() ? printed - s.size() : 0);
          if (at != std::string::npos) {
            text.resize(at);
            return false;
          }
        }
        if (text_out) flush_text(text.size() > hold ? text.size() - hold : 0);
        return true;
      });
      if (text_out) flush_text(text.size());
      std::printf("\n");
      return 0;
    });
  }
}

}  // namespace zebra::cli
