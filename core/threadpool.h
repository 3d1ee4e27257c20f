// The one CPU thread pool: sized from hwloc's physical cores (ZEBRA_THREADS overrides), workers
// pinned one per core, and OpenBLAS told to use the same count so the two never oversubscribe.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace zebra {

class ThreadPool {
 public:
  static ThreadPool& global();
  explicit ThreadPool(int threads, bool pin);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return int(workers_.size()) + 1; }
  // Runs fn(lo, hi) over [begin, end) split into at most num_threads() ranges of at least `grain`
  // items; the caller runs the first range. Nested calls run inline. Rethrows the first exception.
  void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
  const std::string& describe() const { return description_; }

 private:
  void worker_loop(int index);
  std::vector<std::thread> workers_;
  std::mutex submit_mu_;  // one parallel_for at a time from outside the pool
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  std::vector<std::pair<int64_t, int64_t>> ranges_;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::string description_;
};

inline void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  ThreadPool::global().parallel_for(begin, end, grain, fn);
}

int physical_core_count();          // from hwloc; at least 1
std::string blas_description();     // OpenBLAS core and configuration in use
void set_blas_threads(int n);

}  // namespace zebra
