#include "models/mamba2.h"

#include <algorithm>
#include <cmath>

#include "core/threadpool.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace zebra {

Mamba2Config Mamba2Config::upcycled(int64_t d_model, int64_t heads, int64_t kv_heads, int64_t head_dim) {
  Mamba2Config c;
  c.d_model = d_model;
  c.d_inner = d_model;
  c.n_heads = heads;
  c.head_dim = head_dim;
  c.d_state = head_dim;
  c.n_groups = heads;
  c.x_heads = kv_heads;
  c.b_groups = kv_heads;
  return c;
}

Mamba2Config Mamba2Config::standard(int64_t d_model, int64_t expand, int64_t head_dim, int64_t d_state,
                                    int64_t n_groups) {
  Mamba2Config c;
  c.d_model = d_model;
  c.d_inner = expand * d_model;
  c.head_dim = head_dim;
  c.n_heads = head_dim > 0 ? c.d_inner / head_dim : 0;
  c.d_state = d_state;
  c.n_groups = n_groups;
  c.x_heads = c.n_heads;
  c.b_groups = n_groups;
  return c;
}

void Mamba2Config::validate() const {
  auto positive = [](int64_t v, const char* name) {
    ZCHECK(v > 0, "mamba2 config: ", name, " must be positive, got ", v);
  };
  positive(d_model, "d_model");
  positive(n_heads, "n_heads");
  positive(head_dim, "head_dim");
  positive(d_state, "d_state");
  positive(n_groups, "n_groups");
  positive(x_heads, "x_heads");
  positive(b_groups, "b_groups");
  positive(chunk_size, "chunk_size");
  ZCHECK(d_inner == n_heads * head_dim, "mamba2 config: d_inner (", d_inner, ") != n_heads (", n_heads,
         ") * head_dim (", head_dim, ")");
  ZCHECK(n_heads % n_groups == 0, "mamba2 config: n_heads (", n_heads, ") is not a multiple of n_groups (", n_groups,
         ")");
  ZCHECK(n_heads % x_heads == 0, "mamba2 config: n_heads (", n_heads, ") is not a multiple of x_heads (", x_heads,
         ")");
  ZCHECK(n_groups % b_groups == 0, "mamba2 config: n_groups (", n_groups, ") is not a multiple of b_groups (",
         b_groups, ")");
  ZCHECK(conv_kernel >= 2, "mamba2 config: conv_kernel must be >= 2, got ", conv_kernel);
  ZCHECK(norm_group_size >= 0 && (norm_group_size == 0 || d_inner % norm_group_size == 0),
         "mamba2 config: norm_group_size (", norm_group_size, ") must divide d_inner (", d_inner, ")");
  ZCHECK(norm_eps > 0, "mamba2 config: norm_eps must be positive, got ", norm_eps);
  ZCHECK(dt_min >= 0 && dt_max > dt_min, "mamba2 config: dt_limit (", dt_min, ", ", dt_max, ") is not a range");
}

int64_t Mamba2Cache::bytes() const {
  return int64_t(conv_state.defined() ? conv_state.nbytes() : 0) + int64_t(ssm_state.defined() ? ssm_state.nbytes() : 0);
}

Mamba2Layer::Mamba2Layer(const Mamba2Config& cfg, ParamStore& store, std::string prefix)
    : cfg_(cfg), store_(&store), prefix_(std::move(prefix)) {
  cfg_.validate();
  for (auto& [name, shape] : parameter_shapes(cfg_, prefix_)) {
    ZCHECK(store.has(name), "mamba2: parameter ", name, " is not in the store");
    ZCHECK(store.get(name).shape() == shape, "mamba2: parameter ", name, " is ", store.get(name).summary(),
           ", expected ", shape_str(shape));
  }
}

std::vector<std::pair<std::string, Shape>> Mamba2Layer::parameter_shapes(const Mamba2Config& c,
                                                                         const std::string& p) {
  c.validate();
  const int64_t cc = c.conv_channels();
  return {{p + "in_proj.weight", {c.in_proj_rows(), c.d_model}},
          {p + "conv1d.weight", {cc, 1, c.conv_kernel}},
          {p + "conv1d.bias", {cc}},
          {p + "dt_bias", {c.n_heads}},
          {p + "A_log", {c.n_heads}},
          {p + "D", {c.n_heads}},
          {p + "norm.weight", {c.d_inner}},
          {p + "out_proj.weight", {c.d_model, c.d_inner}}};
}

