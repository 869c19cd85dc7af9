// Runs the real sluiced binary: version, configuration checks, plugin listing, start-up refusal,
// reload on SIGHUP and shutdown on SIGTERM. Listeners use port 0, never a fixed one; every wait
// is bounded and driven by the process's output or exit.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "Subprocess.h"
#include "sluice/abi_version.h"
#include "sluice/runtime/Version.h"
#include "support/TempDir.h"
#include "support/TestPaths.h"

using namespace std::chrono_literals;
using sluice::test::fixtureDir;
using sluice::test::fixtureFile;
using sluice::test::RunResult;
using sluice::test::Subprocess;
using sluice::test::TempDir;

namespace {

const std::string kSluiced = SLUICE_TEST_SLUICED;
constexpr auto kTimeout = 20s;

RunResult sluiced(std::vector<std::string> args)
{
    args.insert(args.begin(), kSluiced);
    return sluice::test::run(args, kTimeout);
}

std::string api(const std::string& name, const std::string& context, const std::string& version,
                const std::string& url = "http://127.0.0.1:9")
{
    return R"({"name": ")" + name + R"(", "context": ")" + context + R"(", "version": ")" + version +
           R"(", "endpoints": [{"url": ")" + url + R"("}], "resources": [{"uri_template": "/", "methods": ["GET"]}]})";
}

// A valid gateway configuration with the given global handler chain (JSON array text).
std::string gateway(const std::string& handlers = "[]")
{
    return R"({"listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}], "handlers": )" + handlers +
           R"(, "logging": {"level": "info"}})";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// "error: <file>: <pointer>: " as --check-config prints it.
std::string errorAt(const std::string& file, const std::string& pointer)
{
    return "error: " + file + ": " + pointer + ": ";
}

}  // namespace

TEST_CASE("sluiced: --version prints the runtime version and the plugin ABI")
{
    RunResult r = sluiced({"--version"});
    CHECK(r.exitCode == 0);
    CHECK(r.out ==
          std::string("sluiced ") + sluice::runtime::kRuntimeVersion + " (plugin ABI " SLUICE_ABI_VERSION_STRING ")\n");
    CHECK(contains(r.out, "plugin ABI 1.6"));
}

TEST_CASE("sluiced: an unknown argument exits 2 with the usage")
{
    RunResult r = sluiced({"--no-such-flag"});
    CHECK(r.exitCode == 2);
    CHECK(contains(r.err, "unknown argument '--no-such-flag'"));
    CHECK(contains(r.err, "Usage: sluiced"));
}

TEST_CASE("sluiced: --check-config accepts the shipped conf/sluice.json")
{
    RunResult r = sluiced({"--check-config", "--config", sluice::test::sourceDir() + "/conf/sluice.json"});
    INFO(r.err);
    CHECK(r.exitCode == 0);
    CHECK(contains(r.out, "configuration OK"));
}

TEST_CASE("sluiced: --check-config reports three schema mistakes in sluice.json and exits 1")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", R"({
      "workers": -1,
      "listeners": [],
      "logging": {"format": "xml"}
    })");
    dir.write("apis/pets.json", api("Pets", "/pets", "v1"));
    RunResult r = sluiced({"--check-config", "--config", config});
    INFO(r.err);
    CHECK(r.exitCode == 1);
    CHECK(contains(r.err, errorAt(config, "/workers")));
    CHECK(contains(r.err, errorAt(config, "/listeners")));
    CHECK(contains(r.err, errorAt(config, "/logging/format")));
    CHECK(contains(r.err, config + ": 3 errors\n"));
}

