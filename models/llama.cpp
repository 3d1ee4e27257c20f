#include "models/llama.h"

#include "ops/ops.h"

namespace zebra {

void LlamaConfig::validate() const {
  ZCHECK(vocab_size > 0, "model config: vocab_size must be positive, got ", vocab_size);
  ZCHECK(hidden_size > 0, "model config: hidden_size must be positive, got ", hidden_size);
  ZCHECK(num_layers > 0, "model config: num_hidden_layers must be positive, got ", num_layers);
  ZCHECK(intermediate_size > 0, "model config: intermediate_size must be positive, got ", intermediate_size);
  ZCHECK(num_heads > 0 && num_kv_heads > 0 && num_heads % num_kv_heads == 0, "model config: num_attention_heads (",
         num_heads, ") must be a positive multiple of num_key_value_heads (", num_kv_heads, ")");
  ZCHECK(head_dim > 0 && head_dim % 2 == 0, "model config: head_dim must be positive and even, got ", head_dim);
  ZCHECK(rope_theta > 0, "model config: rope_theta must be positive, got ", rope_theta);
  ZCHECK(rms_norm_eps > 0, "model config: rms_norm_eps must be positive, got ", rms_norm_eps);
  ZCHECK(max_position_embeddings > 0, "model config: max_position_embeddings must be positive");
}

int64_t KVCache::bytes() const {
  int64_t b = 0;
  for (auto& t : k) b += int64_t(t.nbytes());
  for (auto& t : v) b += int64_t(t.nbytes());
  return b;
}

std::vector<std::pair<std::string, Shape>> LlamaModel::parameter_shapes(const LlamaConfig& c) {
  std::vector<std::pair<std::string, Shape>> s;
  const int64_t d = c.hidden_size, hd = c.head_dim, qd = c.num_heads * hd, kvd = c.num_kv_heads * hd;
  s.push_back({"model.embed_tokens.weight", {c.vocab_size, d}});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    s.push_back({p + "input_layernorm.weight", {d}});
    s.push_back({p + "self_attn.q_proj.weight", {qd, d}});
    s.push_back({p + "self_attn.k_proj.weight", {kvd, d}});
    s.push_back({p + "self_attn.v_proj.weight", {kvd, d}});
    if (c.attention_bias) {
      s.push_back({p + "self_attn.q_proj.bias", {qd}});
      s.push_back({p + "self_attn.k_proj.bias", {kvd}});
      s.push_back({p + "self_attn.v_proj.bias", {kvd}});
    }
    if (c.qk_norm) {
      s.push_back({p + "self_attn.q_norm.weight", {hd}});
      s.push_back({p + "self_attn.k_norm.weight", {hd}});
    }
    s.push_back({p + "self_attn.o_proj.weight", {d, qd}});
    if (c.o_proj_bias) s.push_back({p + "self_attn.o_proj.bias", {d}});
    s.push_back({p + "post_attention_layernorm.weight", {d}});
    s.push_back({p + "mlp.gate_proj.weight", {c.intermediate_size, d}});
    s.push_back({p + "mlp.up_proj.weight", {c.intermediate_size, d}});
    s.push_back({p + "mlp.down_proj.weight", {d, c.intermediate_size}});
  }
  s.push_back({"model.norm.weight", {d}});
  if (!c.tie_word_embeddings) s.push_back({"lm_head.weight", {c.vocab_size, d}});
  return s;
}

namespace {
bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
bool is_norm(const std::string& n) { return ends_with(n, "norm.weight"); }
}  // namespace

LlamaModel::LlamaModel(const LlamaConfig& cfg, Uninit) : cfg_(cfg) {
  cfg_.validate();
  rope_.dim = cfg_.head_dim;
  rope_.theta = cfg_.rope_theta;
  rope_.scaling = cfg_.rope_scaling;
}

LlamaModel LlamaModel::uninitialized(const LlamaConfig& cfg) {
  LlamaModel m(cfg, Uninit{});
  for (auto& [name, shape] : parameter_shapes(m.cfg_)) m.params_.add(name, Tensor::empty(shape));
  return m;
}

LlamaModel::LlamaModel(const LlamaConfig& cfg, uint64_t seed, double init_std) : LlamaModel(cfg, Uninit{}) {
  uint64_t stream = 0;
  for (auto& [name, shape] : parameter_shapes(cfg_)) {
    ++stream;
    if (is_norm(name)) params_.add(name, Tensor::ones(shape));
    else if (ends_with(name, ".bias")) params_.add(name, Tensor::zeros(shape));
    else params_.add(name, Tensor::normal(shape, seed + 0x9E3779B97F4A7C15ull * stream, 0.0, init_std));
  }
}