void Mamba2Layer::init_params(const Mamba2Config& c, ParamStore& store, const std::string& p, uint64_t seed) {
  auto stream = [seed](uint64_t i) { return seed + 0x9E3779B97F4A7C15ull * (i + 1); };
  auto kaiming = [](const Shape& s, uint64_t sd, double fan_in) {
    double bound = 1.0 / std::sqrt(fan_in);
    return Tensor::uniform(s, sd, -bound, bound);
  };
  auto shapes = parameter_shapes(c, p);
  const double K = double(c.conv_kernel);
  store.add(shapes[0].first, kaiming(shapes[0].second, stream(0), double(c.d_model)));
  store.add(shapes[1].first, kaiming(shapes[1].second, stream(1), K));
  store.add(shapes[2].first, kaiming(shapes[2].second, stream(2), K));
  // dt ~ exp(U(log 1e-3, log 1e-1)) floored at 1e-4, stored as softplus^-1(dt) so softplus(dt_bias) = dt.
  std::vector<float> u = Tensor::uniform({c.n_heads}, stream(3)).to_vector();
  std::vector<float> dt_bias(u.size()), a_log(u.size());
  for (size_t h = 0; h < u.size(); ++h) {
    double dt = std::exp(u[h] * (std::log(1e-1) - std::log(1e-3)) + std::log(1e-3));
    dt = std::max(dt, 1e-4);
    dt_bias[h] = float(dt + std::log(-std::expm1(-dt)));
  }
  std::vector<float> a = Tensor::uniform({c.n_heads}, stream(4), 1.0, 16.0).to_vector();
  for (size_t h = 0; h < a.size(); ++h) a_log[h] = float(std::log(double(a[h])));
  store.add(shapes[3].first, Tensor::from_vector(dt_bias, {c.n_heads}));
  store.add(shapes[4].first, Tensor::from_vector(a_log, {c.n_heads}));
  store.add(shapes[5].first, Tensor::ones({c.n_heads}));
  store.add(shapes[6].first, Tensor::ones({c.d_inner}));
  store.add(shapes[7].first, kaiming(shapes[7].second, stream(7), double(c.d_inner)));
}

Mamba2Cache Mamba2Layer::make_cache(int64_t batch) const {
  ZCHECK(batch > 0, "mamba2 cache: batch must be positive, got ", batch);
  return {Tensor::zeros({batch, cfg_.conv_channels(), cfg_.conv_kernel - 1}),
          Tensor::zeros({batch, cfg_.n_heads, cfg_.head_dim, cfg_.d_state})};
}

namespace {

void check_cache(const Mamba2Config& c, const Mamba2Cache& s, int64_t batch, const char* op) {
  ZCHECK(s.conv_state.defined() && s.ssm_state.defined(), op, ": the cache is empty (use make_cache)");
  expect_cpu(op, {&s.conv_state, &s.ssm_state});
  expect_f32(op, {{"conv_state", &s.conv_state}, {"ssm_state", &s.ssm_state}});
  ZCHECK((s.conv_state.shape() == Shape{batch, c.conv_channels(), c.conv_kernel - 1}), op,
         ": conv_state is ", s.conv_state.summary(), ", expected [", batch, ", ", c.conv_channels(), ", ",
         c.conv_kernel - 1, "]");
  ZCHECK((s.ssm_state.shape() == Shape{batch, c.n_heads, c.head_dim, c.d_state}), op, ": ssm_state is ",
         s.ssm_state.summary(), ", expected [", batch, ", ", c.n_heads, ", ", c.head_dim, ", ", c.d_state, "]");
}

void check_input(const Mamba2Config& c, const Tensor& x, const char* op) {
  check_defined(x, op, "x");
  expect_cpu(op, {&x});
  expect_f32(op, {{"x", &x}});
  ZCHECK(x.dim() == 3 && x.size(2) == c.d_model && x.size(0) > 0 && x.size(1) > 0, op,
         ": argument 'x' must be [B, T, ", c.d_model, "], got ", x.summary());
}

Tensor repeat_heads(const Tensor& t, int64_t reps) { return reps == 1 ? t : repeat_interleave(t, reps, 2); }

}  // namespace