TEST_CASE("sluiced: --check-config reports mistakes in sluice.json and two API files at once")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", R"({
      "workers": "four",
      "listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}]
    })");
    const std::string a = dir.write("apis/a.json", R"({"name": "A", "context": "/a", "version": 1,
        "endpoints": [{"url": "http://127.0.0.1:9"}], "resources": [{"uri_template": "/", "methods": ["GET"]}]})");
    const std::string b = dir.write("apis/b.json", api("B", "/b", "v1", "ftp://127.0.0.1/x"));
    RunResult r = sluiced({"--check-config", "--config", config});
    INFO(r.err);
    CHECK(r.exitCode == 1);
    CHECK(contains(r.err, errorAt(config, "/workers")));
    CHECK(contains(r.err, errorAt(a, "/version")));
    CHECK(contains(r.err, errorAt(b, "/endpoints/0/url")));
    CHECK(contains(r.err, config + ": 3 errors\n"));
}

TEST_CASE("sluiced: --check-config reports a handler config rejected by correlation_id's schema")
{
    TempDir dir;
    const std::string config =
        dir.write("sluice.json", gateway(R"([{"component": "correlation_id", "config": {"max_length": 2}}])"));
    dir.write("apis/pets.json", api("Pets", "/pets", "v1"));
    RunResult r = sluiced({"--check-config", "--config", config});
    INFO(r.err);
    CHECK(r.exitCode == 1);
    CHECK(contains(r.err, errorAt(config, "/handlers/0/config/max_length")));
    CHECK(contains(r.err, "schema of component 'correlation_id'"));
    CHECK(contains(r.err, config + ": 1 error\n"));
}

TEST_CASE("sluiced: --check-config reports a handler config mistake together with API file mistakes")
{
    // Three independent mistakes: two API files and a handler configuration in sluice.json that
    // correlation_id's schema rejects. One run must report all three.
    TempDir dir;
    const std::string config =
        dir.write("sluice.json", gateway(R"([{"component": "correlation_id", "config": {"max_length": 2}}])"));
    const std::string a = dir.write("apis/a.json", R"({"name": "A", "context": "/a", "version": 1,
        "endpoints": [{"url": "http://127.0.0.1:9"}], "resources": [{"uri_template": "/", "methods": ["GET"]}]})");
    const std::string b = dir.write("apis/b.json", api("B", "/b", "v1", "ftp://127.0.0.1/x"));
    RunResult r = sluiced({"--check-config", "--config", config});
    INFO(r.err);
    CHECK(r.exitCode == 1);
    CHECK(contains(r.err, errorAt(a, "/version")));
    CHECK(contains(r.err, errorAt(b, "/endpoints/0/url")));
    CHECK(contains(r.err, errorAt(config, "/handlers/0/config/max_length")));
    CHECK(contains(r.err, config + ": 3 errors\n"));
}

TEST_CASE("sluiced: --check-config fails on a bad plugin the configuration uses and warns on an unused one")
{
    TempDir dir;
    dir.write("apis/pets.json", api("Pets", "/pets", "v1"));
    const std::string refused = fixtureFile("newer_minor", "newer_minor.so");

    const std::string uses = dir.write("uses.json", gateway(R"([{"component": "newer_minor"}])"));
    RunResult bad = sluiced({"--check-config", "--config", uses, "--plugin-dir", fixtureDir("newer_minor")});
    INFO(bad.err);
    CHECK(bad.exitCode == 1);
    CHECK(contains(bad.err, errorAt(uses, "/handlers/0/component")));
    CHECK(contains(bad.err, "'newer_minor'"));
    CHECK(contains(bad.err, refused));

    const std::string unused = dir.write("unused.json", gateway(R"([{"component": "correlation_id"}])"));
    RunResult ok = sluiced({"--check-config", "--config", unused, "--plugin-dir", fixtureDir("newer_minor")});
    INFO(ok.err);
    CHECK(ok.exitCode == 0);
    CHECK(contains(ok.err, "warning: plugin not used by this configuration was refused: " + refused));
    CHECK(contains(ok.out, "configuration OK"));
}

