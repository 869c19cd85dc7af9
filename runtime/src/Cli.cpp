#include "sluice/runtime/Cli.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iomanip>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "sluice/abi_version.h"
#include "sluice/runtime/AdminServer.h"
#include "sluice/runtime/FreeMemory.h"
#include "sluice/runtime/Gateway.h"
#include "sluice/runtime/Json.h"
#include "sluice/runtime/Logging.h"
#include "sluice/runtime/Version.h"
#include "sluice/runtime/transport/HttpServer.h"
#include "sluice/runtime/transport/TicketKeys.h"
#include "sluice/runtime/upstream/AddressRefresher.h"
#include "sluice/runtime/upstream/EndpointSet.h"

namespace sluice::runtime {

namespace {

constexpr const char* kDefaultConfig = "/etc/sluice/sluice.json";
constexpr int kShutdownGraceMs = 30000;

const char* kUsage =
    "Usage: sluiced [options]\n"
    "  --config PATH      gateway configuration (default /etc/sluice/sluice.json)\n"
    "  --plugin-dir DIR   also load plugins from DIR (repeatable)\n"
    "  --check-config     validate the configuration and the plugins it uses, print every error\n"
    "  --list-plugins     list loadable plugins and their components\n"
    "  --version          print the runtime and plugin ABI versions\n"
    "  --help             this text\n";

struct Options {
    std::string config = kDefaultConfig;
    bool configGiven = false;
    std::vector<std::string> pluginDirs;
    enum class Command { Run, Check, List, Version, Help } command = Command::Run;
};

std::optional<Options> parse(const std::vector<std::string>& args, std::ostream& err)
{
    Options o;
    int commands = 0;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](const char* flag) -> std::optional<std::string> {
            if (i + 1 >= args.size()) {
                err << "sluiced: " << flag << " needs a value\n";
                return std::nullopt;
            }
            return args[++i];
        };
        if (a == "--config" || a == "-c") {
            auto v = value("--config");
            if (!v) return std::nullopt;
            o.config = *v;
            o.configGiven = true;
        } else if (a == "--plugin-dir") {
            auto v = value("--plugin-dir");
            if (!v) return std::nullopt;
            o.pluginDirs.push_back(*v);
        } else if (a == "--check-config" || a == "-t") {
            o.command = Options::Command::Check;
            ++commands;
        } else if (a == "--list-plugins") {
            o.command = Options::Command::List;
            ++commands;
        } else if (a == "--version" || a == "-v") {
            o.command = Options::Command::Version;
            ++commands;
        } else if (a == "--help" || a == "-h") {
            o.command = Options::Command::Help;
            ++commands;
        } else {
            err << "sluiced: unknown argument '" << a << "'\n" << kUsage;
            return std::nullopt;
        }
    }
    if (commands > 1) {
        err << "sluiced: give at most one of --check-config, --list-plugins, --version, --help\n";
        return std::nullopt;
    }
    return o;
}

void printErrors(const std::vector<ConfigError>& errors, std::ostream& err)
{
    for (const auto& e : errors) {
        err << "error: " << e.str() << "\n";
    }
}

int listPlugins(const Options& o, std::ostream& out, std::ostream& err)
{
    std::optional<GatewayConfig> config;
    if (o.configGiven || std::ifstream(o.config).good()) {
        ConfigLoadResult loaded = ConfigLoader::load(o.config);
        if (loaded.config && loaded.errors.empty()) {
            config = std::move(loaded.config);
        } else {
            err << "warning: configuration " << o.config
                << " has errors; listing the bundled and --plugin-dir plugins only\n";
        }
    }
    auto registry = loadPlugins(pluginDirectories(config ? &*config : nullptr, o.pluginDirs), Logging::get("loader"));
    // The name column is as wide as the longest name, so that columns stay apart.
    std::size_t nameWidth = 4;
    for (const auto& entry : registry->components()) {
        nameWidth = std::max(nameWidth, entry.first.size());
    }
    const int nameColumn = static_cast<int>(nameWidth + 2);
    out << std::left << std::setw(nameColumn) << "NAME" << std::setw(13) << "KIND" << std::setw(10) << "VERSION"
        << std::setw(6) << "ABI"
        << "FILE\n";
    for (const auto& [name, c] : registry->components()) {
        out << std::setw(nameColumn) << name << std::setw(13) << kindName(c.kind) << std::setw(10) << c.version
            << std::setw(6) << (std::to_string(c.plugin->abiMajor) + "." + std::to_string(c.plugin->abiMinor))
            << c.plugin->file << "\n";
    }
    for (const auto& p : registry->problems()) {
        err << "refused: " << p.str() << "\n";
    }
    return registry->problems().empty() ? 0 : 1;
}

