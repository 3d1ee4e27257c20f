#include "core/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"

namespace zebra {

void* CpuAllocator::allocate(size_t nbytes) {
  size_t rounded = (nbytes + kAlign - 1) / kAlign * kAlign;
  if (rounded == 0) rounded = kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (!p) fail("out of host memory allocating ", nbytes, " bytes");
  int64_t live = live_.fetch_add(int64_t(nbytes)) + int64_t(nbytes);
  int64_t peak = peak_.load();
  while (live > peak && !peak_.compare_exchange_weak(peak, live)) {
  }
  count_.fetch_add(1);
  return p;
}

void CpuAllocator::deallocate(void* p, size_t nbytes) {
  std::free(p);
  live_.fetch_sub(int64_t(nbytes));
}

AllocStats CpuAllocator::stats() const { return {live_.load(), peak_.load(), count_.load()}; }
void CpuAllocator::reset_peak() { peak_.store(live_.load()); }

CpuAllocator& cpu_allocator() {
  static CpuAllocator* a = [] {
    // glibc serves blocks above a (dynamic, <= 32 MiB) threshold with fresh mmaps and returns
    // them on free, so every large activation would page-fault anew. Keep them in the heap.
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return new CpuAllocator();
  }();
  return *a;
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