std::pair<Tensor, Tensor> ssd_chunked(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& c,
                                      int64_t chunk, const Tensor& h0) {
  const char* op = "ssd_chunked";
  check_defined(x, op, "x");
  check_defined(a, op, "a");
  check_defined(b, op, "b");
  check_defined(c, op, "c");
  expect_cpu(op, {&x, &a, &b, &c, &h0});
  expect_f32(op, {{"x", &x}, {"a", &a}, {"b", &b}, {"c", &c}, {"h0", &h0}});
  ZCHECK(x.dim() == 4, op, ": argument 'x' must be [B, T, H, P], got ", x.summary());
  const int64_t Bs = x.size(0), T = x.size(1), H = x.size(2), P = x.size(3);
  ZCHECK(b.dim() == 4 && b.size(0) == Bs && b.size(1) == T && b.size(2) == H, op, ": argument 'b' must be [", Bs,
         ", ", T, ", ", H, ", N], got ", b.summary(), " with x ", x.summary());
  const int64_t N = b.size(3);
  ZCHECK(c.shape() == b.shape(), op, ": argument 'c' ", c.summary(), " must match b ", b.summary());
  ZCHECK((a.shape() == Shape{Bs, T, H}), op, ": argument 'a' must be [", Bs, ", ", T, ", ", H, "], got ", a.summary());
  ZCHECK((!h0.defined() || h0.shape() == Shape{Bs, H, P, N}), op, ": argument 'h0' must be [", Bs, ", ", H, ", ", P,
         ", ", N, "], got ", h0.defined() ? h0.summary() : "undefined");
  ZCHECK(chunk > 0, op, ": chunk must be positive, got ", chunk);

  // A chunk longer than the sequence only adds padding: shrink it.
  const int64_t l = std::min(chunk, T), nc = (T + l - 1) / l, pad = nc * l - T;
  auto padded = [&](const Tensor& t) {
    if (pad == 0) return t;
    Shape s = t.shape();
    s[1] = pad;
    // Zero a*dt (decay 1) and zero x, b contribute nothing, so the final state is unaffected.
    return concat({t, Tensor::zeros(s)}, 1);
  };
  // [B, T, H, D] -> [B, H, nc, l, D]
  auto chunked = [&](const Tensor& t) {
    return permute(reshape(padded(t), {Bs, nc, l, H, t.size(3)}), {0, 3, 1, 2, 4});
  };
  Tensor xc = chunked(x), bc = chunked(b), cc = chunked(c);
  Tensor ac = permute(reshape(padded(a), {Bs, nc, l, H}), {0, 3, 1, 2});  // [B, H, nc, l]
  Tensor acs = cumsum(ac, -1);

  // Intra-chunk (diagonal blocks): y[i] = sum_{j<=i} (C_i . B_j) exp(a_{j+1} + ... + a_i) x_j.
  Tensor decay = exp(segsum(ac));                                  // [B, H, nc, l, l]
  Tensor y_diag = matmul(matmul(cc, bc, false, true) * decay, xc);  // [B, H, nc, l, P]

  // Each chunk's own contribution to the state at its end.
  Tensor last = slice(acs, -1, l - 1, l);                                          // [B, H, nc, 1]
  Tensor to_end = exp(last - acs);                                                  // [B, H, nc, l]
  Tensor states = matmul(xc * unsqueeze(to_end, -1), bc, true, false);             // [B, H, nc, P, N]

  // Inter-chunk recurrence: the state entering each chunk, and the final one.
  Tensor init = h0.defined() ? unsqueeze(h0, 2) : Tensor::zeros({Bs, H, 1, P, N});
  states = reshape(concat({init, states}, 2), {Bs, H, nc + 1, P * N});
  Tensor chunk_a = concat({Tensor::zeros({Bs, H, 1}), reshape(last, {Bs, H, nc})}, -1);  // [B, H, nc+1]
  Tensor carried = matmul(exp(segsum(chunk_a)), states);                                // [B, H, nc+1, P*N]
  Tensor entering = reshape(slice(carried, 2, 0, nc), {Bs, H, nc, P, N});
  Tensor final_state = reshape(slice(carried, 2, nc, nc + 1), {Bs, H, P, N});

  // State-to-output: C_i . h_entering decayed to position i.
  Tensor y_off = matmul(cc, entering, false, true) * unsqueeze(exp(acs), -1);  // [B, H, nc, l, P]
  Tensor y = reshape(permute(y_diag + y_off, {0, 2, 3, 1, 4}), {Bs, nc * l, H, P});
  if (pad > 0) y = slice(y, 1, 0, T);
  return {y, final_state};
}

