#include "train/tiny_run.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>

#include "core/rng.h"
#include "ops/ops.h"
#include "train/optimizer.h"

namespace zebra {

namespace {
std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  ZCHECK(f, "tiny-train: cannot open text file '", path, "'");
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

// Windows of seq_len+1 bytes starting at offsets drawn from rng inside [lo, hi - seq_len - 1].
void sample(const std::vector<uint8_t>& text, int64_t lo, int64_t hi, int64_t batch, int64_t T, Rng& rng,
            Tensor& ids, Tensor& targets) {
  std::vector<int32_t> x(static_cast<size_t>(batch * T)), y(static_cast<size_t>(batch * T));
  for (int64_t b = 0; b < batch; ++b) {
    int64_t start = lo + int64_t(rng.next_below(uint64_t(hi - lo - T - 1)));
    for (int64_t t = 0; t < T; ++t) {
      x[size_t(b * T + t)] = text[size_t(start + t)];
      y[size_t(b * T + t)] = text[size_t(start + t + 1)];
    }
  }
  ids = Tensor::from_vector(x, {batch, T});
  targets = Tensor::from_vector(y, {batch * T});
}

double eval_loss(LlamaModel& model, const std::vector<uint8_t>& text, int64_t lo, int64_t hi, const TinyRunOptions& o) {
  NoGrad ng;
  Rng rng(o.seed ^ 0xE7A1u, 0);  // the same held-out windows every time
  double total = 0;
  for (int64_t i = 0; i < o.eval_batches; ++i) {
    Tensor ids, tg;
    sample(text, lo, hi, o.batch, o.seq_len, rng, ids, tg);
    Tensor logits = model.forward(ids);
    total += cross_entropy(reshape(logits, {-1, model.config().vocab_size}), tg).item();
  }
  return total / double(o.eval_batches);
}
}  // namespace

TinyRunResult run_tiny_training(const TinyRunOptions& o, const std::function<void(int64_t, double)>& progress) {
  ZCHECK(o.model.vocab_size == 256, "tiny-train: the byte-level model needs vocab_size 256");
  ZCHECK(o.steps > 0 && o.batch > 0 && o.seq_len > 1, "tiny-train: steps, batch and seq_len must be positive");
  std::vector<uint8_t> text = read_bytes(o.text_path);
  int64_t n = int64_t(text.size());
  int64_t split = int64_t(double(n) * (1.0 - o.holdout_frac));
  ZCHECK(split > 4 * (o.seq_len + 1) && n - split > 2 * (o.seq_len + 1), "tiny-train: text file '", o.text_path,
         "' has ", n, " bytes, too few for seq_len ", o.seq_len);

  LlamaModel model(o.model, o.seed);
  AdamWHyper hyper;
  hyper.lr = o.lr;
  hyper.weight_decay = 0.01;
  hyper.beta2 = 0.99;
  AdamW opt(model.params(), hyper);
  TinyRunResult r;
  r.parameters = model.params().numel();
  r.initial_eval_loss = eval_loss(model, text, split, n, o);

  Rng rng(o.seed, 0);
  int64_t warm = std::max<int64_t>(1, int64_t(double(o.steps) * o.warmup_frac));
  double tail_sum = 0;
  int64_t tail_n = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < o.steps; ++step) {
    Tensor ids, tg;
    sample(text, 0, split, o.batch, o.seq_len, rng, ids, tg);
    Tensor logits = model.forward(ids);
    Tensor loss = cross_entropy(reshape(logits, {-1, o.model.vocab_size}), tg);
    double lv = loss.item();
    ZCHECK(std::isfinite(lv), "tiny-train: loss became ", lv, " at step ", step);
    model.params().zero_grad();
    loss.backward();
    clip_grad_norm(model.params(), o.clip);
    double lr = step < warm ? o.lr * double(step + 1) / double(warm)
                            : o.lr * (0.1 + 0.45 * (1 + std::cos(M_PI * double(step - warm) / double(o.steps - warm))));
    opt.step(lr);
    if (step >= o.steps - std::max<int64_t>(1, o.steps / 10)) {
      tail_sum += lv;
      ++tail_n;
    }
    if (progress) progress(step, lv);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.tokens_per_second = double(o.steps * o.batch * o.seq_len) / secs;
  r.final_train_loss = tail_sum / double(tail_n);
  r.final_eval_loss = eval_loss(model, text, split, n, o);
  return r;
}

}  // namespace zebra
