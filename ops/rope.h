// Rotary position embedding with Llama-3 and YaRN frequency scaling, forward + backward.
#pragma once
#include <string>

#include "core/tensor.h"

namespace zebra {

struct RopeScaling {
  enum class Type { None, Llama3, Yarn } type = Type::None;
  double factor = 1.0;
  // llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position = 8192;
  // yarn
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  // Multiplies cos and sin (YaRN's attention factor); 0 = the default 0.1*ln(factor)+1 for yarn, 1 otherwise.
  double attention_factor = 0.0;
};

struct RopeConfig {
  int64_t dim = 0;          // rotated dims (even)
  double theta = 10000.0;
  RopeScaling scaling;
  // false: half-split pairs (i, i + dim/2) as in HF Llama; true: adjacent pairs (2i, 2i+1).
  bool interleaved = false;
};

// inv_freq[i] for i < dim/2 after scaling, in double.
std::vector<double> rope_inv_freq(const RopeConfig& cfg);
double rope_attention_factor(const RopeConfig& cfg);  // the cos/sin multiplier

// x: [B, T, H, dim]; token t of every batch row sits at position pos_offset + t.
Tensor rope(const Tensor& x, const RopeConfig& cfg, int64_t pos_offset = 0);

}  // namespace zebra
