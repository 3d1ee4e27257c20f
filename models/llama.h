// The teacher architecture: a Llama / Qwen2 / Qwen3 decoder (RMSNorm, GQA attention with RoPE,
// SwiGLU MLP) with Hugging Face parameter names, for training (full sequence, autograd) and for
// generation (a KV cache, prefill then one token at a time).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/params.h"
#include "ops/rope.h"

namespace zebra {

struct LlamaConfig {
  std::string model_type = "llama";  // llama, qwen2, qwen3
  int64_t vocab_size = 256;
  int64_t hidden_size = 64;
  int64_t num_layers = 2;
  int64_t num_heads = 4;
  int64_t num_kv_heads = 2;
  int64_t head_dim = 16;
  int64_t intermediate_size = 176;
  int64_t max_position_embeddings = 8192;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  double rms_norm_eps = 1e-5;
  bool tie_word_embeddings = true;
  bool attention_bias = false;  // q/k/v (and o) projection biases: Qwen2 has q/k/v ones
  bool o_proj_bias = false;
  bool qk_norm = false;         // Qwen3: RMSNorm over head_dim on q and k before RoPE
  std::vector<int64_t> eos_token_ids;
  int64_t bos_token_id = -1;

  void validate() const;  // throws Error naming the inconsistent field
  int64_t kv_bytes_per_token(size_t dtype_bytes) const { return 2 * num_layers * num_kv_heads * head_dim * int64_t(dtype_bytes); }
};

// Per-layer keys and values for up to `capacity` positions: k, v [B, capacity, G, head_dim].
struct KVCache {
  std::vector<Tensor> k, v;
  int64_t length = 0;  // positions filled
  int64_t capacity = 0;
  int64_t batch = 0;
  int64_t bytes() const;  // allocated bytes of all k and v buffers
};

// The teacher's attention mixer, shared by LlamaModel and the hybrid's attention layers.
// h: [B, T, D] (already normed) -> o_proj output [B, T, D]; prefix e.g. "model.layers.3.self_attn.".
// With cache buffers k, v ([B, capacity, G, head_dim]) the tokens' keys and values are written at
// [cache_len, cache_len + T) and attention covers [0, cache_len + T).
Tensor llama_attention(const ParamStore& params, const std::string& prefix, const LlamaConfig& cfg,
                       const RopeConfig& rope, const Tensor& h, int64_t pos, Tensor* k_cache = nullptr,
                       Tensor* v_cache = nullptr, int64_t cache_len = 0);

// Final RMSNorm and the (possibly tied) lm_head: x [B, T, D] -> logits [B, T, vocab].
Tensor llama_head(const ParamStore& params, const LlamaConfig& cfg, const Tensor& x);

class LlamaModel {
 public:
  // Weights ~ N(0, init_std) from Philox streams of `seed`; norms = 1; biases = 0.
  LlamaModel(const LlamaConfig& cfg, uint64_t seed, double init_std = 0.02);
  // Parameters allocated but not initialised, for loaders that fill every one.
  static LlamaModel uninitialized(const LlamaConfig& cfg);

  // ids: [B, T] i32/i64 -> logits [B, T, vocab]. Without a cache token t sits at position t (plus
  // pos_offset); with one, the tokens continue it at position cache->length, their keys and values
  // are appended, and the cache grows by T (untracked: use under NoGrad).
  Tensor forward(const Tensor& ids, KVCache* cache = nullptr, int64_t pos_offset = 0);
  KVCache make_cache(int64_t batch, int64_t capacity) const;

  const LlamaConfig& config() const { return cfg_; }
  ParamStore& params() { return params_; }
  const ParamStore& params() const { return params_; }
  // Names and shapes of every parameter this config has, in registration order.
  static std::vector<std::pair<std::string, Shape>> parameter_shapes(const LlamaConfig& cfg);

 private:
  struct Uninit {};
  LlamaModel(const LlamaConfig& cfg, Uninit);
  Tensor layer(int64_t i, const Tensor& x, KVCache* cache, int64_t pos);
  LlamaConfig cfg_;
  RopeConfig rope_;
  ParamStore params_;
};

}  // namespace zebra
