// A Llama-architecture decoder (RMSNorm, GQA attention with RoPE, SwiGLU MLP) for training and
// full-sequence forward. Parameter names follow Hugging Face's LlamaForCausalLM.
#pragma once
#include <cstdint>

#include "models/params.h"
#include "ops/rope.h"

namespace zebra {

struct LlamaConfig {
  int64_t vocab_size = 256;
  int64_t hidden_size = 64;
  int64_t num_layers = 2;
  int64_t num_heads = 4;
  int64_t num_kv_heads = 2;
  int64_t head_dim = 16;
  int64_t intermediate_size = 176;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  double rms_norm_eps = 1e-5;
  bool tie_word_embeddings = true;

  void validate() const;  // throws Error naming the inconsistent field
};

class LlamaModel {
 public:
  // Weights ~ N(0, init_std) from Philox stream `seed` (one offset per tensor); norms = 1.
  LlamaModel(const LlamaConfig& cfg, uint64_t seed, double init_std = 0.02);

  // ids: [B, T] i32/i64 -> logits [B, T, vocab]; token t sits at position pos_offset + t.
  Tensor forward(const Tensor& ids, int64_t pos_offset = 0);

  const LlamaConfig& config() const { return cfg_; }
  ParamStore& params() { return params_; }
  const ParamStore& params() const { return params_; }

 private:
  Tensor layer(int64_t i, const Tensor& x, int64_t pos_offset);
  LlamaConfig cfg_;
  RopeConfig rope_;
  ParamStore params_;
};

}  // namespace zebra
