// Subcommand registry: each cmd_*.cpp adds its subcommand and the function that runs it.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>

namespace zebra::cli {

using Runner = std::function<int()>;
// Adds `sub` with its runner; called from the register_* functions below.
void add_command(CLI::App* sub, Runner run);

void register_info(CLI::App& app);
void register_tiny_train(CLI::App& app);
void register_model_commands(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_init(CLI::App& app);


inline void register_all(CLI::App& app) {
  register_info(app);
  register_tiny_train(app);
  register_model_commands(app);
  register_tokenize(app);
  register_init(app);

}

// Runs the parsed subcommand's runner; returns its exit code.
int run_selected(CLI::App& app);

}  // namespace zebra::cli
