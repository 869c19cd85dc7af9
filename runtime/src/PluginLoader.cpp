#include "sluice/runtime/PluginLoader.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>

namespace fs = std::filesystem;

namespace sluice::runtime {

const char* kindName(sluice_component_kind kind) noexcept
{
    switch (kind) {
        case SLUICE_KIND_HANDLER: return "handler";
        case SLUICE_KIND_BUILDER: return "builder";
        case SLUICE_KIND_FORMATTER: return "formatter";
        case SLUICE_KIND_KEY_MANAGER: return "key_manager";
    }
    return "unknown";
}

bool hasBuildMessage(const sluice_builder_vtable& table) noexcept
{
    return table.struct_size >= offsetof(sluice_builder_vtable, build_message) + sizeof table.build_message &&
           table.build_message != nullptr;
}

const LoadedComponent* PluginRegistry::find(const std::string& name) const
{
    auto it = _components.find(name);
    return it == _components.end() ? nullptr : &it->second;
}

const LoadProblem* PluginRegistry::problemFor(const std::string& component) const
{
    for (const auto& p : _problems) {
        if (std::find(p.components.begin(), p.components.end(), component) != p.components.end()) {
            return &p;
        }
    }
    return nullptr;
}

namespace {

constexpr std::size_t kMinComponentSize = sizeof(sluice_component);
constexpr std::size_t kMinManifestSize = sizeof(sluice_plugin_manifest);
constexpr int kMaxForeignMajor = 16;

bool isSemver(const char* version)
{
    static const std::regex semver(
        R"(^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*))"
        R"((-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?)"
        R"((\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$)");
    return version != nullptr && std::strlen(version) <= 128 && std::regex_match(version, semver);
}

bool isComponentName(const char* name)
{
    static const std::regex pattern("^[a-z0-9_.-]{1,64}$");
    return name != nullptr && std::strlen(name) <= 64 && std::regex_match(name, pattern);
}

std::string mode(mode_t m)
{
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
    return buf;
}

// A plugin runs inside the gateway: only root or the gateway's own user may be able to change it.
std::string permissionProblem(const std::string& path, bool directory)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return std::string("cannot stat: ") + std::strerror(errno);
    }
    if (!directory && !S_ISREG(st.st_mode)) {
        return "not a regular file";
    }
    if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
        return "insecure ownership: owned by uid " + std::to_string(st.st_uid) +
               ", expected root or the user running sluiced (uid " + std::to_string(::geteuid()) + ")";
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return std::string("insecure permissions: ") + (directory ? "directory" : "file") +
               " is writable by group or others (mode " + mode(st.st_mode) + ")";
    }
    return {};
}

// What the file at a path was when the process first loaded it. dlopen() finds a loaded object
// by its path before it looks at the file: one replaced at the same path (a package upgrade) is
// not loaded again, and the code from before goes on running (plugins are never unloaded).
struct FileIdentity {
    void* handle = nullptr;
    dev_t device = 0;
    ino_t inode = 0;
    std::int64_t mtimeNs = 0;
    off_t size = 0;
};

std::mutex& loadedFilesMutex()
{
    static std::mutex m;
    return m;
}

std::map<std::string, FileIdentity>& loadedFiles()
{
    static std::map<std::string, FileIdentity> files;
    return files;
}

// The file at `path` now (taken before dlopen, so that a file swapped while it loads is not
// recorded as the one loaded); nullopt when it cannot be read.
std::optional<FileIdentity> identityOf(const std::string& path)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return std::nullopt;
    }
    FileIdentity id;
    id.device = st.st_dev;
    id.inode = st.st_ino;
    id.mtimeNs = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    id.size = st.st_size;
    return id;
}