// `stores` is in the schema for the components that will read it; nothing does yet.
constexpr const char* kStoresUnused =
    "stores is not used by this version: no component reads it yet (it is only checked against the schema)";

int checkConfig(const Options& o, std::ostream& out, std::ostream& err)
{
    Gateway gateway({o.config, o.pluginDirs});
    SnapshotResult r = gateway.load();
    for (const auto& w : r.warnings) {
        err << "warning: plugin not used by this configuration was refused: " << w.str() << "\n";
    }
    if (r.snapshot && !r.snapshot->config.stores.isEmpty()) {
        err << "warning: " << o.config << ": /stores: " << kStoresUnused << "\n";
    }
    if (!r.errors.empty()) {
        printErrors(r.errors, err);
        err << o.config << ": " << r.errors.size() << " error" << (r.errors.size() == 1 ? "" : "s") << "\n";
        return 1;
    }
    // Read at start only, but a start that would fail on it is worth knowing before.
    if (const std::string& tokenFile = r.snapshot->config.adminTokenFile; !tokenFile.empty()) {
        try {
            AdminServer::readTokenFile(tokenFile);
        } catch (const std::exception& e) {
            printErrors({ConfigError{r.snapshot->config.file, "/admin/token_file", e.what()}}, err);
            err << o.config << ": 1 error\n";
            return 1;
        }
    }
    out << o.config << ": configuration OK (" << r.snapshot->config.apis.size() << " API"
        << (r.snapshot->config.apis.size() == 1 ? "" : "s") << ", " << r.snapshot->instanceCount << " handler instance"
        << (r.snapshot->instanceCount == 1 ? "" : "s") << ", " << r.snapshot->plugins->plugins().size() << " plugin"
        << (r.snapshot->plugins->plugins().size() == 1 ? "" : "s") << ")\n";
    return 0;
}

void refreshAddressesOf(const Snapshot& snapshot)
{
    std::vector<std::shared_ptr<upstream::EndpointSet>> sets;
    for (const auto& api : snapshot.apis) {
        sets.push_back(api.endpoints);
    }
    upstream::AddressRefresher::instance().serve(sets, std::chrono::milliseconds(snapshot.config.resolverRefreshMs));
}

// A host as a URL writes it: an IPv6 address in brackets.
std::string urlHost(const std::string& host)
{
    return !host.empty() && host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host;
}

void logLoaded(const SnapshotResult& r, spdlog::logger& log)
{
    for (const auto& w : r.warnings) {
        log.warn("plugin not used by this configuration was refused: {}", w.str());
    }
    if (r.snapshot && !r.snapshot->config.stores.isEmpty()) {
        log.warn(kStoresUnused);
    }
    for (const auto& e : r.errors) {
        log.error("{}", e.str());
    }
}

// Runs reloads one at a time, whoever asks (SIGHUP, on a thread of its own so that the signal
// loop stays free for a stop signal; the admin endpoint, on its thread), and keeps them apart
// from a stop: once stop() was called no reload starts or installs its snapshot, so the server
// is never given a snapshot while it stops. A reload may load for long, or for ever (a plugin's
// create that hangs); loading() says whether one is. The same thread destroys the snapshots
// reloads replaced once nothing holds them (`release`, every second while some are held), so
// plugin instances are created and destroyed there, one at a time, and never on a worker.
// THREADING: reload() from any thread; requestReload() and stop() from the signal loop.
class ReloadCoordinator {
public:
    using Load = std::function<SnapshotResult()>;
    using Install = std::function<void(SnapshotResult& loaded)>;  // also logs a failed one
    // Destroys the replaced snapshots nothing holds any more; returns how many are still held.
    using Release = std::function<std::size_t()>;
    // The reload's result; `stopped`: it was not done, or not applied, for a shutdown.
    using Done = std::function<void(const SnapshotResult& result, bool stopped)>;

