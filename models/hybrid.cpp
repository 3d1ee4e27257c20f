#include "models/hybrid.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "autograd/node.h"
#include "core/safetensors.h"
#include "models/hf.h"
#include "models/upcycle.h"
#include "ops/ops.h"

namespace zebra {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
constexpr int kFormatVersion = 1;
constexpr uint64_t kStream = 0x9E3779B97F4A7C15ull;

struct MixerEntry {
  MixerKind kind;
  const char* name;
};
constexpr MixerEntry kMixers[] = {{MixerKind::Attention, "attention"}, {MixerKind::Mla, "mla"}, {MixerKind::Mamba2, "mamba2"}};

std::string layer_prefix(int64_t i) { return "model.layers." + std::to_string(i) + "."; }
bool starts_with(const std::string& s, const std::string& pre) { return s.compare(0, pre.size(), pre) == 0; }
bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
}  // namespace

const char* mixer_name(MixerKind k) {
  for (const MixerEntry& e : kMixers)
    if (e.kind == k) return e.name;
  return "?";
}

MixerKind parse_mixer(const std::string& name, const std::string& field) {
  std::string known;
  for (const MixerEntry& e : kMixers) {
    if (name == e.name) return e.kind;
    known += known.empty() ? e.name : std::string(", ") + e.name;
  }
  fail(field, ": unknown mixer '", name, "' (known: ", known, ")");
}

std::vector<MixerKind> plan_with_mla_at(int64_t num_layers, const std::vector<int64_t>& mla_layers, MixerKind rest) {
  ZCHECK(num_layers > 0, "plan: the model has no layers");
  std::vector<MixerKind> plan(size_t(num_layers), rest);
  std::vector<bool> seen(size_t(num_layers), false);
  for (int64_t i : mla_layers) {
    ZCHECK(i >= 0 && i < num_layers, "plan: mla layer ", i, " out of range for a ", num_layers, "-layer model");
    ZCHECK(!seen[size_t(i)], "plan: mla layer ", i, " is listed twice");
    seen[size_t(i)] = true;
    plan[size_t(i)] = MixerKind::Mla;
  }
  return plan;
}

int64_t HybridConfig::count(MixerKind k) const { return int64_t(std::count(plan.begin(), plan.end(), k)); }

void HybridConfig::validate() const {
  teacher.validate();
  ZCHECK(int64_t(plan.size()) == teacher.num_layers, "hybrid config: layer_types has ", plan.size(),
         " entries but num_hidden_layers is ", teacher.num_layers);
  if (count(MixerKind::Mla) > 0) {
    mla.validate();
    ZCHECK(mla.d_model == teacher.hidden_size, "hybrid config: mla_config.hidden_size (", mla.d_model,
           ") must equal hidden_size (", teacher.hidden_size, ")");
  }
  if (count(MixerKind::Mamba2) > 0) {
    mamba2.validate();
    ZCHECK(mamba2.d_model == teacher.hidden_size, "hybrid config: mamba2_config.hidden_size (", mamba2.d_model,
           ") must equal hidden_size (", teacher.hidden_size, ")");
  }
}

MlaConfig mla_config_for(const LlamaConfig& t, int64_t q_rank, int64_t kv_rank, int64_t rope_dim, int64_t nope_dim) {
  MlaConfig m;
  m.d_model = t.hidden_size;
  m.n_heads = t.num_heads;
  m.kv_heads = t.num_kv_heads;
  m.q_lora_rank = q_rank;
  m.kv_lora_rank = kv_rank;
  m.qk_rope_dim = rope_dim;
  m.qk_nope_dim = nope_dim;
  m.v_head_dim = t.head_dim;
  m.rope.dim = rope_dim;
  m.rope.theta = t.rope_theta;
  m.rope.interleaved = true;
  if (t.rope_scaling.type != RopeScaling::Type::None) {
    m.rope.scaling.type = RopeScaling::Type::Yarn;
    m.rope.scaling.factor = t.rope_scaling.factor;
    m.rope.scaling.original_max_position = t.rope_scaling.original_max_position;
  }
  return m;
}

// ---- config.json ----

