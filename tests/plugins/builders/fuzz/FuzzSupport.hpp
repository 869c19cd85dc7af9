#pragma once

// Shared by the builder fuzz targets: load the builder through the fake host (the plugin's .so
// for corpus replay, or the plugin's code linked into a libFuzzer binary) and check trees.
// A broken invariant aborts, which libFuzzer reports as a crash and ctest as a failure.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include <sluice/sdk.hpp>
#include <sluice/sdk/testing/FakeHost.hpp>

#include "codec/Utf8.h"

#ifdef SLUICE_FUZZ_LINKED
extern "C" const sluice_plugin_manifest* SLUICE_ENTRY_FUNCTION(const sluice_host_api* host);
#endif

namespace sluice::fuzz {

using sdk::testing::FakeExchange;
using sdk::testing::FakeHost;
using sdk::testing::FakeInstance;

[[noreturn]] inline void broken(const char* what)
{
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
}

inline void expect(bool ok, const char* what)
{
    if (!ok) {
        broken(what);
    }
}

// The builder component `name`, loaded once per process.
class BuilderHarness {
public:
    BuilderHarness(const char* name, const char* config)
    {
        _host.logLevel = SLUICE_LOG_WARN;  // refusals log at debug; keep the fake's log small
#ifdef SLUICE_FUZZ_LINKED
        _host.use(&SLUICE_ENTRY_FUNCTION);
#else
        _host.open(SLUICE_PLUGIN_PATH);
#endif
        _builder = _host.create(name, config);
        _table = static_cast<const sluice_builder_vtable*>(_builder->component().vtable);
    }

    FakeExchange exchange() { return _host.exchange(); }

    // The built tree or nullptr; the status and the out pointer must agree. Goes through
    // build_message, as the runtime does; `contentType` defaults to the first media type.
    const sluice_value* build(FakeExchange& ex, std::string_view bytes, std::string_view contentType = {})
    {
        const sluice_build_args args = sdk::testing::requestBuildArgs(_table->media_types[0], bytes, contentType);
        const sluice_value* out = nullptr;
        sluice_status st = _table->build_message(_builder->get(), ex.handle(), &args, &out);
        expect((st == SLUICE_OK) == (out != nullptr), "build status and result disagree");
        return out;
    }

private:
    FakeHost _host;
    std::unique_ptr<FakeInstance> _builder;
    const sluice_builder_vtable* _table = nullptr;
};

// Structural equality: same types, same bytes, same order.
inline bool sameTree(const sluice_value& a, const sluice_value& b)
{
    if (a.type != b.type) {
        return false;
    }
    switch (a.type) {
        case SLUICE_VALUE_BOOL: return (a.boolean != 0) == (b.boolean != 0);
        case SLUICE_VALUE_NUMBER:
        case SLUICE_VALUE_STRING: return sdk::view(a.text) == sdk::view(b.text);
        case SLUICE_VALUE_ARRAY:
            if (a.count != b.count) {
                return false;
            }
            for (std::size_t i = 0; i < a.count; ++i) {
                if (!sameTree(a.items[i], b.items[i])) {
                    return false;
                }
            }
            return true;
        case SLUICE_VALUE_OBJECT:
            if (a.count != b.count) {
                return false;
            }
            for (std::size_t i = 0; i < a.count; ++i) {
                if (sdk::view(a.members[i].key) != sdk::view(b.members[i].key) ||
                    !sameTree(a.members[i].value, b.members[i].value)) {
                    return false;
                }
            }
            return true;
        default: return true;
    }
}

// Every node well-typed, every container's pointer present, every string and key UTF-8.
inline void checkTree(const sluice_value& v, std::size_t depth, std::size_t maxDepth)
{
    expect(depth <= maxDepth, "tree deeper than the limit");
    switch (v.type) {
        case SLUICE_VALUE_NULL:
        case SLUICE_VALUE_BOOL: return;
        case SLUICE_VALUE_NUMBER:
        case SLUICE_VALUE_STRING:
            expect(v.text.data != nullptr || v.text.len == 0, "text without data");
            expect(plugins::codec::isValidUtf8(sdk::view(v.text)), "text is not UTF-8");
            return;
        case SLUICE_VALUE_ARRAY:
            expect(v.count == 0 || v.items != nullptr, "array without items");
            for (std::size_t i = 0; i < v.count; ++i) {
                checkTree(v.items[i], depth + 1, maxDepth);
            }
            return;
        case SLUICE_VALUE_OBJECT:
            expect(v.count == 0 || v.members != nullptr, "object without members");
            for (std::size_t i = 0; i < v.count; ++i) {
                expect(plugins::codec::isValidUtf8(sdk::view(v.members[i].key)), "key is not UTF-8");
                checkTree(v.members[i].value, depth + 1, maxDepth);
            }
            return;
        default: broken("unknown value type");
    }
}

}  // namespace sluice::fuzz
