// The loader refuses every broken plugin with its own message naming the file, and loads good
// ones (C and C++). Fixtures: tests/abi/fixtures, one directory per case.
#include "sluice/runtime/PluginLoader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>

#include "sluice/abi_version.h"
#include "sluice/runtime/HostApi.h"
#include "sluice/runtime/Logging.h"
#include "support/TempDir.h"
#include "support/TestPaths.h"

namespace fs = std::filesystem;
using namespace sluice::runtime;
using sluice::test::fixtureDir;
using sluice::test::fixtureFile;
using sluice::test::TempDir;

namespace {

PluginRegistry loadDirectory(const std::string& dir)
{
    PluginRegistry registry;
    PluginLoader loader(hostApi(), Logging::get("loader"));
    loader.loadDirectory(dir, registry, true);
    return registry;
}

std::string abi(unsigned major, unsigned minor) { return std::to_string(major) + "." + std::to_string(minor); }

const std::string kRuntimeAbi = abi(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR);

// One loader failure mode: the fixture directory, the refused file and the phrase that only
// this failure's message contains.
struct FailureMode {
    std::string dir;
    std::string file;
    std::string phrase;
};

std::vector<FailureMode> failureModes()
{
    const std::string otherMajor = std::to_string(SLUICE_ABI_MAJOR + 1);
    return {
        {"not_elf", "notelf.so", "not a shared object (no ELF header)"},
        {"no_entry", "no_entry.so", "no entry symbol " SLUICE_ENTRY_SYMBOL ": not a Sluice plugin"},
        {"other_major", "other_major.so",
         "built for plugin ABI major " + otherMajor + " (exports sluice_plugin_entry_v" + otherMajor + ")"},
        {"manifest_major", "manifest_major.so", "manifest declares plugin ABI " + abi(SLUICE_ABI_MAJOR + 1, 0)},
        {"newer_minor", "newer_minor.so",
         "needs plugin ABI " + abi(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR + 1) + ", newer than this runtime's ABI " +
             kRuntimeAbi + " (newer minor)"},
        {"entry_null", "entry_null.so", "its entry function returned NULL"},
        {"duplicate", "dup_second.so", "duplicate component name 'duplicate_component'"},
        {"bad_version", "bad_version.so", "invalid version string '1.x' of component 'bad_version'"},
        {"bad_schema", "bad_schema.so", "component 'bad_schema' has an unusable config schema"},
        {"builder_no_build", "builder_no_build.so",
         "component 'builder_no_build' has no build or build_message function in its builder table"},
    };
}

// Loads the fixture directory of `mode` and returns the one problem it must produce.
LoadProblem refusal(const FailureMode& mode)
{
    PluginRegistry registry = loadDirectory(fixtureDir(mode.dir));
    const std::string path = fixtureFile(mode.dir, mode.file);
    REQUIRE(registry.problems().size() == 1);
    const LoadProblem& problem = registry.problems().front();
    INFO("message: " << problem.str());
    CHECK(problem.file == path);
    CHECK(problem.str().find(path) != std::string::npos);
    CHECK(problem.message.find(mode.phrase) != std::string::npos);
    return problem;
}

FailureMode mode(const std::string& dir)
{
    for (auto& m : failureModes()) {
        if (m.dir == dir) {
            return m;
        }
    }
    FAIL("no failure mode " << dir);
    return {};
}

}  // namespace

TEST_CASE("PluginLoader: a file that is not a shared object is refused")
{
    LoadProblem p = refusal(mode("not_elf"));
    CHECK(p.components.empty());
}

TEST_CASE("PluginLoader: a shared object without the versioned entry symbol is refused")
{
    PluginRegistry registry = loadDirectory(fixtureDir("no_entry"));
    LoadProblem p = refusal(mode("no_entry"));
    CHECK(registry.plugins().empty());
}

TEST_CASE("PluginLoader: a plugin exporting only another major's entry is refused with both versions")
{
    LoadProblem p = refusal(mode("other_major"));
    CHECK(p.message.find("this runtime provides ABI " + kRuntimeAbi) != std::string::npos);
    CHECK(p.message.find("rebuild the plugin") != std::string::npos);
}

TEST_CASE("PluginLoader: a manifest declaring another major is refused with both versions")
{
    LoadProblem p = refusal(mode("manifest_major"));
    CHECK(p.message.find("this runtime provides ABI " + kRuntimeAbi) != std::string::npos);
    CHECK(p.message.find("major versions differ") != std::string::npos);
}

TEST_CASE("PluginLoader: a plugin built for a newer minor is refused and names its components")
{
    LoadProblem p = refusal(mode("newer_minor"));
    CHECK(p.components == std::vector<std::string>{"newer_minor"});
    CHECK(loadDirectory(fixtureDir("newer_minor")).find("newer_minor") == nullptr);
}