namespace {
const char* scaling_name(RopeScaling::Type t) {
  return t == RopeScaling::Type::Llama3 ? "llama3" : t == RopeScaling::Type::Yarn ? "yarn" : "default";
}

json rope_json(const RopeConfig& r) {
  const RopeScaling& s = r.scaling;
  return {{"dim", r.dim},
          {"theta", r.theta},
          {"interleaved", r.interleaved},
          {"rope_type", scaling_name(s.type)},
          {"factor", s.factor},
          {"low_freq_factor", s.low_freq_factor},
          {"high_freq_factor", s.high_freq_factor},
          {"original_max_position_embeddings", s.original_max_position},
          {"beta_fast", s.beta_fast},
          {"beta_slow", s.beta_slow},
          {"attention_factor", s.attention_factor}};
}

// Typed field access whose errors name origin and the dotted field.
struct Reader {
  const json& j;
  std::string origin, path;
  const json& at(const char* k) const {
    ZCHECK(j.contains(k), origin, ": missing field '", path, k, "'");
    return j[k];
  }
  int64_t integer(const char* k) const {
    const json& v = at(k);
    ZCHECK(v.is_number_integer(), origin, ": field '", path, k, "' must be an integer, got ", v.dump());
    return v.get<int64_t>();
  }
  double number(const char* k) const {
    const json& v = at(k);
    ZCHECK(v.is_number(), origin, ": field '", path, k, "' must be a number, got ", v.dump());
    return v.get<double>();
  }
  bool boolean(const char* k) const {
    const json& v = at(k);
    ZCHECK(v.is_boolean(), origin, ": field '", path, k, "' must be true or false, got ", v.dump());
    return v.get<bool>();
  }
  std::string string(const char* k) const {
    const json& v = at(k);
    ZCHECK(v.is_string(), origin, ": field '", path, k, "' must be a string, got ", v.dump());
    return v.get<std::string>();
  }
  Reader object(const char* k) const {
    const json& v = at(k);
    ZCHECK(v.is_object(), origin, ": field '", path, k, "' must be an object");
    return Reader{v, origin, path + k + "."};
  }
};

RopeConfig parse_rope(const Reader& r) {
  RopeConfig c;
  c.dim = r.integer("dim");
  c.theta = r.number("theta");
  c.interleaved = r.boolean("interleaved");
  RopeScaling& s = c.scaling;
  std::string type = r.string("rope_type");
  if (type == "llama3") s.type = RopeScaling::Type::Llama3;
  else if (type == "yarn") s.type = RopeScaling::Type::Yarn;
  else ZCHECK(type == "default", r.origin, ": field '", r.path, "rope_type' is '", type, "'; expected default, llama3 or yarn");
  s.factor = r.number("factor");
  s.low_freq_factor = r.number("low_freq_factor");
  s.high_freq_factor = r.number("high_freq_factor");
  s.original_max_position = r.number("original_max_position_embeddings");
  s.beta_fast = r.number("beta_fast");
  s.beta_slow = r.number("beta_slow");
  s.attention_factor = r.number("attention_factor");
  return c;
}

// Every integer field of the MLA and Mamba2 sections, once, for writing and reading.
#define ZEBRA_MLA_INTS(X)                                                                               \
  X("hidden_size", d_model) X("num_heads", n_heads) X("num_kv_heads", kv_heads) X("q_lora_rank", q_lora_rank) \
  X("kv_lora_rank", kv_lora_rank) X("qk_rope_head_dim", qk_rope_dim) X("qk_nope_head_dim", qk_nope_dim)       \
  X("v_head_dim", v_head_dim)
#define ZEBRA_MAMBA2_INTS(X)                                                                              \
  X("hidden_size", d_model) X("d_inner", d_inner) X("num_heads", n_heads) X("head_dim", head_dim)           \
  X("d_state", d_state) X("n_groups", n_groups) X("x_heads", x_heads) X("b_groups", b_groups)               \
  X("conv_kernel", conv_kernel) X("chunk_size", chunk_size) X("norm_group_size", norm_group_size)
}  // namespace