// A file refused before its components are known (its permissions) is named by the error of the
// component the configuration misses, and not also called "not used".
TEST_CASE("sluiced: --check-config names a plugin refused for its permissions once, in the missing component's error")
{
    TempDir dir;
    dir.write("apis/pets.json", api("Pets", "/pets", "v1"));
    const std::string plugins = dir.path() + "/plugins";
    std::filesystem::create_directories(plugins);
    ::chmod(plugins.c_str(), 0755);
    const std::string copy = plugins + "/good_c.so";
    std::filesystem::copy_file(fixtureFile("good_c", "good_c.so"), copy);
    ::chmod(copy.c_str(), 0664);
    const std::string config =
        dir.write("sluice.json", gateway(R"([{"component": "good_c", "config": {"value": "x"}}])"));
    RunResult r = sluiced({"--check-config", "--config", config, "--plugin-dir", plugins});
    INFO(r.err);
    CHECK(r.exitCode == 1);
    CHECK(contains(r.err,
                   "no loaded plugin provides component 'good_c'; plugin files that could not be loaded: " + copy));
    CHECK_FALSE(contains(r.err, "not used by this configuration"));
}

TEST_CASE("sluiced: --check-config warns that a stores block is not used yet")
{
    TempDir dir;
    dir.write("apis/pets.json", api("Pets", "/pets", "v1"));
    const std::string config =
        dir.write("sluice.json", R"({"listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}],
        "stores": {"counters": {"kind": "memory"}}})");
    RunResult r = sluiced({"--check-config", "--config", config});
    INFO(r.err);
    CHECK(r.exitCode == 0);
    CHECK(contains(r.err, "warning: " + config + ": /stores: stores is not used by this version"));
}

TEST_CASE("sluiced: start-up with a configured bad plugin exits 1 with the loader's message")
{
    TempDir dir;
    dir.write("apis/pets.json", api("Pets", "/pets", "v1"));
    const std::string config = dir.write("sluice.json", gateway(R"([{"component": "newer_minor"}])"));
    const auto started = std::chrono::steady_clock::now();
    RunResult r = sluiced({"--config", config, "--plugin-dir", fixtureDir("newer_minor")});
    const auto took = std::chrono::steady_clock::now() - started;
    INFO(r.err);
    CHECK(r.exitCode == 1);
    CHECK(took < 10s);
    CHECK(contains(r.err, fixtureFile("newer_minor", "newer_minor.so")));
    CHECK(contains(r.err, "newer minor"));
    CHECK(contains(r.err, "sluiced: not starting: 1 configuration error"));
    CHECK_FALSE(contains(r.err, " started with "));
}

TEST_CASE("sluiced: --list-plugins lists the C plugin from a --plugin-dir")
{
    TempDir dir;
    dir.write("apis/pets.json", api("Pets", "/pets", "v1"));
    const std::string config = dir.write("sluice.json", gateway());
    RunResult r = sluiced({"--list-plugins", "--config", config, "--plugin-dir", fixtureDir("good_c")});
    INFO(r.out << r.err);
    CHECK(r.exitCode == 0);
    CHECK(contains(r.out, "NAME"));
    bool listed = false;
    std::size_t start = 0;
    while (start < r.out.size()) {
        std::size_t end = r.out.find('\n', start);
        std::string line = r.out.substr(start, end - start);
        if (line.rfind("good_c ", 0) == 0) {
            listed = contains(line, "handler") && contains(line, "2.1.0") && contains(line, "1.0") &&
                     contains(line, fixtureFile("good_c", "good_c.so"));
        }
        start = end == std::string::npos ? r.out.size() : end + 1;
    }
    CHECK(listed);
    CHECK(contains(r.out, "correlation_id"));  // the bundled plugin
    // Columns stay apart however long a component name is (lua_mediation_response_body).
    CHECK(contains(r.out, "lua_mediation_response_body"));
    std::size_t lineStart = 0;
    while (lineStart < r.out.size()) {
        std::size_t lineEnd = r.out.find('\n', lineStart);
        std::string line = r.out.substr(lineStart, lineEnd - lineStart);
        if (!line.empty()) {
            std::size_t nameEnd = line.find(' ');
            CAPTURE(line);
            REQUIRE(nameEnd != std::string::npos);
            CHECK(line.compare(nameEnd, 2, "  ") == 0);
        }
        lineStart = lineEnd == std::string::npos ? r.out.size() : lineEnd + 1;
    }
}

