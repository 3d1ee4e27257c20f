// The Mamba2 mixer (SSD) on the CPU: a chunked, autograd-tracked forward for training and prefill,
// and a recurrent NoGrad step for decoding, with Hugging Face / mamba_ssm parameter names.
//
// Layout (one layer, prefix e.g. "model.layers.3.mamba."):
//   in_proj.weight   [d_z + d_x + d_b + d_c + H, d_model], output rows in this order:
//                    z (d_inner) | x (x_heads*head_dim) | B (b_groups*d_state) | C (n_groups*d_state) | dt (H)
//   conv1d.weight    [C_conv, 1, K] (PyTorch depthwise Conv1d shape), conv1d.bias [C_conv], over the
//                    channels [x | B | C] as projected, C_conv = d_x + d_b + d_c (before any repeat)
//   dt_bias, A_log, D [H];  norm.weight [d_inner];  out_proj.weight [d_model, d_inner]
// After the conv + SiLU, x is repeated from x_heads to H heads and B from b_groups to H (head h uses
// x head h / (H/x_heads), B group h / (H/b_groups), C group h / (H/n_groups)), the upcycling
// "GQA-like" repeat; standard Mamba2 has x_heads = H and b_groups = n_groups.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "models/params.h"

namespace zebra {

struct Mamba2Config {
  int64_t d_model = 64;
  int64_t d_inner = 64;   // n_heads * head_dim
  int64_t n_heads = 4;
  int64_t head_dim = 16;  // P
  int64_t d_state = 16;   // N
  int64_t n_groups = 4;   // groups of C (and of B after the repeat)
  int64_t x_heads = 4;    // heads of x as projected
  int64_t b_groups = 4;   // groups of B as projected
  int64_t conv_kernel = 4;
  int64_t chunk_size = 256;
  double dt_min = 0.0, dt_max = std::numeric_limits<double>::infinity();  // dt_limit; (0, inf) = no clamp
  double norm_eps = 1e-5;
  // Gated RMSNorm statistics group; 0 = d_inner / n_groups (mamba_ssm's RMSNormGated rule, = head_dim
  // for the upcycled layout and the whole d_inner for a standard n_groups = 1 layer).
  int64_t norm_group_size = 0;
  bool norm_before_gate = false;

  // MambaInLlama upcycling from an attention layer: d_inner = d_model, x and B from the kv heads,
  // C per query head, d_state = head_dim.
  static Mamba2Config upcycled(int64_t d_model, int64_t heads, int64_t kv_heads, int64_t head_dim);
  // mamba_ssm's Mamba2 defaults: d_inner = expand * d_model, heads = d_inner / head_dim.
  static Mamba2Config standard(int64_t d_model, int64_t expand = 2, int64_t head_dim = 64, int64_t d_state = 128,
                               int64_t n_groups = 1);

  void validate() const;  // throws Error naming the inconsistent field
  int64_t conv_channels() const { return x_heads * head_dim + (b_groups + n_groups) * d_state; }
  int64_t in_proj_rows() const { return d_inner + conv_channels() + n_heads; }
  int64_t group_size() const { return norm_group_size > 0 ? norm_group_size : d_inner / n_groups; }
  bool dt_clamped() const { return dt_min > 0.0 || dt_max < std::numeric_limits<double>::infinity(); }
};

// Decode state of one layer: the last K-1 pre-conv inputs of [x | B | C] and the SSM state.
struct Mamba2Cache {
  Tensor conv_state;  // [B, C_conv, K-1], oldest first
  Tensor ssm_state;   // [B, H, P, N]
  int64_t bytes() const;  // allocated bytes of both buffers
};

struct Mamba2Output {
  Tensor y;      // [B, T, d_model]
  Mamba2Cache state;  // after the last token (detached), ready for step()
};

// A view of one layer's parameters in a ParamStore (looked up by name at each call, so the store may
// keep growing).
class Mamba2Layer {
 public:
  Mamba2Layer(const Mamba2Config& cfg, ParamStore& store, std::string prefix);

  // Names (with prefix) and shapes of the layer's parameters, in registration order.
  static std::vector<std::pair<std::string, Shape>> parameter_shapes(const Mamba2Config& cfg,
                                                                     const std::string& prefix);
  // Registers the parameters in `store`, initialised as mamba_ssm / RECIPE: Linear and Conv1d with
  // PyTorch's default U(+-1/sqrt(fan_in)), dt_bias = softplus^-1(exp(U(log 1e-3, log 1e-1)) floored
  // at 1e-4), A_log = log U(1, 16), D = 1, norm = 1; Philox streams of `seed`, deterministic.
  static void init_params(const Mamba2Config& cfg, ParamStore& store, const std::string& prefix, uint64_t seed);

  // x: [B, T, d_model] -> y [B, T, d_model] through tracked ops (chunked SSD, mamba_ssm's
  // ssd_minimal algorithm). `init`, when given, continues that state (conv and SSM) instead of zeros.
  Mamba2Output forward(const Tensor& x, const Mamba2Cache* init = nullptr) const;
  // One decode token: x [B, 1, d_model] -> [B, 1, d_model], advancing `cache` in place. Untracked.
  Tensor step(const Tensor& x, Mamba2Cache& cache) const;
  Mamba2Cache make_cache(int64_t batch) const;  // zeros

  const Mamba2Config& config() const { return cfg_; }
  const Tensor& param(const std::string& name) const { return store_->get(prefix_ + name); }

 private:
  Mamba2Config cfg_;
  ParamStore* store_;
  std::string prefix_;
};

// The SSD scan in chunked form (ssd_minimal): x [B, T, H, P] (already multiplied by dt), a [B, T, H]
// (= A * dt), b, c [B, T, H, N], h0 [B, H, P, N] or undefined -> y [B, T, H, P] without the D term,
// and the final state [B, H, P, N]. Tracked; T need not be a multiple of chunk.
std::pair<Tensor, Tensor> ssd_chunked(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& c,
                                      int64_t chunk, const Tensor& h0 = Tensor());

}  // namespace zebra
