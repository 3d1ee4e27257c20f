// `zebra tiny-train`: trains a small byte-level Llama on a text file and reports held-out loss
// before and after: the engine's end-to-end learning check.
#include <cmath>
#include <cstdio>

#include "train/tiny_run.h"
#include "tools/zebra/commands.h"

namespace zebra::cli {

void register_tiny_train(CLI::App& app) {
  auto* sub = app.add_subcommand("tiny-train", "Train a small byte-level Llama on a text file (engine learning check)");
  auto opt = std::make_shared<TinyRunOptions>();
  opt->text_path = "/usr/share/common-licenses/GPL-3";
  sub->add_option("--text", opt->text_path, "UTF-8 text file to learn (default: the GPL-3 text every Debian ships)")
      ->check(CLI::ExistingFile);
  sub->add_option("--steps", opt->steps, "optimizer steps")->check(CLI::Range(1, 10000000));
  sub->add_option("--batch", opt->batch, "sequences per step")->check(CLI::Range(1, 4096));
  sub->add_option("--seq", opt->seq_len, "bytes per sequence")->check(CLI::Range(2, 65536));
  sub->add_option("--lr", opt->lr, "peak learning rate")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--layers", opt->model.num_layers, "decoder layers")->check(CLI::Range(1, 64));
  sub->add_option("--hidden", opt->model.hidden_size, "hidden size")->check(CLI::Range(8, 8192));
  sub->add_option("--seed", opt->seed, "random seed");
  add_command(sub, [opt] {
    LlamaConfig& m = opt->model;
    ZCHECK(m.hidden_size % m.num_heads == 0, "tiny-train: --hidden must be a multiple of ", m.num_heads);
    m.head_dim = m.hidden_size / m.num_heads;
    m.intermediate_size = (m.hidden_size * 8 / 3 + 7) / 8 * 8;
    std::printf("tiny-train: %s, %lld layers, hidden %lld, %lld steps of %lld x %lld bytes\n", opt->text_path.c_str(),
                (long long)m.num_layers, (long long)m.hidden_size, (long long)opt->steps, (long long)opt->batch,
                (long long)opt->seq_len);
    int64_t every = std::max<int64_t>(1, opt->steps / 10);
    TinyRunResult r = run_tiny_training(*opt, [&](int64_t step, double loss) {
      if ((step + 1) % every == 0 || step == 0)
        std::printf("  step %6lld  loss %.4f\n", (long long)step + 1, loss);
      std::fflush(stdout);
    });
    std::printf("parameters: %lld\n", (long long)r.parameters);
    std::printf("held-out loss: %.4f -> %.4f nats/byte (%.3f -> %.3f bits/byte)\n", r.initial_eval_loss,
                r.final_eval_loss, r.initial_eval_loss / std::log(2.0), r.final_eval_loss / std::log(2.0));
    std::printf("train loss (last 10%% of steps): %.4f\n", r.final_train_loss);
    std::printf("throughput: %.0f tokens/s\n", r.tokens_per_second);
    return 0;
  });
}

}  // namespace zebra::cli
