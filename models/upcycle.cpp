#include "models/upcycle.h"

#include "autograd/node.h"
#include "ops/shape_ops.h"

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