TEST_CASE("sluiced: --list-plugins names refused plugins and exits 1")
{
    RunResult r =
        sluiced({"--list-plugins", "--config", "/nonexistent/sluice.json", "--plugin-dir", fixtureDir("entry_null")});
    INFO(r.out << r.err);
    CHECK(r.exitCode == 1);
    CHECK(contains(r.err, "refused: " + fixtureFile("entry_null", "entry_null.so") + ": "));
    CHECK(contains(r.err, "entry function returned NULL"));
}

TEST_CASE("sluiced: runs until SIGTERM, reloads on SIGHUP and keeps the old configuration on a bad reload")
{
    TempDir dir;
    dir.write("apis/pets.json", api("Pets", "/pets", "v1"));
    const std::string config =
        dir.write("sluice.json",
                  gateway(R"([{"component": "correlation_id"}, {"component": "good_c", "config": {"value": "x"}}])"));
    Subprocess p({kSluiced, "--config", config, "--plugin-dir", fixtureDir("good_c"), "--plugin-dir",
                  fixtureDir("bad_version")});

    REQUIRE_MESSAGE(p.waitForOutput(" started with ", kTimeout), p.err());
    CHECK(contains(p.err(), "1 API(s), 2 handler instance(s)"));
    // Port 0 in the configuration: the listener reports the port the kernel chose.
    const std::string listening = "listening on http://127.0.0.1:";
    const std::size_t at = p.err().find(listening);
    REQUIRE_MESSAGE(at != std::string::npos, p.err());
    CHECK(std::stoi(p.err().substr(at + listening.size())) > 0);
    CHECK(contains(
        p.err(), "plugin not used by this configuration was refused: " + fixtureFile("bad_version", "bad_version.so")));

    std::size_t mark = p.err().size();
    p.signal(SIGHUP);
    REQUIRE_MESSAGE(p.waitForOutput("reload complete", kTimeout, mark), p.err());
    CHECK(contains(p.err().substr(mark), "SIGHUP: reloading " + config));

    dir.write("sluice.json", "{ not json");
    mark = p.err().size();
    p.signal(SIGHUP);
    REQUIRE_MESSAGE(p.waitForOutput("the previous configuration stays active", kTimeout, mark), p.err());
    CHECK(contains(p.err().substr(mark), "not valid JSON"));
    CHECK_FALSE(p.exited());

    mark = p.err().size();
    p.signal(SIGTERM);
    auto code = p.wait(kTimeout);
    INFO(p.err());
    CHECK(code == 0);
    CHECK(contains(p.err().substr(mark), "SIGTERM: shutting down"));
}

TEST_CASE("sluiced: --check-config reports an admin token file that others may read")
{
    TempDir dir;
    const std::string token = dir.write("admin.token", "a-token-of-enough-length-42\n");
    const std::string config = dir.write("sluice.json", R"({
      "listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}],
      "admin": {"port": 0, "token_file": "admin.token"}
    })");
    dir.write("apis/pets.json", api("Pets", "/pets", "v1"));
    REQUIRE(::chmod(token.c_str(), 0644) == 0);
    RunResult readable = sluiced({"--check-config", "--config", config});
    INFO(readable.err);
    CHECK(readable.exitCode == 1);
    CHECK(contains(readable.err, errorAt(config, "/admin/token_file")));
    CHECK(contains(readable.err, "chmod 600"));
    CHECK_FALSE(contains(readable.err, "a-token-of-enough-length-42"));

    REQUIRE(::chmod(token.c_str(), 0600) == 0);
    RunResult ok = sluiced({"--check-config", "--config", config});
    INFO(ok.err);
    CHECK(ok.exitCode == 0);
}