json hybrid_config_json(const HybridConfig& cfg) {
  json j = hf_config_json(cfg.teacher);
  j["architectures"] = {"ZebraHybridForCausalLM"};
  j["zebra_hybrid"] = kFormatVersion;
  json types = json::array();
  for (MixerKind k : cfg.plan) types.push_back(mixer_name(k));
  j["layer_types"] = types;
  if (cfg.count(MixerKind::Mla) > 0) {
    const MlaConfig& m = cfg.mla;
    json o;
#define X(key, member) o[key] = m.member;
    ZEBRA_MLA_INTS(X)
#undef X
    o["use_lora_layer_norm"] = m.use_lora_norm;
    o["norm_eps"] = m.norm_eps;
    o["softmax_scale"] = m.softmax_scale;
    o["mscale_all_dim"] = m.mscale_all_dim;
    o["out_proj_name"] = m.naming == MlaNaming::Zebra ? "out_proj" : "o_proj";
    o["rope"] = rope_json(m.rope);
    j["mla_config"] = o;
  }
  if (cfg.count(MixerKind::Mamba2) > 0) {
    const Mamba2Config& m = cfg.mamba2;
    json o;
#define X(key, member) o[key] = m.member;
    ZEBRA_MAMBA2_INTS(X)
#undef X
    o["dt_min"] = m.dt_min;
    o["dt_max"] = std::isinf(m.dt_max) ? json(nullptr) : json(m.dt_max);  // null = no upper limit
    o["norm_eps"] = m.norm_eps;
    o["norm_before_gate"] = m.norm_before_gate;
    j["mamba2_config"] = o;
  }
  return j;
}

HybridConfig parse_hybrid_config(const json& j, const std::string& origin) {
  ZCHECK(j.is_object(), origin, ": config must be a JSON object");
  Reader top{j, origin, ""};
  int64_t version = top.integer("zebra_hybrid");
  ZCHECK(version == kFormatVersion, origin, ": field 'zebra_hybrid' is ", version, "; this build reads version ",
         kFormatVersion);
  HybridConfig c;
  c.teacher = parse_hf_config(j, origin);
  const json& types = top.at("layer_types");
  ZCHECK(types.is_array(), origin, ": field 'layer_types' must be a list of mixer names");
  ZCHECK(int64_t(types.size()) == c.teacher.num_layers, origin, ": field 'layer_types' has ", types.size(),
         " entries but num_hidden_layers is ", c.teacher.num_layers);
  for (size_t i = 0; i < types.size(); ++i) {
    std::string field = origin + ": field 'layer_types[" + std::to_string(i) + "]'";
    ZCHECK(types[i].is_string(), field, " must be a string, got ", types[i].dump());
    c.plan.push_back(parse_mixer(types[i].get<std::string>(), field));
  }
  if (c.count(MixerKind::Mla) > 0) {
    Reader r = top.object("mla_config");
    MlaConfig& m = c.mla;
#define X(key, member) m.member = r.integer(key);
    ZEBRA_MLA_INTS(X)
#undef X
    m.use_lora_norm = r.boolean("use_lora_layer_norm");
    m.norm_eps = r.number("norm_eps");
    m.softmax_scale = r.number("softmax_scale");
    m.mscale_all_dim = r.number("mscale_all_dim");
    std::string out = r.string("out_proj_name");
    ZCHECK(out == "out_proj" || out == "o_proj", origin, ": field 'mla_config.out_proj_name' is '", out,
           "'; expected out_proj or o_proj");
    m.naming = out == "out_proj" ? MlaNaming::Zebra : MlaNaming::DeepSeek;
    m.rope = parse_rope(r.object("rope"));
    ZCHECK(m.d_model == c.teacher.hidden_size, origin, ": field 'mla_config.hidden_size' (", m.d_model,
           ") must equal hidden_size (", c.teacher.hidden_size, ")");
  }
  if (c.count(MixerKind::Mamba2) > 0) {
    Reader r = top.object("mamba2_config");
    Mamba2Config& m = c.mamba2;
#define X(key, member) m.member = r.integer(key);
    ZEBRA_MAMBA2_INTS(X)
#undef X
    m.dt_min = r.number("dt_min");
    m.dt_max = r.at("dt_max").is_null() ? std::numeric_limits<double>::infinity() : r.number("dt_max");
    m.norm_eps = r.number("norm_eps");
    m.norm_before_gate = r.boolean("norm_before_gate");
    ZCHECK(m.d_model == c.teacher.hidden_size, origin, ": field 'mamba2_config.hidden_size' (", m.d_model,
           ") must equal hidden_size (", c.teacher.hidden_size, ")");
  }
  try {
    c.validate();
  } catch (const Error& e) {
    fail(origin, ": ", e.what());
  }
  return c;
}

