#include "models/hf.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "autograd/node.h"
#include "core/safetensors.h"

namespace zebra {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Typed field access with messages that name the file and the field.
struct Fields {
  const json& j;
  const std::string& origin;

  bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }
  int64_t integer(const char* k) const {
    ZCHECK(has(k), origin, ": missing field '", k, "'");
    ZCHECK(j[k].is_number_integer(), origin, ": field '", k, "' must be an integer, got ", j[k].dump());
    return j[k].get<int64_t>();
  }
  int64_t integer(const char* k, int64_t dflt) const { return has(k) ? integer(k) : dflt; }
  double number(const json& o, const char* k, const std::string& where) const {
    ZCHECK(o.contains(k) && !o[k].is_null(), origin, ": missing field '", where, k, "'");
    ZCHECK(o[k].is_number(), origin, ": field '", where, k, "' must be a number, got ", o[k].dump());
    return o[k].get<double>();
  }
  double number(const char* k, double dflt) const { return has(k) ? number(j, k, "") : dflt; }
  bool boolean(const char* k, bool dflt) const {
    if (!has(k)) return dflt;
    ZCHECK(j[k].is_boolean(), origin, ": field '", k, "' must be true or false, got ", j[k].dump());
    return j[k].get<bool>();
  }
  std::string string(const char* k, const std::string& dflt) const {
    if (!has(k)) return dflt;
    ZCHECK(j[k].is_string(), origin, ": field '", k, "' must be a string, got ", j[k].dump());
    return j[k].get<std::string>();
  }
};

// rope_scaling (hub layout) or rope_parameters (newer transformers): same keys, the latter also
// carrying rope_theta. `type` is the older spelling of `rope_type`.
RopeScaling parse_rope(const Fields& f, const json& r, const std::string& key) {
  RopeScaling s;
  ZCHECK(r.is_object(), f.origin, ": field '", key, "' must be an object, got ", r.dump());
  std::string type = r.contains("rope_type") ? r["rope_type"].get<std::string>()
                     : r.contains("type")    ? r["type"].get<std::string>()
                                             : "default";
  std::string w = key + ".";
  if (type == "default") return s;
  if (type == "llama3") {
    s.type = RopeScaling::Type::Llama3;
    s.factor = f.number(r, "factor", w);
    s.low_freq_factor = f.number(r, "low_freq_factor", w);
    s.high_freq_factor = f.number(r, "high_freq_factor", w);
    s.original_max_position = f.number(r, "original_max_position_embeddings", w);
  } else if (type == "yarn") {
    s.type = RopeScaling::Type::Yarn;
    s.factor = f.number(r, "factor", w);
    s.original_max_position = f.number(r, "original_max_position_embeddings", w);
    if (r.contains("beta_fast")) s.beta_fast = f.number(r, "beta_fast", w);
    if (r.contains("beta_slow")) s.beta_slow = f.number(r, "beta_slow", w);
    if (r.contains("attention_factor") && !r["attention_factor"].is_null())
      s.attention_factor = f.number(r, "attention_factor", w);
  } else {
    fail(f.origin, ": field '", key, ".rope_type' is '", type, "'; supported: default, llama3, yarn");
  }
  return s;
}

std::vector<int64_t> id_list(const Fields& f, const char* k) {
  std::vector<int64_t> ids;
  if (!f.has(k)) return ids;
  const json& v = f.j[k];
  if (v.is_number_integer()) return {v.get<int64_t>()};
  ZCHECK(v.is_array(), f.origin, ": field '", k, "' must be an id or a list of ids");
  for (auto& e : v) {
    ZCHECK(e.is_number_integer(), f.origin, ": field '", k, "' must hold integers, got ", e.dump());
    ids.push_back(e.get<int64_t>());
  }
  return ids;
}

}  // namespace

LlamaConfig parse_hf_config(const json& j, const std::string& origin) {
  ZCHECK(j.is_object(), origin, ": config must be a JSON object");
  Fields f{j, origin};
  LlamaConfig c;
  c.model_type = f.string("model_type", "");
  ZCHECK(c.model_type == "llama" || c.model_type == "qwen2" || c.model_type == "qwen3", origin,
         ": field 'model_type' is '", c.model_type, "'; supported: llama, qwen2, qwen3");
  std::string act = f.string("hidden_act", "silu");
  ZCHECK(act == "silu", origin, ": field 'hidden_act' is '", act, "'; only silu is supported");
  c.vocab_size = f.integer("vocab_size");
  c.hidden_size = f.integer("hidden_size");
  c.intermediate_size = f.integer("intermediate_size");
  c.num_layers = f.integer("num_hidden_layers");
  c.num_heads = f.integer("num_attention_heads");
  c.num_kv_heads = f.integer("num_key_value_heads", c.num_heads);
  ZCHECK(c.num_heads > 0, origin, ": field 'num_attention_heads' must be positive");
  c.head_dim = f.integer("head_dim", c.hidden_size / c.num_heads);
  ZCHECK(f.has("head_dim") || c.hidden_size % c.num_heads == 0, origin, ": field 'hidden_size' (", c.hidden_size,
         ") is not a multiple of 'num_attention_heads' (", c.num_heads, ") and no 'head_dim' is given");
  c.max_position_embeddings = f.integer("max_position_embeddings", 8192);
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  c.rope_theta = f.number("rope_theta", 10000.0);
  if (f.has("rope_parameters")) {
    const json& r = j["rope_parameters"];
    c.rope_scaling = parse_rope(f, r, "rope_parameters");
    if (r.is_object() && r.contains("rope_theta")) c.rope_theta = f.number(r, "rope_theta", "rope_parameters.");
  } else if (f.has("rope_scaling")) {
    c.rope_scaling = parse_rope(f, j["rope_scaling"], "rope_scaling");
  }
  if (c.model_type == "qwen2") {
    c.attention_bias = true;  // Qwen2 always has q/k/v biases (and none on o_proj)
  } else {
    c.attention_bias = f.boolean("attention_bias", false);
    c.o_proj_bias = c.attention_bias;
  }
  c.qk_norm = c.model_type == "qwen3";
  if (c.model_type != "llama")
    ZCHECK(!f.boolean("use_sliding_window", false), origin, ": field 'use_sliding_window' is true; sliding-window ",
           "attention is not supported");
  ZCHECK(!f.has("mlp_bias") || !f.boolean("mlp_bias", false), origin, ": field 'mlp_bias' is true; MLP biases are not supported");
  c.eos_token_ids = id_list(f, "eos_token_id");
  auto bos = id_list(f, "bos_token_id");
  c.bos_token_id = bos.empty() ? -1 : bos[0];
  try {
    c.validate();
  } catch (const Error& e) {
    fail(origin, ": ", e.what());
  }
  return c;
}

