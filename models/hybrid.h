// The hybrid decoder: the teacher's embeddings, norms and SwiGLU MLPs around one mixer per layer,
// chosen by a plan from {attention, mla, mamba2}; built from a teacher (RECIPE.md "Init"), trained
// with autograd, decoded with per-layer caches, saved as config.json + model.safetensors
// (docs/formats.md, "Hybrid checkpoints").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "models/llama.h"
#include "models/mamba2.h"
#include "models/mla.h"

namespace zebra {

// The mixer of one layer. Open for more kinds (Gated DeltaNet): add a name in hybrid.cpp's table.
enum class MixerKind { Attention, Mla, Mamba2 };

const char* mixer_name(MixerKind k);  // "attention", "mla", "mamba2"
// The kind named `name`; an unknown name is an Error naming `field` and the known names.
MixerKind parse_mixer(const std::string& name, const std::string& field = "layer_types");

// A plan of `num_layers` layers with MLA at `mla_layers` and `rest` elsewhere; an index out of
// range or listed twice is an Error naming it.
std::vector<MixerKind> plan_with_mla_at(int64_t num_layers, const std::vector<int64_t>& mla_layers,
                                        MixerKind rest = MixerKind::Mamba2);

struct HybridConfig {
  LlamaConfig teacher;          // embeddings, MLPs, norms, vocab; attention layers' shape and RoPE
  std::vector<MixerKind> plan;  // one per layer
  MlaConfig mla;                // shared by every mla layer
  Mamba2Config mamba2;          // shared by every mamba2 layer

  void validate() const;  // throws Error naming the inconsistent field
  int64_t count(MixerKind k) const;
};

// The MLA shape a Zebra student gives a teacher's layers (RECIPE.md, MLA layer): the teacher's heads
// and kv heads, v_head_dim = head_dim, interleaved RoPE on d_rope dims with the teacher's theta, and
// YaRN (same factor and original length) where the teacher scales its RoPE.
MlaConfig mla_config_for(const LlamaConfig& teacher, int64_t q_rank, int64_t kv_rank, int64_t rope_dim,
                         int64_t nope_dim);

// config.json of a hybrid: the teacher's Hugging Face fields plus "zebra_hybrid" (format version),
// "layer_types", "mla_config" and "mamba2_config" with every dimension.
nlohmann::json hybrid_config_json(const HybridConfig& cfg);
// Refuses unknown mixer names, a plan whose length is not num_hidden_layers and inconsistent
// dimensions, with an Error naming `origin` and the field.
HybridConfig parse_hybrid_config(const nlohmann::json& j, const std::string& origin);

// Decode caches, one slot per layer; only the slot of the layer's kind is filled.
struct HybridCache {
  std::vector<Tensor> k, v;          // attention: [B, capacity, G, head_dim]
  std::vector<MlaCache> mla;         // mla: latent c + rotated k_rope
  std::vector<Mamba2Cache> mamba2;   // mamba2: conv + SSM state (fixed size)
  int64_t length = 0;                // positions filled
  int64_t capacity = 0;
  int64_t batch = 0;
  int64_t kv_bytes() const;      // attention K and V buffers
  int64_t latent_bytes() const;  // MLA buffers
  int64_t state_bytes() const;   // Mamba2 conv + SSM states
  int64_t bytes() const { return kv_bytes() + latent_bytes() + state_bytes(); }
};

class HybridModel {
 public:
  // Weights ~ N(0, init_std), norms 1, biases 0; mla layers by MlaLayer::add_parameters, mamba2
  // layers by Mamba2Layer::init_params; Philox streams of `seed`.
  HybridModel(const HybridConfig& cfg, uint64_t seed, double init_std = 0.02);
  static HybridModel uninitialized(const HybridConfig& cfg);  // for loaders that fill every tensor
  // Copies embeddings, lm_head, norms, MLPs and attention layers; mla layers by SVD
  // (init_mla_from_attention), mamba2 layers by init_params + init_mamba2_from_attention.
  static HybridModel from_teacher(const LlamaModel& teacher, const std::vector<MixerKind>& plan,
                                  const MlaConfig& mla, uint64_t seed);

  // ids: [B, T] -> logits [B, T, vocab], tracked (training); token t at position t.
  Tensor forward(const Tensor& ids);
  // Decoding: the tokens continue `cache` at position cache->length and it grows by T. Untracked
  // (use under NoGrad).
  Tensor forward(const Tensor& ids, HybridCache* cache);
  HybridCache make_cache(int64_t batch, int64_t capacity) const;

  const HybridConfig& config() const { return cfg_; }
  ParamStore& params() { return params_; }
  const ParamStore& params() const { return params_; }
  // Names and shapes of every parameter, in registration order.
  static std::vector<std::pair<std::string, Shape>> parameter_shapes(const HybridConfig& cfg);

 private:
  explicit HybridModel(const HybridConfig& cfg);
  Tensor attention(int64_t i, const Tensor& h, HybridCache* cache, int64_t pos);
  Tensor layer(int64_t i, const Tensor& x, HybridCache* cache, int64_t pos);
  HybridConfig cfg_;
  RopeConfig rope_;
  ParamStore params_;
};

// Writes dir/config.json (hybrid_config_json) and dir/model.safetensors (f32), each atomically.
void save_hybrid(const HybridModel& model, const std::string& dir);
// Reads them back bit-exactly; a missing, mis-shaped or unexpected tensor is an Error naming it.
HybridModel load_hybrid(const std::string& dir);
// dir/config.json exists and carries the "zebra_hybrid" marker (a teacher directory does not).
bool is_hybrid_dir(const std::string& dir);

// Decode memory as the papers count it (RECIPE.md, "KV %"): cached values per token, teacher
// 2*L*g*p; hybrid: attention 2*g*p, mla r_kv + d_rope, mamba2 0. The Mamba2 state is fixed per
// sequence and reported apart.
struct KvAccounting {
  int64_t teacher_values_per_token = 0;
  int64_t hybrid_values_per_token = 0;
  double percent = 0.0;                      // 100 * hybrid / teacher
  int64_t mamba2_state_bytes_per_layer = 0;  // f32: (K-1)*C_conv + H*P*N values
  int64_t mamba2_state_bytes = 0;            // all mamba2 layers, one sequence
  int64_t attention_layers = 0, mla_layers = 0, mamba2_layers = 0;
};
KvAccounting kv_accounting(const HybridConfig& cfg);

}  // namespace zebra