    ReloadCoordinator(Load load, Install install, Release release, std::shared_ptr<spdlog::logger> log,
                      std::string config)
        : _load(std::move(load)),
          _install(std::move(install)),
          _release(std::move(release)),
          _log(std::move(log)),
          _config(std::move(config)),
          _thread([this] { requestedReloads(); })
    {
    }
    ~ReloadCoordinator()
    {
        {
            std::lock_guard<std::mutex> lock(_requestMutex);
            _quit = true;
        }
        _wake.notify_one();
        _thread.join();
    }
    ReloadCoordinator(const ReloadCoordinator&) = delete;
    ReloadCoordinator& operator=(const ReloadCoordinator&) = delete;

    // A reload on this object's thread, for SIGHUP or the admin endpoint; `done`, if any, is
    // called there with its result. Requests that come during a reload make one more, which
    // they share: each sees a reload that began after it was asked for.
    void requestReload(const char* trigger, Done done = {})
    {
        {
            std::lock_guard<std::mutex> lock(_requestMutex);
            if (_triggers.find(trigger) == std::string::npos) {
                _triggers += (_triggers.empty() ? "" : " and ") + std::string(trigger);
            }
            if (done) {
                _waiting.push_back(std::move(done));
            }
        }
        _wake.notify_one();
    }

    // From now on no reload starts or installs a snapshot; one being installed is done when
    // this returns. Those waiting for a reload that will not be applied are told so now, not
    // left waiting for a load the process may exit without.
    void stop()
    {
        _stopping = true;
        {
            std::lock_guard<std::mutex> wait(_installMutex);
        }
        std::vector<Done> told;
        {
            std::lock_guard<std::mutex> lock(_requestMutex);
            told = std::exchange(_waiting, {});
            if (_loading) {
                // Its result can only be "not applied" now: reload() checks _stopping after the load.
                for (Done& done : std::exchange(_inProgress, {})) {
                    told.push_back(std::move(done));
                }
            }
        }
        SnapshotResult refused;
        refused.errors.push_back({_config, "", "not reloaded: sluiced is shutting down"});
        for (const Done& done : told) {
            done(refused, true);
        }
    }

    // A reload is loading its configuration (after stop(): one that will not be applied).
    bool loading() const noexcept { return _loading; }

private:
    void requestedReloads()
    {
        std::unique_lock<std::mutex> lock(_requestMutex);
        std::size_t held = 0;  // replaced snapshots still in use
        for (;;) {
            const auto asked = [this] { return !_triggers.empty() || _quit; };
            if (held > 0) {
                _wake.wait_for(lock, kReleaseInterval, asked);
            } else {
                _wake.wait(lock, asked);
            }
            if (_quit) {
                return;
            }
            if (_triggers.empty()) {
                lock.unlock();
                held = _release();
                lock.lock();
                continue;
            }
            const std::string triggers = std::exchange(_triggers, {});
            _inProgress = std::exchange(_waiting, {});
            lock.unlock();
            const SnapshotResult result = reload(triggers);
            lock.lock();
            const std::vector<Done> waiting = std::exchange(_inProgress, {});  // unless stop() told them
            lock.unlock();
            for (const Done& done : waiting) {
                done(result, !result.snapshot && _stopping);
            }
            held = _release();
            lock.lock();
        }
    }

    // Loads the configuration and, when it is valid and no stop came meanwhile, installs it.
    SnapshotResult reload(const std::string& trigger)
    {
        SnapshotResult loaded;
        // Loading before _stopping is looked at, as stop() sets _stopping before it looks at
        // _loading: a stop either finds this reload loading (and tells its waiters) or is seen here.
        _loading = true;
        if (_stopping) {
            _loading = false;
            loaded.errors.push_back({_config, "", "not reloaded: sluiced is shutting down"});
            return loaded;
        }
        _log->info("{}: reloading {}", trigger, _config);
        try {
            loaded = _load();
        } catch (const std::exception& e) {
            // Whatever went wrong, it must not take the running gateway down with it.
            loaded.errors.push_back({_config, "", std::string("reload failed: ") + e.what()});
        }
        _loading = false;
        std::lock_guard<std::mutex> install(_installMutex);
        if (loaded.snapshot && _stopping) {
            _log->warn("{}: the reload finished after the shutdown began; it is not applied", trigger);
            loaded.snapshot.reset();
            loaded.errors.push_back({_config, "", "not applied: sluiced is shutting down"});
            return loaded;
        }
        _install(loaded);
        return loaded;
    }

