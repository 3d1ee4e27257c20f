// Hugging Face model directories: config.json (the hub's rope_theta + rope_scaling layout and the
// newer rope_parameters one) and safetensors weights (single file or sharded), for the Llama,
// Qwen2 and Qwen3 families.
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "models/llama.h"

namespace zebra {

// Parses a config.json object; unsupported or inconsistent fields are refused naming the field.
LlamaConfig parse_hf_config(const nlohmann::json& j, const std::string& origin);
LlamaConfig load_hf_config(const std::string& model_dir);  // reads model_dir/config.json

// Loads config and weights (bf16, f16 or f32 on disk; f32 in memory). A missing or mis-shaped
// tensor is an error naming it; tensors the architecture does not use are an error too, unless
// they are a tied lm_head or rotary caches.
LlamaModel load_hf_model(const std::string& model_dir);

// Fills every parameter in `params` from the checkpoint at `dir` (any float dtype, converted to f32).
// A missing or mis-shaped tensor is an error naming it; so is a checkpoint tensor that `params` lacks,
// unless ignorable(name). `what` describes the model in that message.
void load_params(const std::string& dir, ParamStore& params, const std::function<bool(const std::string&)>& ignorable,
                 const std::string& what);

// Writes `params` to dir/model.safetensors and `config` to dir/config.json, each atomically.
void save_model_dir(const std::string& dir, const ParamStore& params, const nlohmann::json& config);

// Writes config.json and model.safetensors (f32) that transformers and load_hf_model both read.
void save_hf_model(const LlamaModel& model, const std::string& model_dir);
nlohmann::json hf_config_json(const LlamaConfig& cfg);

}  // namespace zebra