KVCache LlamaModel::make_cache(int64_t batch, int64_t capacity) const {
  ZCHECK(batch > 0 && capacity > 0, "kv cache: batch and capacity must be positive");
  KVCache c;
  c.batch = batch;
  c.capacity = capacity;
  for (int64_t i = 0; i < cfg_.num_layers; ++i) {
    c.k.push_back(Tensor::zeros({batch, capacity, cfg_.num_kv_heads, cfg_.head_dim}));
    c.v.push_back(Tensor::zeros({batch, capacity, cfg_.num_kv_heads, cfg_.head_dim}));
  }
  return c;
}

Tensor llama_attention(const ParamStore& params, const std::string& p, const LlamaConfig& cfg, const RopeConfig& rope_cfg,
                       const Tensor& h, int64_t pos, Tensor* k_cache, Tensor* v_cache, int64_t cache_len) {
  const int64_t B = h.size(0), T = h.size(1), hd = cfg.head_dim;
  auto bias = [&](const std::string& n) { return params.has(n) ? params.get(n) : Tensor(); };
  Tensor q = linear(h, params.get(p + "q_proj.weight"), bias(p + "q_proj.bias"));
  Tensor k = linear(h, params.get(p + "k_proj.weight"), bias(p + "k_proj.bias"));
  Tensor v = linear(h, params.get(p + "v_proj.weight"), bias(p + "v_proj.bias"));
  q = reshape(q, {B, T, cfg.num_heads, hd});
  k = reshape(k, {B, T, cfg.num_kv_heads, hd});
  v = reshape(v, {B, T, cfg.num_kv_heads, hd});
  if (cfg.qk_norm) {
    q = rms_norm(q, params.get(p + "q_norm.weight"), cfg.rms_norm_eps);
    k = rms_norm(k, params.get(p + "k_norm.weight"), cfg.rms_norm_eps);
  }
  q = rope(q, rope_cfg, pos);
  k = rope(k, rope_cfg, pos);
  if (k_cache) {
    // Append this step's keys and values, then attend over everything cached so far.
    const int64_t end = cache_len + T;
    slice(*k_cache, 1, cache_len, end).copy_(k);
    slice(*v_cache, 1, cache_len, end).copy_(v);
    k = slice(*k_cache, 1, 0, end);
    v = slice(*v_cache, 1, 0, end);
  }
  Tensor a = reshape(causal_attention(q, k, v), {B, T, cfg.num_heads * hd});
  return linear(a, params.get(p + "o_proj.weight"), bias(p + "o_proj.bias"));
}

// x: [B, T, D] -> [B, T, D]; the layer's tokens start at position `pos`.
Tensor LlamaModel::layer(int64_t i, const Tensor& x, KVCache* cache, int64_t pos) {
  std::string p = "model.layers." + std::to_string(i) + ".";
  Tensor h = rms_norm(x, params_.get(p + "input_layernorm.weight"), cfg_.rms_norm_eps);
  Tensor a = cache ? llama_attention(params_, p + "self_attn.", cfg_, rope_, h, pos, &cache->k[size_t(i)],
                                     &cache->v[size_t(i)], cache->length)
                   : llama_attention(params_, p + "self_attn.", cfg_, rope_, h, pos);
  Tensor x1 = add(x, a);
  Tensor h2 = rms_norm(x1, params_.get(p + "post_attention_layernorm.weight"), cfg_.rms_norm_eps);
  Tensor m = swiglu(linear(h2, params_.get(p + "mlp.gate_proj.weight")), linear(h2, params_.get(p + "mlp.up_proj.weight")));
  return add(x1, linear(m, params_.get(p + "mlp.down_proj.weight")));
}

Tensor LlamaModel::forward(const Tensor& ids, KVCache* cache, int64_t pos_offset) {
  check_rank(ids, 2, "model forward", "ids");
  int64_t pos = pos_offset;
  if (cache) {
    ZCHECK(!grad_enabled() || !params_.items().front().second.requires_grad(),
           "model forward: the KV cache path is for inference; wrap it in NoGrad");
    ZCHECK(ids.size(0) == cache->batch, "model forward: ids batch ", ids.size(0), " does not match the cache's ",
           cache->batch);
    ZCHECK(cache->length + ids.size(1) <= cache->capacity, "model forward: ", ids.size(1), " more tokens overflow the ",
           "KV cache (", cache->length, " of ", cache->capacity, " positions used)");
    pos = cache->length;
  }
  Tensor x = embedding(params_.get("model.embed_tokens.weight"), ids);
  for (int64_t i = 0; i < cfg_.num_layers; ++i) x = layer(i, x, cache, pos);
  if (cache) cache->length += ids.size(1);
  return llama_head(params_, cfg_, x);
}

Tensor llama_head(const ParamStore& params, const LlamaConfig& cfg, const Tensor& x) {
  Tensor h = rms_norm(x, params.get("model.norm.weight"), cfg.rms_norm_eps);
  return linear(h, params.get(cfg.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight"));
}

}  // namespace zebra
