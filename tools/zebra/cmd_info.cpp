// `zebra info`: version, build options, threads, BLAS core and GPU support.
#include <cstdio>
#include <map>

#include "core/allocator.h"
#include "core/threadpool.h"
#include "tools/zebra/commands.h"

namespace zebra::cli {

namespace {
std::map<CLI::App*, Runner>& runners() {
  static std::map<CLI::App*, Runner> r;
  return r;
}
}  // namespace

void add_command(CLI::App* sub, Runner run) { runners()[sub] = std::move(run); }

int run_selected(CLI::App& app) {
  for (auto& [sub, run] : runners())
    if (sub->parsed()) return run();
  return 2;
}

void register_info(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "Print version, build options, threads, BLAS core and GPU support");
  add_command(sub, [] {
    ThreadPool& pool = ThreadPool::global();
    std::printf("zebra %s\n", ZEBRA_VERSION);
    std::printf("build:    %s, C++20, %s%s\n", ZEBRA_BUILD_TYPE,
#ifdef __clang__
                "clang " __clang_version__,
#else
                "g++ " __VERSION__,
#endif
#if defined(__AVX512F__)
                ", AVX-512"
#elif defined(__AVX2__)
                ", AVX2"
#else
                ""
#endif
    );
    std::printf("threads:  %s\n", pool.describe().c_str());
    std::printf("blas:     %s\n", blas_description().c_str());
    if (gpu_compiled()) {
      int n = gpu_device_count();
      std::printf("gpu:      compiled in (%s); %d device(s)%s%s\n", ZEBRA_GPU_BACKEND, n,
                  n && gpu_hooks().describe ? ": " : "", n && gpu_hooks().describe ? gpu_hooks().describe() : "");
    } else {
      std::printf("gpu:      not compiled in (build with -DZEBRA_GPU=CUDA or HIP)\n");
    }
    return 0;
  });
}

}  // namespace zebra::cli