// ---- caches ----

int64_t HybridCache::kv_bytes() const {
  int64_t b = 0;
  for (size_t i = 0; i < k.size(); ++i)
    if (k[i].defined()) b += int64_t(k[i].nbytes() + v[i].nbytes());
  return b;
}
int64_t HybridCache::latent_bytes() const {
  int64_t b = 0;
  for (const MlaCache& m : mla)
    if (m.buffer.defined()) b += m.bytes();
  return b;
}
int64_t HybridCache::state_bytes() const {
  int64_t b = 0;
  for (const Mamba2Cache& m : mamba2) b += m.bytes();
  return b;
}

// ---- the model ----

std::vector<std::pair<std::string, Shape>> HybridModel::parameter_shapes(const HybridConfig& cfg) {
  cfg.validate();
  const LlamaConfig& t = cfg.teacher;
  const int64_t d = t.hidden_size;
  const auto teacher_shapes = LlamaModel::parameter_shapes(t);
  std::vector<std::pair<std::string, Shape>> s;
  s.push_back({"model.embed_tokens.weight", {t.vocab_size, d}});
  for (int64_t i = 0; i < t.num_layers; ++i) {
    const std::string p = layer_prefix(i);
    s.push_back({p + "input_layernorm.weight", {d}});
    switch (cfg.plan[size_t(i)]) {
      case MixerKind::Attention:
        for (auto& e : teacher_shapes)
          if (starts_with(e.first, p + "self_attn.")) s.push_back(e);
        break;
      case MixerKind::Mla:
        for (auto& e : MlaLayer(cfg.mla, p + "mla.").parameter_shapes()) s.push_back(e);
        break;
      case MixerKind::Mamba2:
        for (auto& e : Mamba2Layer::parameter_shapes(cfg.mamba2, p + "mamba.")) s.push_back(e);
        break;
    }
    s.push_back({p + "post_attention_layernorm.weight", {d}});
    s.push_back({p + "mlp.gate_proj.weight", {t.intermediate_size, d}});
    s.push_back({p + "mlp.up_proj.weight", {t.intermediate_size, d}});
    s.push_back({p + "mlp.down_proj.weight", {d, t.intermediate_size}});
  }
  s.push_back({"model.norm.weight", {d}});
  if (!t.tie_word_embeddings) s.push_back({"lm_head.weight", {t.vocab_size, d}});
  return s;
}

HybridModel::HybridModel(const HybridConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  rope_.dim = cfg_.teacher.head_dim;
  rope_.theta = cfg_.teacher.rope_theta;
  rope_.scaling = cfg_.teacher.rope_scaling;
}

HybridModel HybridModel::uninitialized(const HybridConfig& cfg) {
  HybridModel m(cfg);
  for (auto& [name, shape] : parameter_shapes(m.cfg_)) m.params_.add(name, Tensor::empty(shape));
  return m;
}

HybridModel::HybridModel(const HybridConfig& cfg, uint64_t seed, double init_std) : HybridModel(cfg) {
  uint64_t stream = 0;
  for (auto& [name, shape] : parameter_shapes(cfg_)) {
    ++stream;
    if (params_.has(name)) continue;  // registered with the rest of its mixer below
    const uint64_t s = seed + kStream * stream;
    size_t at;
    if ((at = name.find(".mla.")) != std::string::npos) {
      MlaLayer(cfg_.mla, name.substr(0, at + 5)).add_parameters(params_, s, init_std);
    } else if ((at = name.find(".mamba.")) != std::string::npos) {
      Mamba2Layer::init_params(cfg_.mamba2, params_, name.substr(0, at + 7), s);
    } else if (ends_with(name, "norm.weight")) {
      params_.add(name, Tensor::ones(shape));
    } else if (ends_with(name, ".bias")) {
      params_.add(name, Tensor::zeros(shape));
    } else {
      params_.add(name, Tensor::normal(shape, s, 0.0, init_std));
    }
  }
}

