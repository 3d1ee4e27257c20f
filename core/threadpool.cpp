#include "core/threadpool.h"

#include <cblas.h>
#include <hwloc.h>

#include <algorithm>
#include <cstdlib>

#include "core/error.h"

extern "C" {
char* openblas_get_corename(void);
char* openblas_get_config(void);
int openblas_get_num_threads(void);
}

namespace zebra {

namespace {
thread_local bool tl_in_pool_job = false;

struct Topology {
  hwloc_topology_t topo = nullptr;
  Topology() {
    if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0) topo = nullptr;
  }
  ~Topology() {
    if (topo) hwloc_topology_destroy(topo);
  }
};
Topology& topology() {
  static Topology t;
  return t;
}

// Called by the pool's constructor, not by the worker itself: a worker still pinning when a short
// program exits would read the topology after its static destructor has freed it.
void pin_to_core(std::thread& t, int core) {
  hwloc_topology_t topo = topology().topo;
  if (!topo) return;
  hwloc_obj_t obj = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, unsigned(core));
  if (!obj || !obj->cpuset) return;
  hwloc_cpuset_t set = hwloc_bitmap_dup(obj->cpuset);
  hwloc_bitmap_singlify(set);  // one hardware thread of the core
  hwloc_set_thread_cpubind(topo, t.native_handle(), set, 0);
  hwloc_bitmap_free(set);
}

int threads_from_env() {
  const char* e = std::getenv("ZEBRA_THREADS");
  if (!e || !*e) return 0;
  char* end = nullptr;
  long v = std::strtol(e, &end, 10);
  ZCHECK(end && *end == '\0' && v >= 1 && v <= 4096, "ZEBRA_THREADS='", e, "' is not a thread count");
  return int(v);
}
}  // namespace

int physical_core_count() {
  hwloc_topology_t topo = topology().topo;
  int n = topo ? hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) : 0;
  if (n <= 0) n = int(std::max(1u, std::thread::hardware_concurrency()));
  return n;
}

void set_blas_threads(int n) { openblas_set_num_threads(n); }

std::string blas_description() {
  return str("OpenBLAS ", openblas_get_corename(), " (", openblas_get_config(), "), ", openblas_get_num_threads(),
             " threads");
}

ThreadPool& ThreadPool::global() {
  static ThreadPool* pool = [] {
    int env = threads_from_env();
    int n = env ? env : physical_core_count();
    set_blas_threads(n);
    return new ThreadPool(n, env == 0 || env <= physical_core_count());
  }();
  return *pool;
}

ThreadPool::ThreadPool(int threads, bool pin) {
  int n = std::max(1, threads);
  for (int i = 1; i < n; ++i) {
    workers_.emplace_back([this, i] { worker_loop(i); });
    if (pin) pin_to_core(workers_.back(), i);
  }
  description_ = str(n, " threads", pin ? " pinned to physical cores" : "", " (", physical_core_count(),
                     " physical cores)");
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    std::pair<int64_t, int64_t> range;
    const std::function<void(int64_t, int64_t)>* job;
    {
      std::unique_lock<std::mutex> lk(mu_);
      wake_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (size_t(index) >= ranges_.size()) continue;
      range = ranges_[index];
      job = job_;
    }
    tl_in_pool_job = true;
    try {
      (*job)(range.first, range.second);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
    tl_in_pool_job = false;
    std::lock_guard<std::mutex> lk(mu_);
    if (--pending_ == 0) done_.notify_one();
  }
}

void ThreadPool::parallel_for(int64_t begin, int64_t end, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  int64_t n = end - begin;
  int64_t parts = std::min<int64_t>(num_threads(), std::max<int64_t>(1, n / std::max<int64_t>(1, grain)));
  if (parts <= 1 || tl_in_pool_job) {
    fn(begin, end);
    return;
  }
  std::lock_guard<std::mutex> submit(submit_mu_);
  std::vector<std::pair<int64_t, int64_t>> ranges(static_cast<size_t>(parts));
  for (int64_t p = 0; p < parts; ++p) ranges[size_t(p)] = {begin + n * p / parts, begin + n * (p + 1) / parts};
  {
    std::lock_guard<std::mutex> lk(mu_);
    ranges_ = ranges;
    job_ = &fn;
    pending_ = int(parts) - 1;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  std::exception_ptr mine;
  tl_in_pool_job = true;
  try {
    fn(ranges[0].first, ranges[0].second);
  } catch (...) {
    mine = std::current_exception();
  }
  tl_in_pool_job = false;
  std::unique_lock<std::mutex> lk(mu_);
  done_.wait(lk, [&] { return pending_ == 0; });
  job_ = nullptr;
  ranges_.clear();
  if (mine) std::rethrow_exception(mine);
  if (error_) std::rethrow_exception(error_);
}

}  // namespace zebra
