#include "core/allocator.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"

namespace zebra {

namespace {
// Large blocks round up to one of four classes per power of two (at most 25% slack).
size_t size_class(size_t n) {
  size_t p = size_t(1) << (63 - __builtin_clzll(n));  // largest power of two <= n
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}
}  // namespace

CpuAllocator::~CpuAllocator() { release_cache(); }

void* CpuAllocator::allocate(size_t nbytes) {
  void* p = nullptr;
  if (nbytes >= kLarge) {
    size_t cls = size_class(nbytes);
    {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = free_.find(cls);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        cached_ -= cls;
      }
    }
    if (!p) p = std::aligned_alloc(kAlign, cls);
  } else {
    size_t rounded = (nbytes + kAlign - 1) / kAlign * kAlign;
    p = std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
  }
  if (!p) fail("out of host memory allocating ", nbytes, " bytes");
  int64_t live = live_.fetch_add(int64_t(nbytes)) + int64_t(nbytes);
  int64_t peak = peak_.load();
  while (live > peak && !peak_.compare_exchange_weak(peak, live)) {
  }
  count_.fetch_add(1);
  return p;
}

void CpuAllocator::deallocate(void* p, size_t nbytes) {
  live_.fetch_sub(int64_t(nbytes));
  if (nbytes >= kLarge) {
    size_t cls = size_class(nbytes);
    std::lock_guard<std::mutex> lk(mu_);
    if (cached_ + cls <= kCacheCap) {
      free_[cls].push_back(p);
      cached_ += cls;
      return;
    }
  }
  std::free(p);
}

void CpuAllocator::release_cache() {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [cls, blocks] : free_)
    for (void* b : blocks) std::free(b);
  free_.clear();
  cached_ = 0;
}

size_t CpuAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lk(mu_);
  return cached_;
}

AllocStats CpuAllocator::stats() const { return {live_.load(), peak_.load(), count_.load()}; }
void CpuAllocator::reset_peak() { peak_.store(live_.load()); }

CpuAllocator& cpu_allocator() {
  static CpuAllocator a;
  return a;
}

GpuHooks& gpu_hooks() {
  static GpuHooks h;
  return h;
}

int gpu_device_count() { return gpu_hooks().device_count ? gpu_hooks().device_count() : 0; }

Allocator& allocator_for(Device d) {
  if (d.is_cpu()) return cpu_allocator();
  if (!gpu_compiled()) fail("device ", d.str(), ": zebra was built without GPU support (-DZEBRA_GPU=OFF)");
  ZCHECK(gpu_hooks().allocator, "device ", d.str(), ": GPU backend not initialised");
  ZCHECK(d.index >= 0 && d.index < gpu_device_count(), "device ", d.str(), ": no such GPU (",
         gpu_device_count(), " present)");
  return *gpu_hooks().allocator(d.index);
}

void copy_bytes(void* dst, Device dd, const void* src, Device sd, size_t n) {
  if (n == 0) return;
  if (dd.is_cpu() && sd.is_cpu()) {
    std::memcpy(dst, src, n);
    return;
  }
  if (!gpu_compiled()) fail("copy to ", dd.str(), ": zebra was built without GPU support");
  ZCHECK(gpu_hooks().copy, "copy to ", dd.str(), ": GPU backend not initialised");
  gpu_hooks().copy(dst, dd, src, sd, n);
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  for (const char* pre : {"gpu", "cuda", "hip"}) {
    std::string p = pre;
    if (s == p) return gpu(0);
    if (s.rfind(p + ":", 0) == 0) {
      std::string num = s.substr(p.size() + 1);
      ZCHECK(!num.empty() && num.find_first_not_of("0123456789") == std::string::npos && num.size() < 4,
             "bad device '", s, "' (expected cpu, gpu or gpu:N)");
      return gpu(std::stoi(num));
    }
  }
  fail("bad device '", s, "' (expected cpu, gpu or gpu:N)");
}

std::string Device::str() const { return is_cpu() ? "cpu" : "gpu:" + std::to_string(index); }

}  // namespace zebra
