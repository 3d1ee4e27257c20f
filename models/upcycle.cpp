#include "models/upcycle.h"

#include "autograd/node.h"
#include "ops/ops.h"

namespace zebra {

Mamba2Config mamba2_config_for(const LlamaConfig& t) {
  return Mamba2Config::upcycled(t.hidden_size, t.num_heads, t.num_kv_heads, t.head_dim);
}

void init_mamba2_from_attention(const LlamaModel& teacher, int64_t layer, const Mamba2Config& cfg, ParamStore& store,
                                const std::string& prefix) {
  const LlamaConfig& t = teacher.config();
  ZCHECK(layer >= 0 && layer < t.num_layers, "mamba2 init: layer ", layer, " out of range for a ", t.num_layers,
         "-layer teacher");
  ZCHECK(!t.attention_bias, "mamba2 init: the teacher's attention has biases, which the mapping has no place for");
  const int64_t p = t.head_dim, qd = t.num_heads * p, kvd = t.num_kv_heads * p;
  ZCHECK(cfg.d_model == t.hidden_size && cfg.d_inner == qd && cfg.head_dim == p && cfg.d_state == p &&
             cfg.n_heads == t.num_heads && cfg.n_groups == t.num_heads && cfg.x_heads == t.num_kv_heads &&
             cfg.b_groups == t.num_kv_heads,
         "mamba2 init: the Mamba2 config does not mirror the teacher's attention (use mamba2_config_for)");
  std::string tp = "model.layers." + std::to_string(layer) + ".self_attn.";
  NoGrad ng;
  Tensor in_proj = store.get(prefix + "in_proj.weight").detach();  // [z | x | B | C | dt, d]
  const int64_t z = cfg.d_inner;
  slice(in_proj, 0, z, z + kvd).copy_(teacher.params().get(tp + "v_proj.weight"));
  slice(in_proj, 0, z + kvd, z + 2 * kvd).copy_(teacher.params().get(tp + "k_proj.weight"));
  slice(in_proj, 0, z + 2 * kvd, z + 2 * kvd + qd).copy_(teacher.params().get(tp + "q_proj.weight"));
  store.get(prefix + "out_proj.weight").detach().copy_(teacher.params().get(tp + "o_proj.weight"));
}

}  // namespace zebra

namespace zebra {

int64_t energy_rank(const Tensor& s_in, double delta) {
  ZCHECK(delta > 0 && delta <= 1, "energy_rank: delta must be in (0, 1], got ", delta);
  std::vector<double> s = s_in.to_double();
  double total = 0, acc = 0;
  for (double v : s) total += v * v;
  int64_t r = int64_t(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    acc += s[i] * s[i];
    if (acc >= delta * total) {
      r = int64_t(i) + 1;
      break;
    }
  }
  r = (r + 7) / 8 * 8;
  return std::min<int64_t>(r, int64_t(s.size()));
}

namespace {
double kept_energy(const Tensor& s_in, int64_t r) {
  std::vector<double> s = s_in.to_double();
  double total = 0, acc = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    total += s[i] * s[i];
    if (int64_t(i) < r) acc += s[i] * s[i];
  }
  return total > 0 ? acc / total : 1.0;
}

// rows [a, b) of m
Tensor rows(const Tensor& m, int64_t a, int64_t b) { return slice(m, 0, a, b); }

// diag(S[:r]) V^T[:r]: [r, N]
Tensor scaled_vt(const Svd& f, int64_t r) {
  Tensor vt = rows(f.Vt, 0, r).contiguous().clone();
  std::vector<float> s = f.S.to_vector();
  float* p = vt.data<float>();
  const int64_t n = vt.size(1);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < n; ++j) p[i * n + j] *= s[size_t(i)];
  return vt;
}
}  // namespace

