// Token generation: prefill the prompt into a KV cache, then decode one token at a time with
// greedy or temperature / top-k / top-p sampling (Hugging Face's order: temperature, top-k, top-p).
#pragma once
#include <functional>
#include <vector>

#include "core/rng.h"
#include "models/llama.h"

namespace zebra {

struct SamplingOptions {
  double temperature = 0.0;  // 0 = greedy (first maximal logit)
  int64_t top_k = 0;         // 0 = off
  double top_p = 1.0;        // 1 = off
  uint64_t seed = 0;
};

struct GenerateOptions {
  int64_t max_new_tokens = 32;
  SamplingOptions sampling;
  std::vector<int64_t> eos_ids;  // generation stops after emitting one of these
};

// One row of logits [V] -> the chosen id. Validates the options (throws Error naming the bad one).
int64_t sample_token(const float* logits, int64_t V, const SamplingOptions& opt, Rng& rng);
void validate(const SamplingOptions& opt);

// The decoding loop for any model: step(ids [1, T]) returns logits [1, T, vocab] and appends the
// tokens to the caller's cache; `capacity` is checked against prompt + max_new_tokens by the caller.
std::vector<int64_t> generate_with(const std::function<Tensor(const Tensor&)>& step, int64_t vocab,
                                   const std::vector<int64_t>& prompt, const GenerateOptions& opt,
                                   const std::function<bool(int64_t)>& on_token = nullptr);

// Generates up to max_new_tokens after `prompt` (batch 1). on_token(id) is called as each token is
// chosen; returning false stops early. Returns the new ids.
std::vector<int64_t> generate(LlamaModel& model, const std::vector<int64_t>& prompt, const GenerateOptions& opt,
                              const std::function<bool(int64_t)>& on_token = nullptr);

}  // namespace zebra