// True when `handle` is the object first loaded from `path` and the file there, `seen` before
// this dlopen, has changed since (another inode, time or size).
bool replacedSinceLoaded(const std::string& path, void* handle, std::optional<FileIdentity> seen)
{
    if (!seen) {
        return false;
    }
    FileIdentity now = *seen;
    now.handle = handle;
    std::lock_guard<std::mutex> lock(loadedFilesMutex());
    auto [it, first] = loadedFiles().emplace(path, now);
    if (first || it->second.handle != handle) {
        it->second = now;  // a new object (the path's first load, or after a failed one)
        return false;
    }
    const FileIdentity& then = it->second;
    return then.device != now.device || then.inode != now.inode || then.mtimeNs != now.mtimeNs || then.size != now.size;
}

bool hasElfHeader(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    return in.gcount() == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

// The size of each kind's table in ABI 1.0: a plugin built for 1.0 has nothing after that.
std::size_t vtableMinSize(sluice_component_kind kind)
{
    switch (kind) {
        case SLUICE_KIND_HANDLER: return sizeof(sluice_handler_vtable);
        case SLUICE_KIND_BUILDER: return offsetof(sluice_builder_vtable, build_message);
        case SLUICE_KIND_FORMATTER: return sizeof(sluice_formatter_vtable);
        case SLUICE_KIND_KEY_MANAGER: return sizeof(sluice_key_manager_vtable);
    }
    return 0;
}

// "" when the table has the slots its kind cannot do without (handler hooks are all optional).
std::string missingSlot(sluice_component_kind kind, const void* vtable)
{
    switch (kind) {
        case SLUICE_KIND_HANDLER: return {};
        case SLUICE_KIND_BUILDER: {
            const auto& t = *static_cast<const sluice_builder_vtable*>(vtable);
            return t.build != nullptr || hasBuildMessage(t) ? std::string() : "build or build_message";
        }
        case SLUICE_KIND_FORMATTER: {
            const auto& t = *static_cast<const sluice_formatter_vtable*>(vtable);
            return t.format != nullptr ? std::string() : "format";
        }
        case SLUICE_KIND_KEY_MANAGER: {
            const auto& t = *static_cast<const sluice_key_manager_vtable*>(vtable);
            return t.validate != nullptr ? std::string() : "validate";
        }
    }
    return {};
}

// Checks one component descriptor; returns the problem or "".
std::string componentProblem(const sluice_component* c, std::size_t index)
{
    std::string where = "component #" + std::to_string(index);
    if (c == nullptr) {
        return "invalid manifest: " + where + " is NULL";
    }
    if (c->struct_size < kMinComponentSize) {
        return "invalid manifest: " + where + " has struct_size " + std::to_string(c->struct_size) +
               ", expected at least " + std::to_string(kMinComponentSize);
    }
    if (!isComponentName(c->name)) {
        return "invalid manifest: " + where + " has an invalid name" +
               (c->name != nullptr ? " '" + std::string(c->name) + "'" : std::string(" (NULL)")) +
               " (expected [a-z0-9_.-]{1,64})";
    }
    std::string named = "component '" + std::string(c->name) + "'";
    if (!isSemver(c->version)) {
        return "invalid version string " +
               (c->version != nullptr ? "'" + std::string(c->version) + "'" : std::string("(NULL)")) + " of " + named +
               " (expected a semantic version MAJOR.MINOR.PATCH)";
    }
    auto kind = static_cast<sluice_component_kind>(c->kind);
    std::size_t vmin = vtableMinSize(kind);
    if (vmin == 0) {
        return "invalid manifest: " + named + " has unknown kind " + std::to_string(c->kind);
    }
    if (c->create == nullptr || c->destroy == nullptr) {
        return "invalid manifest: " + named + " has no create/destroy function";
    }
    if (c->vtable == nullptr || *static_cast<const std::size_t*>(c->vtable) < vmin) {
        return "invalid manifest: " + named + " has a missing or too small " + kindName(kind) + " table";
    }
    if (kind == SLUICE_KIND_BUILDER || kind == SLUICE_KIND_FORMATTER) {
        // media_types sits right after struct_size in both tables.
        const auto* builder = static_cast<const sluice_builder_vtable*>(c->vtable);
        if (builder->media_types == nullptr || builder->media_types[0] == nullptr) {
            return "invalid manifest: " + named + " declares no media types";
        }
    }
    if (std::string slot = missingSlot(kind, c->vtable); !slot.empty()) {
        return "invalid manifest: " + named + " has no " + slot + " function in its " + kindName(kind) + " table";
    }
    return {};
}

}  // namespace

