// Initialising student mixers from a teacher's attention layers (RECIPE.md "Mamba2 initialisation
// from a teacher attention layer", MambaInLlama's mapping).
#pragma once
#include <string>

#include "models/llama.h"
#include "models/mamba2.h"

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
