#include "ops/rope.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <mutex>
#include <numbers>

#include "autograd/node.h"
#include "ops/cpu/rope.h"
#include "ops/dispatch.h"

namespace zebra {

namespace {

void check_config(const RopeConfig& cfg, const char* op) {
  const RopeScaling& s = cfg.scaling;
  ZCHECK(cfg.dim > 0 && cfg.dim % 2 == 0, op, ": rotated dim must be positive and even, got ", cfg.dim);
  ZCHECK(std::isfinite(cfg.theta) && cfg.theta > 0.0, op, ": theta must be > 0, got ", cfg.theta);
  ZCHECK(std::isfinite(s.attention_factor) && s.attention_factor >= 0.0, op,
         ": attention_factor must be >= 0 (0 = default), got ", s.attention_factor);
  if (s.type == RopeScaling::Type::None) return;
  ZCHECK(std::isfinite(s.factor) && s.factor >= 1.0, op, ": scaling factor must be >= 1, got ", s.factor);
  ZCHECK(s.original_max_position > 0.0, op, ": original_max_position must be > 0, got ", s.original_max_position);
  if (s.type == RopeScaling::Type::Llama3) {
    ZCHECK(s.low_freq_factor > 0.0 && s.high_freq_factor > s.low_freq_factor, op,
           ": llama3 scaling needs 0 < low_freq_factor < high_freq_factor, got low ", s.low_freq_factor, ", high ",
           s.high_freq_factor);
  } else {
    ZCHECK(s.beta_fast > 0.0 && s.beta_slow > 0.0, op, ": yarn beta_fast and beta_slow must be > 0, got ",
           s.beta_fast, " and ", s.beta_slow);
    ZCHECK(cfg.theta != 1.0, op, ": yarn needs theta != 1 (its correction range divides by ln theta)");
  }
}

// Transformers' _compute_llama3_parameters: long wavelengths are slowed by `factor`, short ones kept,
// and the band between blends the two.
double llama3_scale(double f, const RopeScaling& s) {
  const double low_wavelen = s.original_max_position / s.low_freq_factor;
  const double high_wavelen = s.original_max_position / s.high_freq_factor;
  const double wavelen = 2.0 * std::numbers::pi / f;
  if (wavelen < high_wavelen) return f;
  if (wavelen > low_wavelen) return f / s.factor;
  const double smooth = (s.original_max_position / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  return (1.0 - smooth) * f / s.factor + smooth * f;
}

// Transformers' _compute_yarn_parameters: dims below the correction range extrapolate (keep inv_freq),
// dims above it interpolate (inv_freq / factor), a linear ramp in between.
void yarn_scale(std::vector<double>& inv_freq, const RopeConfig& cfg) {
  const RopeScaling& s = cfg.scaling;
  const double dim = double(cfg.dim);
  auto correction_dim = [&](double rotations) {
    return dim * std::log(s.original_max_position / (rotations * 2.0 * std::numbers::pi)) / (2.0 * std::log(cfg.theta));
  };
  const double low = std::max(std::floor(correction_dim(s.beta_fast)), 0.0);
  double high = std::min(std::ceil(correction_dim(s.beta_slow)), dim - 1.0);
  if (low == high) high += 0.001;  // as transformers: avoids a zero-width ramp
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolation = 1.0 - ramp;
    inv_freq[i] = inv_freq[i] / s.factor * (1.0 - extrapolation) + inv_freq[i] * extrapolation;
  }
}

}  // namespace

std::vector<double> rope_inv_freq(const RopeConfig& cfg) {
  check_config(cfg, "rope_inv_freq");
  std::vector<double> inv_freq(size_t(cfg.dim / 2));
  for (size_t i = 0; i < inv_freq.size(); ++i) inv_freq[i] = std::pow(cfg.theta, -2.0 * double(i) / double(cfg.dim));
  switch (cfg.scaling.type) {
    case RopeScaling::Type::None: break;
    case RopeScaling::Type::Llama3:
      for (double& f : inv_freq) f = llama3_scale(f, cfg.scaling);
      break;
    case RopeScaling::Type::Yarn: yarn_scale(inv_freq, cfg); break;
  }
  return inv_freq;
}

double rope_attention_factor(const RopeConfig& cfg) {
  check_config(cfg, "rope_attention_factor");
  const RopeScaling& s = cfg.scaling;
  if (s.attention_factor > 0.0) return s.attention_factor;
  if (s.type == RopeScaling::Type::Yarn && s.factor > 1.0) return 0.1 * std::log(s.factor) + 1.0;
  return 1.0;
}

namespace {
// Every layer of a model rotates q and k at the same positions, so the cos/sin table of a call is
// usually the previous call's: keep the last few (tables are immutable once built).
cpu::RopeTable cached_table(const RopeConfig& cfg, int64_t T, int64_t pos_offset) {
  struct Entry {
    std::vector<double> inv_freq;
    double scale;
    int64_t T, pos;
    cpu::RopeTable table;
  };
  static std::mutex mu;
  static std::deque<Entry> cache;
  std::vector<double> inv = rope_inv_freq(cfg);
  double scale = rope_attention_factor(cfg);
  {
    std::lock_guard<std::mutex> lk(mu);
    for (const Entry& e : cache)
      if (e.T == T && e.pos == pos_offset && e.scale == scale && e.inv_freq == inv) return e.table;
  }
  cpu::RopeTable table = cpu::rope_table(inv, scale, T, pos_offset);
  std::lock_guard<std::mutex> lk(mu);
  cache.push_front({std::move(inv), scale, T, pos_offset, table});
  if (cache.size() > 8) cache.pop_back();
  return table;
}
}  // namespace

Tensor rope(const Tensor& x, const RopeConfig& cfg, int64_t pos_offset) {
  check_defined(x, "rope", "x");
  expect_cpu("rope", {&x});
  expect_f32("rope", {{"x", &x}});
  check_rank(x, 4, "rope", "x");
  check_config(cfg, "rope");
  ZCHECK(x.size(3) == cfg.dim, "rope: last axis of x ", x.summary(), " must equal the rotated dim ", cfg.dim);
  ZCHECK(pos_offset >= 0, "rope: pos_offset must be >= 0, got ", pos_offset);
  cpu::RopeTable table = cached_table(cfg, x.size(1), pos_offset);
  Tensor out = cpu::rope_apply(x.contiguous(), table, cfg.interleaved, false);
  const bool interleaved = cfg.interleaved;
  return record(out, "rope", {x}, [table, interleaved](const Tensor& g, const std::vector<bool>& needs) {
    return std::vector<Tensor>{cpu::rope_apply(g.contiguous(), table, interleaved, true)};
  });
}

}  // namespace zebra
