// Allocators with live/peak byte counters. The CPU one is built in; the GPU backend registers its
// caching allocator and host<->device copy through GpuHooks, so core/ never includes GPU headers.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/device.h"

namespace zebra {

struct AllocStats {
  int64_t live_bytes = 0;
  int64_t peak_bytes = 0;
  int64_t allocations = 0;  // calls to allocate() since start
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) = 0;
  virtual AllocStats stats() const = 0;
  virtual void reset_peak() = 0;
};

// 64-byte aligned host memory (one cache line, one AVX-512 vector).
class CpuAllocator final : public Allocator {
 public:
  static constexpr size_t kAlign = 64;
  void* allocate(size_t nbytes) override;
  void deallocate(void* p, size_t nbytes) override;
  AllocStats stats() const override;
  void reset_peak() override;

 private:
  std::atomic<int64_t> live_{0}, peak_{0}, count_{0};
};

CpuAllocator& cpu_allocator();

// Filled by the GPU backend at start-up; all null in a build without one.
struct GpuHooks {
  Allocator* (*allocator)(int device) = nullptr;
  // Copies nbytes between any two devices (at least one a GPU); synchronous with the host.
  void (*copy)(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) = nullptr;
  int (*device_count)() = nullptr;
  const char* (*describe)() = nullptr;  // e.g. "CUDA, NVIDIA H100 80GB HBM3 (sm_90)"
};
GpuHooks& gpu_hooks();
bool gpu_compiled();     // true when this build has a GPU backend
int gpu_device_count();  // 0 when none is present or none is compiled

Allocator& allocator_for(Device d);  // throws Error for a GPU in a build without one
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes);

}  // namespace zebra
