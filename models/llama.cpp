#include "models/llama.h"

#include "ops/ops.h"

namespace zebra {

void LlamaConfig::validate() const {
  ZCHECK(vocab_size > 0, "llama config: vocab_size must be positive, got ", vocab_size);
  ZCHECK(hidden_size > 0 && num_layers > 0 && intermediate_size > 0, "llama config: hidden_size, num_layers and ",
         "intermediate_size must be positive");
  ZCHECK(num_heads > 0 && num_kv_heads > 0 && num_heads % num_kv_heads == 0, "llama config: num_heads (", num_heads,
         ") must be a positive multiple of num_kv_heads (", num_kv_heads, ")");
  ZCHECK(head_dim > 0 && head_dim % 2 == 0, "llama config: head_dim must be positive and even, got ", head_dim);
  ZCHECK(rope_theta > 0, "llama config: rope_theta must be positive");
  ZCHECK(rms_norm_eps > 0, "llama config: rms_norm_eps must be positive");
}

LlamaModel::LlamaModel(const LlamaConfig& cfg, uint64_t seed, double init_std) : cfg_(cfg) {
  cfg_.validate();
  rope_.dim = cfg_.head_dim;
  rope_.theta = cfg_.rope_theta;
  rope_.scaling = cfg_.rope_scaling;
  uint64_t stream = 0;
  auto w = [&](Shape s) { return Tensor::normal(s, seed + 0x9E3779B97F4A7C15ull * ++stream, 0.0, init_std); };
  const int64_t d = cfg_.hidden_size, hd = cfg_.head_dim;
  params_.add("model.embed_tokens.weight", w({cfg_.vocab_size, d}));
  for (int64_t i = 0; i < cfg_.num_layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    params_.add(p + "input_layernorm.weight", Tensor::ones({d}));
    params_.add(p + "self_attn.q_proj.weight", w({cfg_.num_heads * hd, d}));
    params_.add(p + "self_attn.k_proj.weight", w({cfg_.num_kv_heads * hd, d}));
    params_.add(p + "self_attn.v_proj.weight", w({cfg_.num_kv_heads * hd, d}));
    params_.add(p + "self_attn.o_proj.weight", w({d, cfg_.num_heads * hd}));
    params_.add(p + "post_attention_layernorm.weight", Tensor::ones({d}));
    params_.add(p + "mlp.gate_proj.weight", w({cfg_.intermediate_size, d}));
    params_.add(p + "mlp.up_proj.weight", w({cfg_.intermediate_size, d}));
    params_.add(p + "mlp.down_proj.weight", w({d, cfg_.intermediate_size}));
  }
  params_.add("model.norm.weight", Tensor::ones({d}));
  if (!cfg_.tie_word_embeddings) params_.add("lm_head.weight", w({cfg_.vocab_size, d}));
}

// x: [B, T, D] -> [B, T, D]
Tensor LlamaModel::layer(int64_t i, const Tensor& x, int64_t pos_offset) {
  std::string p = "model.layers." + std::to_string(i) + ".";
  const int64_t B = x.size(0), T = x.size(1), hd = cfg_.head_dim;
  Tensor h = rms_norm(x, params_.get(p + "input_layernorm.weight"), cfg_.rms_norm_eps);
  Tensor q = reshape(linear(h, params_.get(p + "self_attn.q_proj.weight")), {B, T, cfg_.num_heads, hd});
  Tensor k = reshape(linear(h, params_.get(p + "self_attn.k_proj.weight")), {B, T, cfg_.num_kv_heads, hd});
  Tensor v = reshape(linear(h, params_.get(p + "self_attn.v_proj.weight")), {B, T, cfg_.num_kv_heads, hd});
  q = rope(q, rope_, pos_offset);
  k = rope(k, rope_, pos_offset);
  Tensor a = reshape(causal_attention(q, k, v), {B, T, cfg_.num_heads * hd});
  Tensor x1 = add(x, linear(a, params_.get(p + "self_attn.o_proj.weight")));
  Tensor h2 = rms_norm(x1, params_.get(p + "post_attention_layernorm.weight"), cfg_.rms_norm_eps);
  Tensor m = swiglu(linear(h2, params_.get(p + "mlp.gate_proj.weight")), linear(h2, params_.get(p + "mlp.up_proj.weight")));
  return add(x1, linear(m, params_.get(p + "mlp.down_proj.weight")));
}

Tensor LlamaModel::forward(const Tensor& ids, int64_t pos_offset) {
  check_rank(ids, 2, "llama forward", "ids");
  Tensor x = embedding(params_.get("model.embed_tokens.weight"), ids);
  for (int64_t i = 0; i < cfg_.num_layers; ++i) x = layer(i, x, pos_offset);
  x = rms_norm(x, params_.get("model.norm.weight"), cfg_.rms_norm_eps);
  const Tensor& head = cfg_.tie_word_embeddings ? params_.get("model.embed_tokens.weight") : params_.get("lm_head.weight");
  return linear(x, head);
}

}  // namespace zebra
