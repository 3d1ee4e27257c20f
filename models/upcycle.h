// Initialising student mixers from a teacher's attention layers (RECIPE.md "Mamba2 initialisation
// from a teacher attention layer", MambaInLlama's mapping).
#pragma once
#include <string>

#include "models/llama.h"
#include "models/mamba2.h"
#include "models/mla.h"

namespace zebra {

// The Mamba2 shape that mirrors teacher attention: d_inner = heads*head_dim, x and B projected with
// the teacher's kv heads and repeated to its query heads, C per query head, d_state = head_dim.
Mamba2Config mamba2_config_for(const LlamaConfig& teacher);

// Writes the teacher layer's projections into a Mamba2 layer's parameters under `prefix` (which
// init_params must already have filled): in_proj's x rows <- W_v, B rows <- W_k, C rows <- W_q,
// out_proj <- W_o. z and dt rows, conv, dt_bias, A_log, D and the norm keep their initial values.
// cfg must be mamba2_config_for(teacher) (or equal in every dimension).
void init_mamba2_from_attention(const LlamaModel& teacher, int64_t layer, const Mamba2Config& cfg, ParamStore& store,
                                const std::string& prefix);

}  // namespace zebra

namespace zebra {

// Smallest r whose singular values keep a fraction `delta` of the energy, sum(s[:r]^2) / sum(s^2),
// rounded up to a multiple of 8 and capped at the number of values (X-EcoMLA's energy rank).
int64_t energy_rank(const Tensor& singular_values, double delta);

struct MlaInitReport {
  double q_energy = 1.0;   // energy kept by the query factorisation (1 without q_lora)
  double kv_energy = 1.0;  // energy kept by the joint key/value factorisation
};

// Initialises an MLA layer's parameters under `prefix` from teacher attention layer `layer` by SVD
// (RECIPE.md, X-EcoMLA): W_q = U S V^T gives q_a = S[:r_q] V^T[:r_q] and q_b = U[:, :r_q] with each
// head's first d_nope and last d_rope rows; the stacked [W_k; W_v] (kv heads repeated to the MLA's)
// gives kv_a = [S[:r_kv] V^T[:r_kv]; mean over kv heads of W_k's last d_rope rows per head] and
// kv_b = U[:, :r_kv] split into each group's first d_nope key rows and its value rows; o_proj is
// copied. Needs n_heads = the teacher's, kv_heads = the teacher's (Zebra) or n_heads (X-EcoMLA),
// d_nope + d_rope <= head_dim, v_head_dim = head_dim, ranks within the matrices' ranks.
MlaInitReport init_mla_from_attention(const LlamaModel& teacher, int64_t layer, const MlaConfig& cfg,
                                      ParamStore& store, const std::string& prefix);

}  // namespace zebra
