#include "models/params.h"

namespace zebra {

Tensor& ParamStore::add(const std::string& name, Tensor t) {
  ZCHECK(!has(name), "parameter '", name, "' registered twice");
  check_defined(t, "ParamStore::add", name.c_str());
  t.set_requires_grad(true);
  index_[name] = items_.size();
  items_.emplace_back(name, std::move(t));
  return items_.back().second;
}

Tensor& ParamStore::get(const std::string& name) {
  auto it = index_.find(name);
  ZCHECK(it != index_.end(), "no parameter '", name, "'");
  return items_[it->second].second;
}

const Tensor& ParamStore::get(const std::string& name) const {
  auto it = index_.find(name);
  ZCHECK(it != index_.end(), "no parameter '", name, "'");
  return items_[it->second].second;
}

int64_t ParamStore::numel() const {
  int64_t n = 0;
  for (auto& [_, t] : items_) n += t.numel();
  return n;
}

void ParamStore::zero_grad() {
  for (auto& [_, t] : items_) t.zero_grad();
}

}  // namespace zebra
