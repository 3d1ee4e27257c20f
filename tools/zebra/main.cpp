// The zebra command line: one binary, one subcommand per job (tools/zebra/cmd_*.cpp register theirs).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "tools/zebra/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"zebra: turn a pretrained Transformer into a Mamba2/MLA hybrid by distillation, and run it"};
  app.set_version_flag("--version", std::string("zebra ") + ZEBRA_VERSION);
  app.require_subcommand(1);
  zebra::cli::register_all(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return zebra::cli::run_selected(app);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zebra: error: %s\n", e.what());
    return 1;
  }
}