Mamba2Output Mamba2Layer::forward(const Tensor& x, const Mamba2Cache* init) const {
  const char* op = "mamba2 forward";
  const Mamba2Config& c = cfg_;
  check_input(c, x, op);
  const int64_t Bs = x.size(0), T = x.size(1), H = c.n_heads, P = c.head_dim, N = c.d_state;
  const int64_t K = c.conv_kernel, Cc = c.conv_channels();
  if (init) check_cache(c, *init, Bs, op);

  Tensor zxbcdt = linear(x, param("in_proj.weight"));  // [B, T, rows]
  auto parts = split(zxbcdt, {c.d_inner, Cc, H}, -1);
  const Tensor &z = parts[0], &xbc = parts[1];

  // Causal conv over [x|B|C]; a cached state supplies the K-1 inputs before the first token.
  Tensor history = init ? permute(init->conv_state, {0, 2, 1}) : Tensor::zeros({Bs, K - 1, Cc});  // [B, K-1, Cc]
  Tensor full = concat({history, xbc}, 1);                                                          // [B, K-1+T, Cc]
  Tensor conv_w = reshape(param("conv1d.weight"), {Cc, K});
  Tensor conv = slice(causal_conv1d(full, conv_w, param("conv1d.bias")), 1, K - 1, K - 1 + T);
  Tensor act = silu(conv);  // [B, T, Cc]

  auto xbc_parts = split(act, {c.x_heads * P, c.b_groups * N, c.n_groups * N}, -1);
  Tensor xs = repeat_heads(reshape(xbc_parts[0], {Bs, T, c.x_heads, P}), H / c.x_heads);  // [B, T, H, P]
  Tensor bs = repeat_heads(reshape(xbc_parts[1], {Bs, T, c.b_groups, N}), H / c.b_groups);  // [B, T, H, N]
  Tensor cs = repeat_heads(reshape(xbc_parts[2], {Bs, T, c.n_groups, N}), H / c.n_groups);  // [B, T, H, N]

  Tensor dt = softplus(parts[2] + param("dt_bias"));  // [B, T, H]
  if (c.dt_clamped()) dt = clamp(dt, c.dt_min, c.dt_max);
  Tensor A = -exp(param("A_log"));  // [H]

  auto [y, h_final] = ssd_chunked(xs * unsqueeze(dt, -1), dt * A, bs, cs, c.chunk_size,
                                  init ? init->ssm_state : Tensor());
  y = y + xs * unsqueeze(param("D"), -1);  // [B, T, H, P]
  y = gated_rms_norm(reshape(y, {Bs, T, c.d_inner}), z, param("norm.weight"), c.norm_eps, c.group_size(),
                     c.norm_before_gate);
  Mamba2Output out;
  out.y = linear(y, param("out_proj.weight"));
  {
    NoGrad ng;
    out.state.conv_state = permute(slice(full, 1, T, T + K - 1), {0, 2, 1}).detach().clone();  // [B, Cc, K-1]
    out.state.ssm_state = h_final.detach().clone();
  }
  return out;
}

