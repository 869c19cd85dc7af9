#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace sluice::runtime {

// sluiced's command line. Returns the process exit code: 0 success, 1 configuration or plugin
// errors, 2 usage errors.
int runCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace sluice::runtime
