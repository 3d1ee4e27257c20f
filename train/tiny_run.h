// The engine's end-to-end learning check: a small byte-level Llama trained on a text file with
// AdamW. Used by `zebra tiny-train` and by the learning test.
#pragma once
#include <functional>
#include <string>

#include "models/llama.h"

namespace zebra {

struct TinyRunOptions {
  std::string text_path;
  LlamaConfig model;          // vocab 256 (bytes)
  int64_t steps = 1000;
  int64_t batch = 8;
  int64_t seq_len = 64;
  double lr = 3e-3;
  double warmup_frac = 0.05;  // linear warmup, then cosine to 10%
  double clip = 1.0;
  uint64_t seed = 1;
  double holdout_frac = 0.1;  // last part of the text, never trained on
  int64_t eval_batches = 8;
};

struct TinyRunResult {
  double initial_eval_loss = 0;  // held-out cross-entropy (nats/byte) before training
  double final_eval_loss = 0;
  double final_train_loss = 0;   // mean over the last 10% of steps
  double tokens_per_second = 0;
  int64_t parameters = 0;
};

// Calls progress(step, train_loss) after each step when given.
TinyRunResult run_tiny_training(const TinyRunOptions& opt,
                                const std::function<void(int64_t, double)>& progress = nullptr);

}  // namespace zebra