Tensor Mamba2Layer::step(const Tensor& x, Mamba2Cache& cache) const {
  const char* op = "mamba2 step";
  const Mamba2Config& c = cfg_;
  check_input(c, x, op);
  ZCHECK(x.size(1) == 1, op, ": argument 'x' must hold one token [B, 1, ", c.d_model, "], got ", x.summary());
  const int64_t Bs = x.size(0);
  check_cache(c, cache, Bs, op);
  ZCHECK(cache.conv_state.is_contiguous() && cache.ssm_state.is_contiguous(), op, ": the cache must be contiguous");
  NoGrad ng;
  const int64_t H = c.n_heads, P = c.head_dim, N = c.d_state, K = c.conv_kernel, Cc = c.conv_channels();
  const int64_t rows = c.in_proj_rows();

  Tensor zxbcdt = linear(reshape(x, {Bs, c.d_model}), param("in_proj.weight")).contiguous();  // [B, rows]
  Tensor conv_w = param("conv1d.weight").contiguous(), conv_b = param("conv1d.bias").contiguous();
  Tensor dt_bias = param("dt_bias").contiguous(), a_log = param("A_log").contiguous(), Dp = param("D").contiguous();
  const float* proj = zxbcdt.data<float>();
  const float* w = conv_w.data<float>();  // [Cc, 1, K]
  const float* cb = conv_b.data<float>();
  float* cstate = cache.conv_state.data<float>();  // [B, Cc, K-1]
  float* hstate = cache.ssm_state.data<float>();   // [B, H, P, N]

  // Conv over the window [state | new input], SiLU, then shift the new input into the state.
  Tensor act = Tensor::empty({Bs, Cc});  // [B, Cc]
  float* av = act.data<float>();
  for (int64_t b = 0; b < Bs; ++b) {
    const float* in = proj + b * rows + c.d_inner;
    for (int64_t ch = 0; ch < Cc; ++ch) {
      float* st = cstate + (b * Cc + ch) * (K - 1);
      const float* wc = w + ch * K;
      double s = double(cb[ch]) + double(wc[K - 1]) * in[ch];
      for (int64_t k = 0; k < K - 1; ++k) s += double(wc[k]) * st[k];
      for (int64_t k = 0; k + 1 < K - 1; ++k) st[k] = st[k + 1];
      st[K - 2] = in[ch];
      av[b * Cc + ch] = float(s / (1.0 + std::exp(-s)));
    }
  }

  // h = exp(dt A) h + dt B x^T;  y = h C + D x, per (batch, head).
  Tensor y = Tensor::empty({Bs, c.d_inner});  // [B, H*P]
  float* yv = y.data<float>();
  const int64_t xrep = H / c.x_heads, brep = H / c.b_groups, crep = H / c.n_groups;
  const float *dtb = dt_bias.data<float>(), *al = a_log.data<float>(), *dp = Dp.data<float>();
  parallel_for(0, Bs * H, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t bh = lo; bh < hi; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      const float* xv = av + b * Cc + (h / xrep) * P;
      const float* bv = av + b * Cc + c.x_heads * P + (h / brep) * N;
      const float* cv = av + b * Cc + c.x_heads * P + c.b_groups * N + (h / crep) * N;
      double v = double(proj[b * rows + c.d_inner + Cc + h]) + dtb[h];
      double dt = v > 20.0 ? v : std::log1p(std::exp(v));
      if (c.dt_clamped()) dt = std::clamp(dt, c.dt_min, c.dt_max);
      const float decay = float(std::exp(-dt * std::exp(double(al[h]))));
      float* hs = hstate + bh * P * N;  // [P, N]
      for (int64_t p = 0; p < P; ++p) {
        const float dx = float(dt * xv[p]);
        float* row = hs + p * N;
        double acc = 0.0;
        for (int64_t n = 0; n < N; ++n) {
          row[n] = row[n] * decay + dx * bv[n];
          acc += double(row[n]) * cv[n];
        }
        yv[b * c.d_inner + h * P + p] = float(acc + double(dp[h]) * xv[p]);
      }
    }
  });

  Tensor z = slice(zxbcdt, 1, 0, c.d_inner);  // [B, d_inner]
  Tensor out = linear(gated_rms_norm(y, z, param("norm.weight"), c.norm_eps, c.group_size(), c.norm_before_gate),
                      param("out_proj.weight"));
  return reshape(out, {Bs, 1, c.d_model});
}

}  // namespace zebra