    static constexpr std::chrono::seconds kReleaseInterval{1};

    const Load _load;
    const Install _install;
    const Release _release;
    const std::shared_ptr<spdlog::logger> _log;
    const std::string _config;
    std::mutex _installMutex;  // held while a snapshot is installed, and by stop()
    std::atomic<bool> _stopping{false};
    std::atomic<bool> _loading{false};
    std::mutex _requestMutex;  // guards _triggers, _waiting, _inProgress and _quit
    std::condition_variable _wake;
    std::string _triggers;          // who asked for the next reload; empty: nobody
    std::vector<Done> _waiting;     // told when the next reload is over
    std::vector<Done> _inProgress;  // told when the current one is over
    bool _quit = false;
    std::thread _thread;  // last: started once everything it uses is
};

int run(const Options& o, std::ostream& err)
{
    // Block the signals we handle before any thread starts, so that only sigwait() sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGQUIT);
    sigaddset(&signals, SIGHUP);
    // Taken so that they do not end the process: logrotate recipes written for nginx send USR1.
    sigaddset(&signals, SIGUSR1);
    sigaddset(&signals, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);  // a peer that went away is an I/O error, not a reason to die
    // A file past the process's size limit (RLIMIT_FSIZE: a request body's temporary file, the
    // access log) is a failed write (EFBIG), answered and logged, not a reason to die either.
    ::signal(SIGXFSZ, SIG_IGN);

    Gateway gateway({o.config, o.pluginDirs});
    SnapshotResult r = gateway.load();
    if (!r.snapshot) {
        printErrors(r.errors, err);
        err << "sluiced: not starting: " << r.errors.size() << " configuration error"
            << (r.errors.size() == 1 ? "" : "s") << "\n";
        return 1;
    }
    gateway.install(r.snapshot);
    Logging::configure(r.snapshot->config.logging, r.snapshot->logSink);
    auto log = Logging::get("runtime");
    logLoaded(r, *log);
    transport::HttpServer server(r.snapshot);
    std::string error;
    if (!server.start(error)) {
        log->error("cannot start: {}", error);
        return 1;
    }
    for (const auto& l : server.listeners()) {
        log->info("listening on {}://{}:{} ({}), {} worker(s)", l.tls ? "https" : "http", urlHost(l.host), l.port,
                  l.name, server.workerCount());
    }
    log->info("up to {} client connections (open-file limit {})", server.connectionLimit(), server.openFileLimit());
    // Health checks probe, and endpoint names are looked up again, only for the configuration
    // that serves (never for --check-config).
    if (r.snapshot->healthChecks) {
        r.snapshot->healthChecks->activate();
    }
    refreshAddressesOf(*r.snapshot);

    const std::string adminHostAtStart = r.snapshot->config.adminHost;
    const int adminPortAtStart = r.snapshot->config.adminPort;
    const unsigned workersAtStart = r.snapshot->config.workers;
    // Set once the admin endpoint runs (before the signal loop, so before any reload), cleared
    // only after reloads stopped: a reload gives it the token of admin.token_file.
    AdminServer* adminEndpoint = nullptr;
    // A failed reload leaves the running snapshot untouched.
    auto install = [&](SnapshotResult& reloaded) {
        std::string token;
        if (reloaded.snapshot && !reloaded.snapshot->config.adminTokenFile.empty()) {
            // Checked as at start, so that a reload does not accept what a restart would refuse.
            try {
                token = AdminServer::readTokenFile(reloaded.snapshot->config.adminTokenFile);
            } catch (const std::exception& e) {
                reloaded.errors.push_back({reloaded.snapshot->config.file, "/admin/token_file", e.what()});
                reloaded.snapshot.reset();
            }
        }
        logLoaded(reloaded, *log);
        if (!reloaded.snapshot) {
            log->error("reload failed with {} error(s); the previous configuration stays active",
                       reloaded.errors.size());
            return;
        }
        gateway.install(reloaded.snapshot);
        Logging::configure(reloaded.snapshot->config.logging, reloaded.snapshot->logSink);
        // Health checks first: they take over the state of the checks before (which live as
        // long as the serving snapshot), so an endpoint that is down stays out from the first
        // request the new snapshot serves.
        if (reloaded.snapshot->healthChecks) {
            reloaded.snapshot->healthChecks->activate();
        }
        server.setSnapshot(reloaded.snapshot);
        refreshAddressesOf(*reloaded.snapshot);
        if (adminEndpoint != nullptr && adminEndpoint->setToken(token)) {
            log->info(token.empty() ? "the admin endpoint no longer asks for a token"
                                    : "the admin endpoint's token was replaced");
        }
        log->info("reload complete: {} API(s), {} handler instance(s)", reloaded.snapshot->config.apis.size(),
                  reloaded.snapshot->instanceCount);
        const GatewayConfig& now = reloaded.snapshot->config;
        if (now.workers != workersAtStart) {
            log->warn("workers changed; the worker threads are started once, so this takes effect at a restart");
        }
        if (now.adminHost != adminHostAtStart || now.adminPort != adminPortAtStart) {
            log->warn(
                "the admin block changed; the admin endpoint is opened at start, so this takes effect at "
                "a restart");
        }
    };
    ReloadCoordinator reloads([&gateway] { return gateway.load(); }, install,
                              [&gateway] { return gateway.releaseRetired(); }, log, o.config);
    std::unique_ptr<AdminServer> admin;
    const GatewayConfig& first = r.snapshot->config;
    if (!first.adminHost.empty()) {
        AdminServer::Hooks hooks;
        hooks.status = [&gateway, &server] {
            auto current = gateway.current();
            std::string json = "{\"version\":" + jsonQuote(kRuntimeVersion) +
                               ",\"abi\":" + jsonQuote(SLUICE_ABI_VERSION_STRING) +
                               ",\"workers\":" + std::to_string(server.workerCount()) +
                               ",\"connections\":{\"open\":" + std::to_string(server.openConnections()) +
                               ",\"limit\":" + std::to_string(server.connectionLimit()) + ",\"per_worker\":[";
            const std::vector<std::size_t> perWorker = server.connectionsPerWorker();
            for (std::size_t i = 0; i < perWorker.size(); ++i) {
                json += (i ? "," : "") + std::to_string(perWorker[i]);
            }
            json += "]},\"apis\":[";
            const std::int64_t now = upstream::monotonicMs();
            for (std::size_t i = 0; current && i < current->apis.size(); ++i) {
                const auto& api = current->apis[i].config;
                json += (i ? "," : "") + std::string("{\"name\":") + jsonQuote(api.name) +
                        ",\"context\":" + jsonQuote(api.context) + ",\"version\":" + jsonQuote(api.version) +
                        ",\"endpoints\":[";
                // What load balancing sees now: health-check state and request-failure suspension.
                const auto& endpoints = current->apis[i].endpoints->endpoints();
                for (std::size_t e = 0; e < endpoints.size(); ++e) {
                    const auto& endpoint = *endpoints[e];
                    const std::int64_t suspendedMs = std::max<std::int64_t>(0, endpoint.suspendedUntilMs() - now);
                    json += (e ? "," : "") + std::string("{\"url\":") + jsonQuote(endpoint.shownUrl) +
                            ",\"healthy\":" + (endpoint.healthy() ? "true" : "false") +
                            ",\"suspended_ms\":" + std::to_string(suspendedMs) + "}";
                }
                json += "]}";
            }
            return json + "]}";
        };
        hooks.reload = [&reloads](AdminServer::ReloadDone done) {
            reloads.requestReload(
                "admin /reload", [done = std::move(done)](const SnapshotResult& result, bool stopped) {
                    if (result.snapshot) {
                        done(200, "{\"reloaded\":true,\"apis\":" + std::to_string(result.snapshot->config.apis.size()) +
                                      "}");
                        return;
                    }
                    std::string json = "{\"reloaded\":false,\"errors\":[";
                    for (std::size_t i = 0; i < result.errors.size(); ++i) {
                        json += (i ? "," : "") + jsonQuote(result.errors[i].str());
                    }
                    done(stopped ? 503 : 422, json + "]}");
                });
        };
        try {
            const std::string token =
                first.adminTokenFile.empty() ? std::string() : AdminServer::readTokenFile(first.adminTokenFile);
            admin = std::make_unique<AdminServer>(first.adminHost, first.adminPort, std::move(hooks), token);
            adminEndpoint = admin.get();
            log->info("admin endpoint on http://{}:{} (/status, /reload){}", urlHost(first.adminHost), admin->port(),
                      token.empty() ? "" : ", bearer token required");
            if (token.empty() && first.adminHost != "127.0.0.1" && first.adminHost != "::1" &&
                first.adminHost != "localhost") {
                log->warn(
                    "the admin endpoint listens on {}, not on loopback: it has no authentication, and anyone "
                    "who reaches it can reload the gateway",
                    first.adminHost);
            }
        } catch (const std::exception& e) {
            log->error("cannot start the admin endpoint on {}:{}: {}", first.adminHost, first.adminPort, e.what());
            server.stop(0);
            return 1;
        }
    }
    log->info("sluiced {} (plugin ABI {}) started with {}: {} API(s), {} handler instance(s)", kRuntimeVersion,
              SLUICE_ABI_VERSION_STRING, o.config, r.snapshot->config.apis.size(), r.snapshot->instanceCount);
    // The server and the gateway hold the running snapshot; this reference would keep the first
    // configuration (its handler instances and TLS contexts) alive after every reload.
    r.snapshot.reset();

    const timespec memoryCheck{std::chrono::seconds(kFreeMemoryCheck).count(), 0};
    FreeMemoryReturner freeMemory;
    for (;;) {
        const int sig = sigtimedwait(&signals, nullptr, &memoryCheck);
        if (sig < 0) {
            if (errno == EAGAIN) {
                // No signal for a while: the time to look at memory, and to wipe TLS session
                // ticket keys past their time on listeners that had no handshake to do it.
                freeMemory.check();
                transport::TicketKeys::expireAll(transport::TicketKeys::Clock::now());
            }
            continue;
        }
        if (sig == SIGHUP) {
            reloads.requestReload("SIGHUP");
            continue;
        }
        if (sig == SIGUSR1 || sig == SIGUSR2) {
            log->warn("{} ignored: sluiced reopens its log files at a reload (SIGHUP)",
                      sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
            continue;
        }
        const char* name = sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGQUIT";
        log->info("{}: shutting down gracefully (send it again to stop at once)", name);
        // While the graceful stop waits for what is in flight, a second stop signal ends the
        // process at once (as a second Ctrl-C does elsewhere); HUP and USR1/2 are ignored now.
        try {
            std::thread([signals, log] {
                for (;;) {
                    int again = 0;
                    if (sigwait(&signals, &again) == 0 && (again == SIGTERM || again == SIGINT || again == SIGQUIT)) {
                        log->warn("stop signal again: exiting without waiting for the exchanges in flight");
                        log->flush();
                        std::_Exit(1);
                    }
                }
            }).detach();
        } catch (const std::system_error& e) {
            log->warn("cannot watch for a second stop signal ({}); the graceful stop goes on", e.what());
        }
        reloads.stop();
        upstream::AddressRefresher::instance().stop();  // a lookup that hangs is not waited for
        server.stop(gateway.current() ? gateway.current()->config.shutdownGraceMs : kShutdownGraceMs);
        // The exchanges are done and their access log lines written. A reload still loading (on
        // the reload thread) is not waited for: it may never end.
        adminEndpoint = nullptr;
        admin.reset();  // it answers what it has (a POST /reload told of the shutdown) first
        if (reloads.loading()) {
            log->warn("a reload is still loading; exiting without waiting for it");
            log->info("stopped");
            log->flush();
            std::_Exit(0);
        }
        log->info("stopped");
        return 0;
    }
}

}  // namespace

int runCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    auto options = parse(args, err);
    if (!options) {
        return 2;
    }
    switch (options->command) {
        case Options::Command::Help: out << kUsage; return 0;
        case Options::Command::Version:
            out << "sluiced " << kRuntimeVersion << " (plugin ABI " << SLUICE_ABI_VERSION_STRING << ")\n";
            return 0;
        case Options::Command::List: return listPlugins(*options, out, err);
        case Options::Command::Check: return checkConfig(*options, out, err);
        case Options::Command::Run: return run(*options, err);
    }
    return 2;
}

}  // namespace sluice::runtime