HybridModel HybridModel::from_teacher(const LlamaModel& teacher, const std::vector<MixerKind>& plan,
                                      const MlaConfig& mla, uint64_t seed) {
  HybridConfig c;
  c.teacher = teacher.config();
  c.plan = plan;
  c.mla = mla;
  c.mamba2 = mamba2_config_for(teacher.config());
  HybridModel m(c, seed);
  NoGrad ng;
  for (auto& [name, t] : m.params_.items())
    if (teacher.params().has(name)) t.detach().copy_(teacher.params().get(name));
  for (int64_t i = 0; i < c.teacher.num_layers; ++i) {
    const std::string p = layer_prefix(i);
    if (plan[size_t(i)] == MixerKind::Mla) init_mla_from_attention(teacher, i, c.mla, m.params_, p + "mla.");
    if (plan[size_t(i)] == MixerKind::Mamba2) init_mamba2_from_attention(teacher, i, c.mamba2, m.params_, p + "mamba.");
  }
  return m;
}

HybridCache HybridModel::make_cache(int64_t batch, int64_t capacity) const {
  ZCHECK(batch > 0 && capacity > 0, "hybrid cache: batch and capacity must be positive, got ", batch, " and ", capacity);
  const LlamaConfig& t = cfg_.teacher;
  const Mamba2Config& mc = cfg_.mamba2;
  HybridCache c;
  c.batch = batch;
  c.capacity = capacity;
  for (int64_t i = 0; i < t.num_layers; ++i) {
    const MixerKind k = cfg_.plan[size_t(i)];
    const bool attn = k == MixerKind::Attention;
    c.k.push_back(attn ? Tensor::zeros({batch, capacity, t.num_kv_heads, t.head_dim}) : Tensor());
    c.v.push_back(attn ? Tensor::zeros({batch, capacity, t.num_kv_heads, t.head_dim}) : Tensor());
    c.mla.push_back(k == MixerKind::Mla ? MlaLayer(cfg_.mla, layer_prefix(i) + "mla.").make_cache(batch, capacity) : MlaCache{});
    Mamba2Cache s;
    if (k == MixerKind::Mamba2) {
      s.conv_state = Tensor::zeros({batch, mc.conv_channels(), mc.conv_kernel - 1});
      s.ssm_state = Tensor::zeros({batch, mc.n_heads, mc.head_dim, mc.d_state});
    }
    c.mamba2.push_back(s);
  }
  return c;
}

// h: [B, T, D] (normed) -> the attention mixer's output [B, T, D], the teacher's exact op sequence.
Tensor HybridModel::attention(int64_t i, const Tensor& h, HybridCache* cache, int64_t pos) {
  const std::string p = layer_prefix(i) + "self_attn.";
  if (!cache) return llama_attention(params_, p, cfg_.teacher, rope_, h, pos);
  return llama_attention(params_, p, cfg_.teacher, rope_, h, pos, &cache->k[size_t(i)], &cache->v[size_t(i)],
                         cache->length);
}

// x: [B, T, D] -> [B, T, D]; the layer's tokens start at position `pos`.
Tensor HybridModel::layer(int64_t i, const Tensor& x, HybridCache* cache, int64_t pos) {
  const LlamaConfig& t = cfg_.teacher;
  const std::string p = layer_prefix(i);
  Tensor h = rms_norm(x, params_.get(p + "input_layernorm.weight"), t.rms_norm_eps);
  Tensor mix;
  switch (cfg_.plan[size_t(i)]) {
    case MixerKind::Attention:
      mix = attention(i, h, cache, pos);
      break;
    case MixerKind::Mla: {
      MlaLayer mla(cfg_.mla, p + "mla.");
      mix = cache ? mla.step(params_, h, cache->mla[size_t(i)]) : mla.forward(params_, h, pos);
      break;
    }
    case MixerKind::Mamba2: {
      Mamba2Layer m(cfg_.mamba2, params_, p + "mamba.");
      if (!cache) {
        mix = m.forward(h).y;
      } else if (h.size(1) == 1) {
        mix = m.step(h, cache->mamba2[size_t(i)]);
      } else {
        Mamba2Output o = m.forward(h, &cache->mamba2[size_t(i)]);
        mix = o.y;
        cache->mamba2[size_t(i)] = o.state;
      }
      break;
    }
  }
  Tensor x1 = add(x, mix);
  Tensor h2 = rms_norm(x1, params_.get(p + "post_attention_layernorm.weight"), t.rms_norm_eps);
  Tensor m = swiglu(linear(h2, params_.get(p + "mlp.gate_proj.weight")), linear(h2, params_.get(p + "mlp.up_proj.weight")));
  return add(x1, linear(m, params_.get(p + "mlp.down_proj.weight")));
}

