// Where a tensor's bytes live: the host, or GPU N (filled in by the hip/ backend).
#pragma once
#include <string>

namespace zebra {

enum class DeviceKind : uint8_t { CPU, GPU };

struct Device {
  DeviceKind kind = DeviceKind::CPU;
  int index = 0;

  static Device cpu() { return {DeviceKind::CPU, 0}; }
  static Device gpu(int i = 0) { return {DeviceKind::GPU, i}; }
  static Device parse(const std::string& s);  // "cpu", "gpu", "gpu:1", "cuda:0"; throws Error
  bool is_cpu() const { return kind == DeviceKind::CPU; }
  bool is_gpu() const { return kind == DeviceKind::GPU; }
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

}  // namespace zebra