PluginLoader::PluginLoader(const sluice_host_api* host, std::shared_ptr<spdlog::logger> log)
    : _host(host), _log(std::move(log))
{
}

bool PluginLoader::refuse(PluginRegistry& registry, const std::string& file, std::string message,
                          std::vector<std::string> components)
{
    registry._problems.push_back(LoadProblem{file, std::move(message), std::move(components)});
    return false;
}

void PluginLoader::loadDirectory(const std::string& dir, PluginRegistry& registry, bool mustExist)
{
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        if (mustExist) {
            refuse(registry, dir, "plugin directory does not exist");
        } else {
            _log->debug("plugin directory {} does not exist; skipped", dir);
        }
        return;
    }
    std::string bad = permissionProblem(dir, true);
    if (!bad.empty()) {
        refuse(registry, dir, bad + "; no plugin in it is loaded");
        return;
    }
    std::vector<std::string> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() == ".so") {
            files.push_back(it->path().string());
        }
    }
    if (ec) {
        refuse(registry, dir, "cannot list plugin directory: " + ec.message());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
        loadFile(file, registry);
    }
}

bool PluginLoader::loadFile(const std::string& file, PluginRegistry& registry)
{
    std::string bad = permissionProblem(file, false);
    if (!bad.empty()) {
        return refuse(registry, file, bad);
    }
    if (!hasElfHeader(file)) {
        return refuse(registry, file, "not a shared object (no ELF header)");
    }
    // Plugins are never unloaded: code of a plugin may still run (timers, in-flight exchanges)
    // and unloading C++ code with static state is unsafe.
    const std::optional<FileIdentity> identity = identityOf(file);
    void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* err = ::dlerror();
        return refuse(registry, file,
                      std::string("cannot be loaded as a shared object: ") + (err ? err : "unknown error"));
    }
    if (replacedSinceLoaded(file, handle, identity)) {
        _log->warn(
            "{} has changed since sluiced loaded it, but a loaded shared object cannot be replaced in a "
            "running process: the plugin as it was goes on running (the manifest below is its). Restart "
            "sluiced to run the new file",
            file);
    }
    auto entry = reinterpret_cast<sluice_plugin_entry_fn>(::dlsym(handle, SLUICE_ENTRY_SYMBOL));
    if (entry == nullptr) {
        for (int major = 0; major <= kMaxForeignMajor; ++major) {
            std::string symbol = "sluice_plugin_entry_v" + std::to_string(major);
            if (major != SLUICE_ABI_MAJOR && ::dlsym(handle, symbol.c_str()) != nullptr) {
                return refuse(registry, file,
                              "built for plugin ABI major " + std::to_string(major) + " (exports " + symbol +
                                  "), but this runtime provides ABI " SLUICE_ABI_VERSION_STRING
                                  "; rebuild the plugin against SDK " SLUICE_ABI_VERSION_STRING);
            }
        }
        return refuse(registry, file, "no entry symbol " SLUICE_ENTRY_SYMBOL ": not a Sluice plugin");
    }
    const sluice_plugin_manifest* m = entry(_host);
    if (m == nullptr) {
        return refuse(registry, file, "the plugin refused to load (its entry function returned NULL)");
    }
    if (m->struct_size < kMinManifestSize) {
        return refuse(registry, file,
                      "invalid manifest: struct_size " + std::to_string(m->struct_size) +
                          " is smaller than ABI 1.0's " + std::to_string(kMinManifestSize));
    }
    std::string built = std::to_string(m->abi_major) + "." + std::to_string(m->abi_minor);
    if (m->abi_major != SLUICE_ABI_MAJOR) {
        return refuse(registry, file,
                      "manifest declares plugin ABI " + built +
                          ", but this runtime provides ABI " SLUICE_ABI_VERSION_STRING " (major versions differ)");
    }
    std::vector<std::string> names;
    for (std::size_t i = 0; m->components != nullptr && i < m->component_count; ++i) {
        const sluice_component* c = m->components[i];
        if (c != nullptr && c->name != nullptr) {
            names.emplace_back(c->name);
        }
    }
    if (m->abi_minor > SLUICE_ABI_MINOR) {
        return refuse(
            registry, file,
            "needs plugin ABI " + built +
                ", newer than this runtime's ABI " SLUICE_ABI_VERSION_STRING
                " (newer minor); upgrade sluiced or rebuild the plugin against SDK " SLUICE_ABI_VERSION_STRING,
            names);
    }
    if (m->name == nullptr || !isComponentName(m->name)) {
        return refuse(registry, file, "invalid manifest: plugin name is missing or not [a-z0-9_.-]{1,64}", names);
    }
    if (!isSemver(m->version)) {
        return refuse(registry, file,
                      "invalid version string " +
                          (m->version ? "'" + std::string(m->version) + "'" : std::string("(NULL)")) + " of plugin '" +
                          m->name + "' (expected a semantic version MAJOR.MINOR.PATCH)",
                      names);
    }
    if (m->components == nullptr || m->component_count == 0) {
        return refuse(registry, file, "invalid manifest: plugin '" + std::string(m->name) + "' offers no component",
                      names);
    }

    auto plugin = std::make_unique<LoadedPlugin>();
    plugin->file = file;
    plugin->name = m->name;
    plugin->version = m->version;
    plugin->description = m->description != nullptr ? m->description : "";
    plugin->abiMajor = m->abi_major;
    plugin->abiMinor = m->abi_minor;

    std::vector<LoadedComponent> components;
    for (std::size_t i = 0; i < m->component_count; ++i) {
        const sluice_component* c = m->components[i];
        std::string problem = componentProblem(c, i);
        if (!problem.empty()) {
            return refuse(registry, file, problem, names);
        }
        if (const LoadedComponent* existing = registry.find(c->name)) {
            return refuse(registry, file,
                          "duplicate component name '" + std::string(c->name) + "': already provided by " +
                              existing->plugin->file + "; this plugin is skipped",
                          names);
        }
        for (const auto& earlier : components) {
            if (earlier.name == c->name) {
                return refuse(registry, file, "duplicate component name '" + earlier.name + "' within the plugin",
                              names);
            }
        }
        LoadedComponent lc;
        lc.descriptor = c;
        lc.kind = static_cast<sluice_component_kind>(c->kind);
        lc.name = c->name;
        lc.version = c->version;
        lc.description = c->description != nullptr ? c->description : "";
        lc.priority = c->priority;
        lc.flags = c->flags;
        if (c->config_schema != nullptr) {
            try {
                lc.schema = std::make_shared<SchemaValidator>(std::string(c->config_schema));
            } catch (const std::exception& e) {
                return refuse(registry, file, "component '" + lc.name + "' has an unusable config schema: " + e.what(),
                              names);
            }
        }
        lc.plugin = plugin.get();
        components.push_back(std::move(lc));
    }
    for (auto& lc : components) {
        std::string name = lc.name;
        registry._components.emplace(name, std::move(lc));
    }
    _log->info("loaded plugin {} {} from {} ({} component{}, ABI {})", plugin->name, plugin->version, file,
               components.size(), components.size() == 1 ? "" : "s", built);
    registry._plugins.push_back(std::move(plugin));
    return true;
}

}  // namespace sluice::runtime
