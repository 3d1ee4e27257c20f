#include "models/mla.h"

#include <cmath>

#include "autograd/node.h"
#include "ops/ops.h"

namespace zebra {

void MlaConfig::validate() const {
  ZCHECK(d_model > 0, "mla config: d_model must be positive, got ", d_model);
  ZCHECK(n_heads > 0 && kv_heads > 0 && n_heads % kv_heads == 0, "mla config: n_heads (", n_heads,
         ") must be a positive multiple of kv_heads (", kv_heads, ")");
  ZCHECK(q_lora_rank >= 0, "mla config: q_lora_rank must be >= 0 (0 = plain q_proj), got ", q_lora_rank);
  ZCHECK(kv_lora_rank > 0, "mla config: kv_lora_rank must be positive, got ", kv_lora_rank);
  ZCHECK(qk_rope_dim > 0 && qk_rope_dim % 2 == 0, "mla config: qk_rope_dim must be positive and even, got ",
         qk_rope_dim);
  ZCHECK(qk_nope_dim >= 0, "mla config: qk_nope_dim must be >= 0, got ", qk_nope_dim);
  ZCHECK(v_head_dim > 0, "mla config: v_head_dim must be positive, got ", v_head_dim);
  ZCHECK(rope.dim == qk_rope_dim, "mla config: rope.dim (", rope.dim, ") must equal qk_rope_dim (", qk_rope_dim, ")");
  ZCHECK(std::isfinite(norm_eps) && norm_eps > 0.0, "mla config: norm_eps must be positive, got ", norm_eps);
  ZCHECK(std::isfinite(softmax_scale) && softmax_scale >= 0.0, "mla config: softmax_scale must be >= 0 (0 = default), got ",
         softmax_scale);
  ZCHECK(std::isfinite(mscale_all_dim) && mscale_all_dim >= 0.0, "mla config: mscale_all_dim must be >= 0, got ",
         mscale_all_dim);
  ZCHECK(mscale_all_dim == 0.0 || rope.scaling.type == RopeScaling::Type::Yarn,
         "mla config: mscale_all_dim ", mscale_all_dim, " needs yarn rope scaling");
  rope_inv_freq(rope);  // the rope's own checks (theta, scaling fields)
}

double MlaConfig::scale() const {
  double s = softmax_scale > 0.0 ? softmax_scale : 1.0 / std::sqrt(double(qk_nope_dim + qk_rope_dim));
  // DeepSeek's yarn_get_mscale(factor, mscale_all_dim), squared: one factor each for q and k.
  if (mscale_all_dim > 0.0 && rope.scaling.factor > 1.0) {
    const double m = 0.1 * mscale_all_dim * std::log(rope.scaling.factor) + 1.0;
    s *= m * m;
  }
  return s;
}

namespace {
const char* out_name(MlaNaming n) { return n == MlaNaming::Zebra ? "out_proj.weight" : "o_proj.weight"; }
}  // namespace

MlaLayer::MlaLayer(const MlaConfig& cfg, std::string prefix) : cfg_(cfg), prefix_(std::move(prefix)) {
  cfg_.validate();
}

std::string MlaLayer::out_proj_name() const {
  return prefix_ + out_name(cfg_.naming);
}

std::vector<std::pair<std::string, Shape>> MlaLayer::parameter_shapes() const {
  const MlaConfig& c = cfg_;
  const int64_t qk = c.qk_nope_dim + c.qk_rope_dim;
  std::vector<std::pair<std::string, Shape>> s;
  if (c.q_lora_rank > 0) {
    s.push_back({prefix_ + "q_a_proj.weight", {c.q_lora_rank, c.d_model}});
    if (c.use_lora_norm) s.push_back({prefix_ + "q_a_layernorm.weight", {c.q_lora_rank}});
    s.push_back({prefix_ + "q_b_proj.weight", {c.n_heads * qk, c.q_lora_rank}});
  } else {
    s.push_back({prefix_ + "q_proj.weight", {c.n_heads * qk, c.d_model}});
  }
  s.push_back({prefix_ + "kv_a_proj_with_mqa.weight", {c.kv_lora_rank + c.qk_rope_dim, c.d_model}});
  if (c.use_lora_norm) s.push_back({prefix_ + "kv_a_layernorm.weight", {c.kv_lora_rank}});
  s.push_back({prefix_ + "kv_b_proj.weight", {c.kv_heads * (c.qk_nope_dim + c.v_head_dim), c.kv_lora_rank}});
  s.push_back({out_proj_name(), {c.d_model, c.n_heads * c.v_head_dim}});
  return s;
}

void MlaLayer::add_parameters(ParamStore& store, uint64_t seed, double init_std) const {
  uint64_t stream = 0;
  for (auto& [name, shape] : parameter_shapes()) {
    ++stream;
    const bool norm = name.size() >= 16 && name.compare(name.size() - 16, 16, "layernorm.weight") == 0;
    store.add(name, norm ? Tensor::ones(shape) : Tensor::normal(shape, seed + 0x9E3779B97F4A7C15ull * stream, 0.0, init_std));
  }
}

namespace {

// The layer's view of one ParamStore: parameters by short name, shape-checked at each lookup so a
// wrongly loaded tensor is named here rather than deep inside a matmul.
struct Weights {
  const MlaConfig& c;
  const ParamStore& store;
  const std::string& prefix;