LlamaConfig load_hf_config(const std::string& dir) {
  fs::path p = fs::path(dir) / "config.json";
  std::ifstream in(p);
  ZCHECK(in, "cannot open ", p.string(), " (is '", dir, "' a model directory?)");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    fail(p.string(), ": not valid JSON (", e.what(), ")");
  }
  try {
    return parse_hf_config(j, p.string());
  } catch (const json::exception& e) {  // a field of an unexpected JSON type deep inside
    fail(p.string(), ": ", e.what());
  }
}

void load_params(const std::string& dir, ParamStore& params, const std::function<bool(const std::string&)>& ignorable,
                 const std::string& what) {
  Checkpoint ck = Checkpoint::open(dir);
  std::set<std::string> used;
  NoGrad ng;
  for (auto& [name, t] : params.items()) {
    ZCHECK(ck.has(name), ck.path(), ": missing tensor '", name, "'");
    const TensorInfo& info = ck.info(name);
    ZCHECK(info.shape == t.shape(), ck.path(), ": tensor '", name, "' has shape ", shape_str(info.shape), ", expected ",
           shape_str(t.shape()));
    ZCHECK(is_floating(info.dtype), ck.path(), ": tensor '", name, "' is ", dtype_name(info.dtype), ", expected a float type");
    t.detach().copy_(ck.get(name, DType::F32));
    used.insert(name);
  }
  for (const std::string& name : ck.names())
    ZCHECK(used.count(name) || ignorable(name), ck.path(), ": unexpected tensor '", name, "' for ", what);
}

LlamaModel load_hf_model(const std::string& dir) {
  LlamaConfig cfg = load_hf_config(dir);
  LlamaModel m = LlamaModel::uninitialized(cfg);
  load_params(dir, m.params(), [&](const std::string& name) {
    return (name == "lm_head.weight" && cfg.tie_word_embeddings) || name.find("rotary_emb.inv_freq") != std::string::npos;
  }, "a " + cfg.model_type + " model with this config");
  return m;
}

json hf_config_json(const LlamaConfig& c) {
  static const char* arch[] = {"LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"};
  int a = c.model_type == "qwen2" ? 1 : c.model_type == "qwen3" ? 2 : 0;
  json j = {{"architectures", {arch[a]}},
            {"model_type", c.model_type},
            {"vocab_size", c.vocab_size},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_hidden_layers", c.num_layers},
            {"num_attention_heads", c.num_heads},
            {"num_key_value_heads", c.num_kv_heads},
            {"head_dim", c.head_dim},
            {"max_position_embeddings", c.max_position_embeddings},
            {"rms_norm_eps", c.rms_norm_eps},
            {"rope_theta", c.rope_theta},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"hidden_act", "silu"},
            {"torch_dtype", "float32"}};
  if (c.model_type != "qwen2") j["attention_bias"] = c.attention_bias;
  const RopeScaling& s = c.rope_scaling;
  if (s.type == RopeScaling::Type::Llama3) {
    j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", s.factor}, {"low_freq_factor", s.low_freq_factor},
                         {"high_freq_factor", s.high_freq_factor},
                         {"original_max_position_embeddings", s.original_max_position}};
  } else if (s.type == RopeScaling::Type::Yarn) {
    j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", s.factor}, {"beta_fast", s.beta_fast},
                         {"beta_slow", s.beta_slow}, {"original_max_position_embeddings", s.original_max_position}};
    if (s.attention_factor > 0) j["rope_scaling"]["attention_factor"] = s.attention_factor;
  }
  if (!c.eos_token_ids.empty()) j["eos_token_id"] = c.eos_token_ids.size() == 1 ? json(c.eos_token_ids[0]) : json(c.eos_token_ids);
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  return j;
}

void save_model_dir(const std::string& dir, const ParamStore& params, const json& config) {
  fs::create_directories(dir);
  NamedTensors tensors;
  for (auto& [name, t] : params.items()) tensors.push_back({name, t.detach()});
  save_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  fs::path cfg = fs::path(dir) / "config.json", tmp = cfg;
  tmp += ".tmp";
  {
    std::ofstream out(tmp);
    ZCHECK(out, "cannot write ", tmp.string());
    out << config.dump(2) << "\n";
    out.flush();
    ZCHECK(out.good(), "writing ", tmp.string(), " failed");
  }
  fs::rename(tmp, cfg);
}

void save_hf_model(const LlamaModel& model, const std::string& dir) {
  save_model_dir(dir, model.params(), hf_config_json(model.config()));
}

}  // namespace zebra
