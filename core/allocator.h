// Allocators with live/peak byte counters. The CPU one is built in; the GPU backend registers its
// caching allocator and host<->device copy through GpuHooks, so core/ never includes GPU headers.
#pragma once
#include <atomic>
#include <map>
#include <mutex>
#include <vector>
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

// 64-byte aligned host memory (one cache line, one AVX-512 vector). Blocks of 1 MiB and more are
// rounded to a size class (4 per doubling) and kept on free lists when released, up to
// kCacheCap bytes: glibc would return them to the kernel, and every training step would then
// page-fault its activations in again. live/peak count the bytes asked for, not the cache.
class CpuAllocator final : public Allocator {
 public:
  static constexpr size_t kAlign = 64;
  static constexpr size_t kLarge = size_t(1) << 20;
  static constexpr size_t kCacheCap = size_t(4) << 30;
  ~CpuAllocator() override;
  void* allocate(size_t nbytes) override;
  void deallocate(void* p, size_t nbytes) override;
  AllocStats stats() const override;
  void reset_peak() override;
  void release_cache();  // frees every cached block
  size_t cached_bytes() const;

 private:
  std::atomic<int64_t> live_{0}, peak_{0}, count_{0};
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;  // size class -> cached blocks
  size_t cached_ = 0;
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