MlaInitReport init_mla_from_attention(const LlamaModel& teacher, int64_t layer, const MlaConfig& cfg, ParamStore& store,
                                      const std::string& prefix) {
  const LlamaConfig& t = teacher.config();
  const int64_t p = t.head_dim, H = t.num_heads, d = t.hidden_size;
  const int64_t dn = cfg.qk_nope_dim, dr = cfg.qk_rope_dim, g = cfg.kv_heads;
  ZCHECK(layer >= 0 && layer < t.num_layers, "mla init: layer ", layer, " out of range for a ", t.num_layers,
         "-layer teacher");
  ZCHECK(!t.attention_bias, "mla init: the teacher's attention has biases, which MLA has no place for");
  ZCHECK(cfg.d_model == d && cfg.n_heads == H, "mla init: d_model and n_heads must be the teacher's (", d, ", ", H, ")");
  ZCHECK(g == t.num_kv_heads || g == H, "mla init: kv_heads must be the teacher's ", t.num_kv_heads, " or n_heads ", H);
  ZCHECK(dn + dr <= p, "mla init: qk_nope_dim + qk_rope_dim (", dn + dr, ") exceed the teacher's head_dim ", p);
  ZCHECK(cfg.v_head_dim == p, "mla init: v_head_dim must be the teacher's head_dim ", p);
  ZCHECK(!cfg.use_lora_norm, "mla init: the SVD init has no place for latent norms (use_lora_norm)");
  MlaLayer mla(cfg, prefix);
  for (auto& [name, shape] : mla.parameter_shapes())
    ZCHECK(store.has(name) && store.get(name).shape() == shape, "mla init: parameter '", name, "' missing or ",
           "mis-shaped in the store (add_parameters first)");
  const std::string tp = "model.layers." + std::to_string(layer) + ".self_attn.";
  NoGrad ng;
  MlaInitReport rep;
  // Query: keep each head's first d_nope rows and last d_rope rows.
  auto select_q = [&](const Tensor& m) {  // m: [H * p, cols] -> [H * (dn + dr), cols]
    std::vector<Tensor> parts;
    for (int64_t h = 0; h < H; ++h) {
      if (dn > 0) parts.push_back(rows(m, h * p, h * p + dn));
      parts.push_back(rows(m, h * p + p - dr, h * p + p));
    }
    return concat(parts, 0);
  };
  const Tensor& wq = teacher.params().get(tp + "q_proj.weight");
  if (cfg.q_lora_rank > 0) {
    Svd f = svd(wq.detach());
    ZCHECK(cfg.q_lora_rank <= f.S.numel(), "mla init: q_lora_rank ", cfg.q_lora_rank, " exceeds the rank bound ",
           f.S.numel(), " of q_proj [", wq.size(0), ", ", wq.size(1), "]");
    store.get(prefix + "q_a_proj.weight").detach().copy_(scaled_vt(f, cfg.q_lora_rank));
    store.get(prefix + "q_b_proj.weight").detach().copy_(select_q(slice(f.U, 1, 0, cfg.q_lora_rank)));
    rep.q_energy = kept_energy(f.S, cfg.q_lora_rank);
  } else {
    store.get(prefix + "q_proj.weight").detach().copy_(select_q(wq.detach()));
  }
  // Keys and values: one joint SVD of [W_k; W_v] with kv heads repeated to the MLA's g.
  const Tensor wk = teacher.params().get(tp + "k_proj.weight").detach();
  const Tensor wv = teacher.params().get(tp + "v_proj.weight").detach();
  const int64_t rep_kv = g / t.num_kv_heads;
  std::vector<Tensor> kparts, vparts;
  for (int64_t j = 0; j < g; ++j) {
    int64_t tj = j / rep_kv;
    kparts.push_back(rows(wk, tj * p, tj * p + p));
    vparts.push_back(rows(wv, tj * p, tj * p + p));
  }
  Tensor stacked = concat({concat(kparts, 0), concat(vparts, 0)}, 0);  // [2 g p, d]
  Svd f = svd(stacked);
  const int64_t r = cfg.kv_lora_rank;
  ZCHECK(r <= f.S.numel(), "mla init: kv_lora_rank ", r, " exceeds the rank bound ", f.S.numel(),
         " of the stacked key/value projections [", stacked.size(0), ", ", d, "]");
  // Shared rope key: the mean over the teacher's kv heads of each head's last d_rope rows of W_k.
  Tensor krope = Tensor::zeros({dr, d});
  for (int64_t j = 0; j < t.num_kv_heads; ++j) krope = add(krope, rows(wk, j * p + p - dr, j * p + p));
  krope = mul(krope, 1.0 / double(t.num_kv_heads));
  store.get(prefix + "kv_a_proj_with_mqa.weight").detach().copy_(concat({scaled_vt(f, r), krope}, 0));
  Tensor u = slice(f.U, 1, 0, r);  // [2 g p, r]
  std::vector<Tensor> bparts;
  for (int64_t j = 0; j < g; ++j) {
    if (dn > 0) bparts.push_back(rows(u, j * p, j * p + dn));
    bparts.push_back(rows(u, g * p + j * p, g * p + j * p + p));
  }
  store.get(prefix + "kv_b_proj.weight").detach().copy_(concat(bparts, 0));
  rep.kv_energy = kept_energy(f.S, r);
  store.get(mla.out_proj_name()).detach().copy_(teacher.params().get(tp + "o_proj.weight"));
  return rep;
}

}  // namespace zebra
