// sluiced's command line, in process (the integration tests run the real binary).
#include "sluice/runtime/Cli.h"

#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "sluice/abi_version.h"
#include "sluice/runtime/Version.h"
#include "support/TempDir.h"
#include "support/TestPaths.h"

using sluice::runtime::runCli;

namespace {

struct Outcome {
    int code;
    std::string out;
    std::string err;
};

Outcome cli(const std::vector<std::string>& args)
{
    std::ostringstream out;
    std::ostringstream err;
    int code = runCli(args, out, err);
    return {code, out.str(), err.str()};
}

}  // namespace

TEST_CASE("Cli: --version prints the runtime and plugin ABI versions")
{
    Outcome r = cli({"--version"});
    CHECK(r.code == 0);
    CHECK(r.out ==
          std::string("sluiced ") + sluice::runtime::kRuntimeVersion + " (plugin ABI " SLUICE_ABI_VERSION_STRING ")\n");
}

TEST_CASE("Cli: usage errors exit 2")
{
    Outcome unknown = cli({"--frobnicate"});
    CHECK(unknown.code == 2);
    CHECK(unknown.err.find("unknown argument '--frobnicate'") != std::string::npos);
    CHECK(unknown.err.find("Usage: sluiced") != std::string::npos);

    Outcome missing = cli({"--config"});
    CHECK(missing.code == 2);
    CHECK(missing.err.find("--config needs a value") != std::string::npos);

    Outcome two = cli({"--version", "--check-config"});
    CHECK(two.code == 2);
    CHECK(two.err.find("at most one of") != std::string::npos);
}

TEST_CASE("Cli: --help prints the usage and exits 0")
{
    Outcome r = cli({"--help"});
    CHECK(r.code == 0);
    CHECK(r.out.find("--check-config") != std::string::npos);
    CHECK(r.out.find("--plugin-dir DIR") != std::string::npos);
}

TEST_CASE("Cli: --check-config reports errors with file and pointer and exits 1")
{
    sluice::test::TempDir dir;
    const std::string config = dir.write("sluice.json", R"({"listeners": [{"name": "http", "port": 70000}]})");
    dir.write("apis/a.json", R"({"name": "A", "context": "/a", "version": "v1",
        "endpoints": [{"url": "http://127.0.0.1:9"}], "resources": [{"uri_template": "/", "methods": ["GET"]}]})");
    Outcome r = cli({"--check-config", "--config", config});
    CHECK(r.code == 1);
    CHECK(r.err.find("error: " + config + ": /listeners/0/port: ") != std::string::npos);
    CHECK(r.err.find(config + ": 1 error\n") != std::string::npos);
}
