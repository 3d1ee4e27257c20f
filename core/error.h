// zebra::Error and the check macros every op uses to reject bad input with a one-line message.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace zebra {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// str(a, b, c) streams its arguments into one string (g++ 12 has no <format>).
template <class... Args>
std::string str(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <class... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(str(std::forward<Args>(args)...));
}

}  // namespace zebra

// ZCHECK(cond, "op: message ", value, ...) throws zebra::Error when cond is false.
#define ZCHECK(cond, ...)                  \
  do {                                     \
    if (!(cond)) ::zebra::fail(__VA_ARGS__); \
  } while (0)
