// Multi-head latent attention (DeepSeek-V2 style, as X-EcoMLA / Zebra-Llama use it): a low-rank
// query path, a shared latent c plus one rotary key part per token, and kv groups expanded from c.
// Training runs the full forward through tracked ops; decoding runs the "absorbed" form that caches
// only c and the rotated k_rope and never materialises keys or values. RECIPE.md, "MLA layer".
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "models/params.h"
#include "ops/rope.h"

namespace zebra {

// Parameter names of the output projection: the published Zebra checkpoints call it out_proj,
// transformers' DeepseekV3Attention o_proj.
enum class MlaNaming { Zebra, DeepSeek };

struct MlaConfig {
  int64_t d_model = 0;
  int64_t n_heads = 0;        // H
  int64_t kv_heads = 0;       // g: query head h reads kv group h / (H/g); g = H for X-EcoMLA
  int64_t q_lora_rank = 0;    // r_q; 0 = a plain q_proj
  int64_t kv_lora_rank = 0;   // r_kv
  int64_t qk_rope_dim = 0;    // d_rope
  int64_t qk_nope_dim = 0;    // d_nope
  int64_t v_head_dim = 0;     // d_v
  bool use_lora_norm = false; // RMSNorm on the q latent (when q_lora_rank > 0) and on c
  double norm_eps = 1e-6;     // of those norms (DeepseekV3RMSNorm's default)
  double softmax_scale = 0.0; // 0 = (d_nope + d_rope)^-1/2
  // > 0: the scale is multiplied by DeepSeek's yarn_get_mscale(rope.scaling.factor, mscale_all_dim)^2.
  double mscale_all_dim = 0.0;
  RopeConfig rope;            // for the d_rope part; rope.dim must equal qk_rope_dim
  MlaNaming naming = MlaNaming::Zebra;

  void validate() const;  // throws Error naming the inconsistent field
  double scale() const;   // the softmax scale in use
  int64_t cache_bytes_per_token() const { return (kv_lora_rank + qk_rope_dim) * 4; }  // per batch row, f32
};

// The absorbed-decode cache of one layer for `capacity` positions. c and k_rope are views into one
// buffer, so a decode step attends over a single [c | k_rope] row per token without copying it.
struct MlaCache {
  Tensor buffer;  // [B, capacity, r_kv + d_rope]
  Tensor c;       // [B, capacity, r_kv]   the latent (after kv_a_layernorm when used)
  Tensor k_rope;  // [B, capacity, d_rope] after rotation
  int64_t length = 0;  // positions filled
  int64_t capacity = 0;
  int64_t batch = 0;
  int64_t bytes() const { return int64_t(buffer.nbytes()); }
};

// One MLA layer: a config and the name prefix of its parameters (e.g. "model.layers.0.mla."); the
// tensors live in the caller's ParamStore, looked up by name at each call (as LlamaModel does).
class MlaLayer {
 public:
  MlaLayer(const MlaConfig& cfg, std::string prefix);  // validates cfg

  // Names (prefix included) and shapes of every parameter, in registration order.
  std::vector<std::pair<std::string, Shape>> parameter_shapes() const;
  // Registers them in `store`: weights ~ N(0, init_std) from Philox streams of `seed`, norms = 1.
  void add_parameters(ParamStore& store, uint64_t seed, double init_std = 0.02) const;

  // x: [B, T, d] -> [B, T, d] (tracked); token t sits at position pos_offset + t.
  Tensor forward(const ParamStore& store, const Tensor& x, int64_t pos_offset = 0) const;

  MlaCache make_cache(int64_t batch, int64_t capacity) const;
  // x: [B, T_new, d] (T_new >= 1) continuing the cache at position cache.length -> [B, T_new, d].
  // Appends the new tokens' c and k_rope and attends in the absorbed form; untracked (runs under NoGrad).
  Tensor step(const ParamStore& store, const Tensor& x, MlaCache& cache) const;

  const MlaConfig& config() const { return cfg_; }
  const std::string& prefix() const { return prefix_; }
  std::string out_proj_name() const;  // prefix + "out_proj.weight" or "o_proj.weight"

 private:
  MlaConfig cfg_;
  std::string prefix_;
};

}  // namespace zebra