TEST_CASE("PluginLoader: an entry function returning NULL is refused")
{
    LoadProblem p = refusal(mode("entry_null"));
    CHECK(p.message.find("refused to load") != std::string::npos);
}

TEST_CASE("PluginLoader: a duplicate component name across two files keeps the first and refuses the second")
{
    PluginRegistry registry = loadDirectory(fixtureDir("duplicate"));
    LoadProblem p = refusal(mode("duplicate"));
    const std::string first = fixtureFile("duplicate", "dup_first.so");
    CHECK(p.message.find("already provided by " + first) != std::string::npos);
    CHECK(p.components == std::vector<std::string>{"duplicate_component"});
    const LoadedComponent* kept = registry.find("duplicate_component");
    REQUIRE(kept != nullptr);
    CHECK(kept->plugin->file == first);
    CHECK(kept->plugin->name == "dup_first");
    CHECK(registry.plugins().size() == 1);
}

TEST_CASE("PluginLoader: an invalid version string is refused")
{
    LoadProblem p = refusal(mode("bad_version"));
    CHECK(p.message.find("semantic version") != std::string::npos);
    CHECK(loadDirectory(fixtureDir("bad_version")).find("bad_version") == nullptr);
}

TEST_CASE("PluginLoader: an invalid config schema text is refused")
{
    LoadProblem p = refusal(mode("bad_schema"));
    CHECK(p.components == std::vector<std::string>{"bad_schema"});
}

TEST_CASE("PluginLoader: a config schema that is JSON but not a usable schema is refused, not a crash")
{
    PluginRegistry registry = loadDirectory(fixtureDir("bad_schema_rules"));
    REQUIRE(registry.problems().size() == 1);
    const LoadProblem& p = registry.problems().front();
    CHECK(p.file == fixtureFile("bad_schema_rules", "bad_schema_rules.so"));
    CHECK(p.message.find("component 'bad_schema_rules' has an unusable config schema: invalid JSON Schema") !=
          std::string::npos);
    CHECK(registry.find("bad_schema_rules") == nullptr);
}

TEST_CASE("PluginLoader: every failure mode has its own message")
{
    auto modes = failureModes();
    for (const auto& m : modes) {
        PluginRegistry registry = loadDirectory(fixtureDir(m.dir));
        REQUIRE(registry.problems().size() == 1);
        const std::string message = registry.problems().front().message;
        for (const auto& other : modes) {
            INFO(m.dir << " vs " << other.dir << ": " << message);
            CHECK((message.find(other.phrase) != std::string::npos) == (other.dir == m.dir));
        }
    }
}

TEST_CASE("PluginLoader: insecure permissions and ownership are refused")
{
    TempDir tmp;
    const std::string copy = tmp.file("good_c.so");
    fs::copy_file(fixtureFile("good_c", "good_c.so"), copy);

    SUBCASE("a group- and world-writable file")
    {
        REQUIRE(::chmod(copy.c_str(), 0666) == 0);
        PluginRegistry registry = loadDirectory(tmp.path());
        REQUIRE(registry.problems().size() == 1);
        const LoadProblem& p = registry.problems().front();
        CHECK(p.file == copy);
        CHECK(p.message == "insecure permissions: file is writable by group or others (mode 0666)");
        CHECK(registry.find("good_c") == nullptr);
    }
    SUBCASE("a world-writable directory refuses everything in it")
    {
        REQUIRE(::chmod(copy.c_str(), 0644) == 0);
        REQUIRE(::chmod(tmp.path().c_str(), 0777) == 0);
        PluginRegistry registry = loadDirectory(tmp.path());
        REQUIRE(registry.problems().size() == 1);
        const LoadProblem& p = registry.problems().front();
        CHECK(p.file == tmp.path());
        CHECK(p.message.find("insecure permissions: directory is writable by group or others (mode 0777)") !=
              std::string::npos);
        CHECK(p.message.find("no plugin in it is loaded") != std::string::npos);
        CHECK(registry.plugins().empty());
    }
    SUBCASE("the same file with safe permissions loads")
    {
        REQUIRE(::chmod(copy.c_str(), 0644) == 0);
        PluginRegistry registry = loadDirectory(tmp.path());
        CHECK(registry.problems().empty());
        CHECK(registry.find("good_c") != nullptr);
    }
    if (::geteuid() == 0) {
        SUBCASE("a file owned by another user")
        {
            REQUIRE(::chmod(copy.c_str(), 0644) == 0);
            REQUIRE(::chown(copy.c_str(), 65534, 65534) == 0);
            PluginRegistry registry = loadDirectory(tmp.path());
            REQUIRE(registry.problems().size() == 1);
            CHECK(registry.problems().front().file == copy);
            CHECK(registry.problems().front().message.find("insecure ownership: owned by uid 65534") !=
                  std::string::npos);
        }
    }
}