  const Tensor& get(const std::string& name, const Shape& shape) const {
    const Tensor& t = store.get(prefix + name);
    ZCHECK(t.shape() == shape, "mla: parameter '", prefix, name, "' is ", t.summary(), ", expected shape ",
           shape_str(shape));
    return t;
  }
  const Tensor& out() const { return get(out_name(c.naming), {c.d_model, c.n_heads * c.v_head_dim}); }
  const Tensor& kv_b() const {
    return get("kv_b_proj.weight", {c.kv_heads * (c.qk_nope_dim + c.v_head_dim), c.kv_lora_rank});
  }

  // x: [B, T, d] -> q_nope [B, T, H, d_nope], q_rope [B, T, H, d_rope] (rotated).
  std::pair<Tensor, Tensor> queries(const Tensor& x, int64_t pos) const {
    const int64_t qk = c.qk_nope_dim + c.qk_rope_dim;
    Tensor q;
    if (c.q_lora_rank > 0) {
      Tensor qa = linear(x, get("q_a_proj.weight", {c.q_lora_rank, c.d_model}));
      if (c.use_lora_norm) qa = rms_norm(qa, get("q_a_layernorm.weight", {c.q_lora_rank}), c.norm_eps);
      q = linear(qa, get("q_b_proj.weight", {c.n_heads * qk, c.q_lora_rank}));
    } else {
      q = linear(x, get("q_proj.weight", {c.n_heads * qk, c.d_model}));
    }
    std::vector<Tensor> parts = split(reshape(q, {x.size(0), x.size(1), c.n_heads, qk}), {c.qk_nope_dim, c.qk_rope_dim}, 3);
    return {parts[0], rope(parts[1], c.rope, pos)};
  }

  // x: [B, T, d] -> c [B, T, r_kv] (normed when configured), k_rope [B, T, 1, d_rope] (rotated).
  std::pair<Tensor, Tensor> latent(const Tensor& x, int64_t pos) const {
    Tensor kv = linear(x, get("kv_a_proj_with_mqa.weight", {c.kv_lora_rank + c.qk_rope_dim, c.d_model}));
    std::vector<Tensor> parts = split(kv, {c.kv_lora_rank, c.qk_rope_dim}, 2);
    Tensor lat = parts[0];
    if (c.use_lora_norm) lat = rms_norm(lat, get("kv_a_layernorm.weight", {c.kv_lora_rank}), c.norm_eps);
    return {lat, rope(unsqueeze(parts[1], 2), c.rope, pos)};
  }
};

void check_input(const MlaConfig& c, const Tensor& x, const char* op) {
  check_defined(x, op, "x");
  check_rank(x, 3, op, "x");
  ZCHECK(x.size(2) == c.d_model, op, ": last axis of x ", x.summary(), " must be d_model ", c.d_model);
  ZCHECK(x.size(1) > 0, op, ": x ", x.summary(), " has no tokens");
}

// x: [B, T, H, K], w: [g, K, N] (or [g, N, K] with trans_w) -> [B, T, H, N]; head h uses w[h / (H/g)].
// One GEMM per group over all its heads and tokens.
Tensor per_group(const Tensor& x, const Tensor& w, bool trans_w) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2), K = x.size(3), g = w.size(0), hpg = H / g;
  Tensor xg = contiguous(permute(reshape(x, {B * T, g, hpg, K}), {1, 0, 2, 3}));  // [g, B*T, hpg, K]
  Tensor y = matmul(reshape(xg, {g, B * T * hpg, K}), w, false, trans_w);          // [g, B*T*hpg, N]
  const int64_t N = y.size(2);
  return reshape(contiguous(permute(reshape(y, {g, B * T, hpg, N}), {1, 0, 2, 3})), {B, T, H, N});
}

}  // namespace

