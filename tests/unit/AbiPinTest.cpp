// Pins sdk/include/sluice/abi.h: any edit of the ABI header must come with a deliberate ABI
// version bump in abi_version.h (MINOR for an append, MAJOR for a change) and a new pin here.
//
// To update the pin after bumping the version:
//     sed 's/\r$//' sdk/include/sluice/abi.h | sha256sum
// (CRLF is hashed as LF, so a Windows checkout does not change the hash.)
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>
#include <doctest/doctest.h>

#include "sluice/abi.h"
#include "support/TempDir.h"
#include "support/TestPaths.h"

namespace {

struct AbiPin {
    unsigned major;
    unsigned minor;
    const char* sha256;
};

// The ABI version and the hash of abi.h that belongs to it.
constexpr AbiPin kPinned{1, 6, "2d1a89fecc8dda80ceb4e9f6be84aae84b413fb3d37189f70e519ce2cc68440e"};

std::string sha256OfText(std::string text)
{
    std::string normalised;
    normalised.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
            continue;
        }
        normalised.push_back(text[i]);
    }
    Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
    engine.update(normalised);
    return Poco::DigestEngine::digestToHex(engine.digest());
}

std::string version(unsigned major, unsigned minor) { return std::to_string(major) + "." + std::to_string(minor); }

}  // namespace

TEST_CASE("AbiPin: abi.h matches the hash pinned for this ABI version")
{
    const std::string header = sluice::test::sourceDir() + "/sdk/include/sluice/abi.h";
    const std::string actual = sha256OfText(sluice::test::readFile(header));
    const std::string current = version(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR);
    const std::string pinned = version(kPinned.major, kPinned.minor);

    if (current == pinned) {
        CHECK_MESSAGE(actual == kPinned.sha256,
                      "sdk/include/sluice/abi.h changed (sha256 "
                          << actual << ", pinned " << kPinned.sha256 << " for ABI " << pinned
                          << ").\nEvery edit of the plugin ABI must be a deliberate version bump: "
                          << "bump SLUICE_ABI_MINOR in sdk/include/sluice/abi_version.h for an append-only change "
                          << "(new host-table group, new slot at the end, new enum value), or SLUICE_ABI_MAJOR for "
                          << "anything else; then set kPinned in tests/unit/AbiPinTest.cpp to {MAJOR, MINOR, \""
                          << actual << "\"}.");
    } else {
        FAIL_CHECK("the plugin ABI version is now "
                   << current << " but the pin is for " << pinned << ": set kPinned in tests/unit/AbiPinTest.cpp to {"
                   << SLUICE_ABI_MAJOR << ", " << SLUICE_ABI_MINOR << ", \"" << actual << "\"}.");
    }
}

TEST_CASE("AbiPin: line endings do not change the hash")
{
    CHECK(sha256OfText("a\r\nb\r\n") == sha256OfText("a\nb\n"));
    CHECK(sha256OfText("a\nb\n") != sha256OfText("a\nb"));
    CHECK(sha256OfText("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("AbiPin: the version macros agree with the entry symbol")
{
    std::ostringstream expected;
    expected << "sluice_plugin_entry_v" << SLUICE_ABI_MAJOR;
    CHECK(std::string(SLUICE_ENTRY_SYMBOL) == expected.str());
    CHECK(std::string(SLUICE_ABI_VERSION_STRING) == version(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR));
}

TEST_CASE("AbiPin: every struct that may grow starts with struct_size")
{
    CHECK(offsetof(sluice_host_api, struct_size) == 0);
    CHECK(offsetof(sluice_plugin_manifest, struct_size) == 0);
    CHECK(offsetof(sluice_component, struct_size) == 0);
    CHECK(offsetof(sluice_create_args, struct_size) == 0);
    CHECK(offsetof(sluice_handler_vtable, struct_size) == 0);
    CHECK(offsetof(sluice_builder_vtable, struct_size) == 0);
    CHECK(offsetof(sluice_formatter_vtable, struct_size) == 0);
    CHECK(offsetof(sluice_key_manager_vtable, struct_size) == 0);
    CHECK(offsetof(sluice_http_request, struct_size) == 0);
    CHECK(offsetof(sluice_http_response, struct_size) == 0);
    CHECK(offsetof(sluice_token_info, struct_size) == 0);
    CHECK(offsetof(sluice_build_args, struct_size) == 0);
    // The loader reads media_types of builders and formatters through one type.
    CHECK(offsetof(sluice_builder_vtable, media_types) == offsetof(sluice_formatter_vtable, media_types));
}

TEST_CASE("AbiPin: members added in 1.1 come after every 1.0 member")
{
    // A 1.0 plugin's struct ends where 1.0's did; the readers check struct_size against these.
    CHECK(offsetof(sluice_create_args, config_dir) == offsetof(sluice_create_args, error_capacity) + sizeof(size_t));
    CHECK(offsetof(sluice_create_args, config_dir) + sizeof(const char*) == sizeof(sluice_create_args));
    CHECK(offsetof(sluice_builder_vtable, build_message) ==
          offsetof(sluice_builder_vtable, build) + sizeof(void (*)(void)));
    CHECK(offsetof(sluice_builder_vtable, build_message) + sizeof(void (*)(void)) == sizeof(sluice_builder_vtable));
}