TEST_CASE("PluginLoader: a missing directory is a problem only when it must exist")
{
    TempDir tmp;
    const std::string missing = tmp.file("nowhere");
    PluginLoader loader(hostApi(), Logging::get("loader"));
    PluginRegistry optional;
    loader.loadDirectory(missing, optional, false);
    CHECK(optional.problems().empty());
    PluginRegistry required;
    loader.loadDirectory(missing, required, true);
    REQUIRE(required.problems().size() == 1);
    CHECK(required.problems().front().file == missing);
    CHECK(required.problems().front().message == "plugin directory does not exist");
}

TEST_CASE("PluginLoader: the C99 plugin loads with its manifest data")
{
    PluginRegistry registry = loadDirectory(fixtureDir("good_c"));
    CHECK(registry.problems().empty());
    const LoadedComponent* c = registry.find("good_c");
    REQUIRE(c != nullptr);
    CHECK(c->kind == SLUICE_KIND_HANDLER);
    CHECK(c->version == "2.1.0");
    CHECK(c->priority == 50);
    CHECK(c->description == "sets X-Good-C both ways (C99)");
    CHECK(c->schema != nullptr);
    REQUIRE(c->plugin != nullptr);
    CHECK(c->plugin->file == fixtureFile("good_c", "good_c.so"));
    CHECK(c->plugin->name == "good_c");
    CHECK(c->plugin->abiMajor == SLUICE_ABI_MAJOR);
    CHECK(c->plugin->abiMinor == SLUICE_ABI_MINOR);
}

TEST_CASE("PluginLoader: C++ SDK plugins load: the steer fixture and the bundled correlation_id")
{
    PluginRegistry registry;
    PluginLoader loader(hostApi(), Logging::get("loader"));
    loader.loadDirectory(fixtureDir("steer"), registry, true);
    loader.loadDirectory(sluice::test::bundledPluginDir(), registry, true);
    CHECK(registry.problems().empty());
    const LoadedComponent* steer = registry.find("steer");
    REQUIRE(steer != nullptr);
    CHECK(steer->version == "1.2.3");
    CHECK(steer->priority == 10);
    const LoadedComponent* correlation = registry.find("correlation_id");
    REQUIRE(correlation != nullptr);
    CHECK(correlation->kind == SLUICE_KIND_HANDLER);
    CHECK(correlation->schema != nullptr);
    CHECK(registry.plugins().size() >= 2);
}

TEST_CASE("PluginLoader: a plugin file replaced since it was loaded is reported, as its old code stays")
{
    // dlopen() returns the object already loaded from a path: the new file is not run.
    TempDir tmp;
    const std::string path = tmp.file("swapped.so");
    fs::copy_file(fixtureFile("good_c", "good_c.so"), path);
    ::chmod(path.c_str(), 0644);
    std::ostringstream lines;
    auto logger =
        std::make_shared<spdlog::logger>("loader-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(lines));
    PluginLoader loader(hostApi(), logger);
    auto load = [&] {
        PluginRegistry registry;
        CHECK(loader.loadFile(path, registry));
        REQUIRE(registry.plugins().size() == 1);
        return registry.plugins().front()->name;
    };
    CHECK(load() == "good_c");
    CHECK(load() == "good_c");  // the same file again: nothing to say
    CHECK(lines.str().find("has changed since sluiced loaded it") == std::string::npos);

    // A package upgrade: a new file renamed over the path (another inode).
    const std::string next = tmp.file("next.so");
    fs::copy_file(fixtureFile("steer", "steer.so"), next);
    ::chmod(next.c_str(), 0644);
    REQUIRE(::rename(next.c_str(), path.c_str()) == 0);
    CHECK(load() == "good_c");
    CHECK(lines.str().find(path + " has changed since sluiced loaded it") != std::string::npos);
}

TEST_CASE("PluginLoader: loading the same directory twice into one registry reports duplicates")
{
    PluginRegistry registry;
    PluginLoader loader(hostApi(), Logging::get("loader"));
    CHECK(loader.loadFile(fixtureFile("good_c", "good_c.so"), registry));
    CHECK_FALSE(loader.loadFile(fixtureFile("good_c", "good_c.so"), registry));
    REQUIRE(registry.problems().size() == 1);
    CHECK(registry.problems().front().message.find("duplicate component name 'good_c'") != std::string::npos);
    CHECK(registry.plugins().size() == 1);
}