Tensor HybridModel::forward(const Tensor& ids) { return forward(ids, nullptr); }

Tensor HybridModel::forward(const Tensor& ids, HybridCache* cache) {
  check_rank(ids, 2, "hybrid forward", "ids");
  const LlamaConfig& t = cfg_.teacher;
  int64_t pos = 0;
  if (cache) {
    ZCHECK(!grad_enabled() || !params_.items().front().second.requires_grad(),
           "hybrid forward: the cache path is for inference; wrap it in NoGrad");
    ZCHECK(int64_t(cache->mla.size()) == t.num_layers && int64_t(cache->k.size()) == t.num_layers &&
               int64_t(cache->mamba2.size()) == t.num_layers,
           "hybrid forward: the cache was not made for this model (use make_cache)");
    ZCHECK(ids.size(0) == cache->batch, "hybrid forward: ids batch ", ids.size(0), " does not match the cache's ",
           cache->batch);
    ZCHECK(cache->length + ids.size(1) <= cache->capacity, "hybrid forward: ", ids.size(1),
           " more tokens overflow the cache (", cache->length, " of ", cache->capacity, " positions used)");
    pos = cache->length;
  }
  Tensor x = embedding(params_.get("model.embed_tokens.weight"), ids);
  for (int64_t i = 0; i < t.num_layers; ++i) x = layer(i, x, cache, pos);
  if (cache) cache->length += ids.size(1);
  return llama_head(params_, t, x);
}

// ---- checkpoints ----

namespace {
// dir/config.json as JSON; Error when it cannot be opened or parsed.
json read_config(const std::string& dir) {
  fs::path p = fs::path(dir) / "config.json";
  std::ifstream in(p);
  ZCHECK(in, "cannot open ", p.string(), " (is '", dir, "' a model directory?)");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    fail(p.string(), ": not valid JSON (", e.what(), ")");
  }
}
}  // namespace

void save_hybrid(const HybridModel& model, const std::string& dir) {
  save_model_dir(dir, model.params(), hybrid_config_json(model.config()));
}

HybridModel load_hybrid(const std::string& dir) {
  const std::string origin = (fs::path(dir) / "config.json").string();
  json j = read_config(dir);
  HybridConfig cfg;
  try {
    cfg = parse_hybrid_config(j, origin);
  } catch (const json::exception& e) {
    fail(origin, ": ", e.what());
  }
  HybridModel m = HybridModel::uninitialized(cfg);
  load_params(dir, m.params(), [&](const std::string& name) {
    return name == "lm_head.weight" && cfg.teacher.tie_word_embeddings;
  }, "this hybrid config");
  return m;
}

bool is_hybrid_dir(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "config.json");
  if (!in) return false;
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains("zebra_hybrid");
}

// ---- KV accounting ----

KvAccounting kv_accounting(const HybridConfig& cfg) {
  cfg.validate();
  const LlamaConfig& t = cfg.teacher;
  KvAccounting a;
  a.teacher_values_per_token = 2 * t.num_layers * t.num_kv_heads * t.head_dim;
  a.attention_layers = cfg.count(MixerKind::Attention);
  a.mla_layers = cfg.count(MixerKind::Mla);
  a.mamba2_layers = cfg.count(MixerKind::Mamba2);
  a.hybrid_values_per_token = a.attention_layers * 2 * t.num_kv_heads * t.head_dim;
  if (a.mla_layers > 0) a.hybrid_values_per_token += a.mla_layers * (cfg.mla.kv_lora_rank + cfg.mla.qk_rope_dim);
  a.percent = 100.0 * double(a.hybrid_values_per_token) / double(a.teacher_values_per_token);
  if (a.mamba2_layers > 0) {
    const Mamba2Config& m = cfg.mamba2;
    a.mamba2_state_bytes_per_layer =
        ((m.conv_kernel - 1) * m.conv_channels() + m.n_heads * m.head_dim * m.d_state) * int64_t(sizeof(float));
    a.mamba2_state_bytes = a.mamba2_layers * a.mamba2_state_bytes_per_layer;
  }
  return a;
}

}  // namespace zebra
