// An ordered set of named parameters (Hugging Face names): the unit that models own and that
// optimisers, checkpoints and loaders walk.
#pragma once
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace zebra {

class ParamStore {
 public:
  // Registers a trainable parameter (marks it requires_grad). Names must be unique.
  Tensor& add(const std::string& name, Tensor t);
  Tensor& get(const std::string& name);
  const Tensor& get(const std::string& name) const;
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const std::vector<std::pair<std::string, Tensor>>& items() const { return items_; }
  std::vector<std::pair<std::string, Tensor>>& items() { return items_; }
  int64_t numel() const;
  void zero_grad();

 private:
  std::vector<std::pair<std::string, Tensor>> items_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace zebra