Tensor MlaLayer::forward(const ParamStore& store, const Tensor& x, int64_t pos_offset) const {
  check_input(cfg_, x, "mla forward");
  ZCHECK(pos_offset >= 0, "mla forward: pos_offset must be >= 0, got ", pos_offset);
  const MlaConfig& c = cfg_;
  const int64_t B = x.size(0), T = x.size(1);
  Weights w{c, store, prefix_};
  auto [q_nope, q_rope] = w.queries(x, pos_offset);
  auto [lat, k_rope] = w.latent(x, pos_offset);
  Tensor kvb = reshape(linear(lat, w.kv_b()), {B, T, c.kv_heads, c.qk_nope_dim + c.v_head_dim});
  std::vector<Tensor> kv = split(kvb, {c.qk_nope_dim, c.v_head_dim}, 3);  // k_nope, v: [B, T, g, *]
  Tensor q = concat({q_nope, q_rope}, 3);                                             // [B, T, H, d_nope + d_rope]
  Tensor k = concat({kv[0], expand(k_rope, {B, T, c.kv_heads, c.qk_rope_dim})}, 3);  // [B, T, g, d_nope + d_rope]
  Tensor a = causal_attention(q, k, kv[1], c.scale());                                // [B, T, H, d_v]
  return linear(reshape(a, {B, T, c.n_heads * c.v_head_dim}), w.out());
}

MlaCache MlaLayer::make_cache(int64_t batch, int64_t capacity) const {
  ZCHECK(batch > 0 && capacity > 0, "mla cache: batch and capacity must be positive, got ", batch, " and ", capacity);
  const int64_t r = cfg_.kv_lora_rank;
  MlaCache m;
  m.buffer = Tensor::zeros({batch, capacity, r + cfg_.qk_rope_dim});
  m.c = m.buffer.as_strided({batch, capacity, r}, m.buffer.strides(), m.buffer.offset());
  m.k_rope = m.buffer.as_strided({batch, capacity, cfg_.qk_rope_dim}, m.buffer.strides(), m.buffer.offset() + r);
  m.capacity = capacity;
  m.batch = batch;
  return m;
}

Tensor MlaLayer::step(const ParamStore& store, const Tensor& x, MlaCache& cache) const {
  check_input(cfg_, x, "mla step");
  const MlaConfig& c = cfg_;
  const int64_t r = c.kv_lora_rank, dr = c.qk_rope_dim;
  ZCHECK(cache.buffer.defined() && cache.buffer.dim() == 3 && cache.buffer.size(2) == r + dr &&
             cache.c.defined() && cache.c.size(2) == r && cache.k_rope.defined() && cache.k_rope.size(2) == dr,
         "mla step: the cache does not fit this layer (r_kv ", r, " + d_rope ", dr, ")");
  ZCHECK(x.size(0) == cache.batch, "mla step: x ", x.summary(), " batch does not match the cache's ", cache.batch);
  const int64_t B = x.size(0), T = x.size(1), pos = cache.length, S = pos + T;
  ZCHECK(S <= cache.capacity, "mla step: ", T, " more tokens overflow the cache (", pos, " of ", cache.capacity,
         " positions used)");
  NoGrad no_grad;
  Weights w{c, store, prefix_};
  auto [q_nope, q_rope] = w.queries(x, pos);
  auto [lat, k_rope] = w.latent(x, pos);
  slice(cache.c, 1, pos, S).copy_(lat);
  slice(cache.k_rope, 1, pos, S).copy_(reshape(k_rope, {B, T, dr}));
  Tensor wkvb = reshape(w.kv_b(), {c.kv_heads, c.qk_nope_dim + c.v_head_dim, r});
  Tensor w_kb = slice(wkvb, 1, 0, c.qk_nope_dim);                             // [g, d_nope, r_kv]
  Tensor w_vb = slice(wkvb, 1, c.qk_nope_dim, c.qk_nope_dim + c.v_head_dim);  // [g, d_v, r_kv]
  // score_s = q_nope·(W_kb c_s) + q_rope·k_rope_s = [W_kb^T q_nope | q_rope]·[c_s | k_rope_s]: one MQA
  // attention over the cached rows, whose values are the latents themselves.
  Tensor q_abs = concat({per_group(q_nope, w_kb, false), q_rope}, 3);  // [B, T, H, r_kv + d_rope]
  Tensor rows = unsqueeze(slice(cache.buffer, 1, 0, S), 2);           // [B, S, 1, r_kv + d_rope]
  Tensor o_lat = causal_attention(q_abs, rows, slice(rows, 3, 0, r), c.scale());  // [B, T, H, r_kv]
  Tensor o = per_group(o_lat, w_vb, true);                                       // [B, T, H, d_v]
  cache.length = S;
  return linear(reshape(o, {B, T, c.n_heads * c.v_head_dim}), w.out());
}

}  // namespace zebra
