#pragma once

// Runs the real sluiced binary on a temporary configuration: writes sluice.json and apis/*.json,
// starts the process with --config (and --plugin-dir for the test plugins), waits for the
// "started" line on stderr (read by a thread, every wait bounded), and takes the port from the
// "listening on" line (and the admin endpoint's from the "admin endpoint on" line). Reload
// (SIGHUP), graceful stop (SIGTERM) and memory readings (VmHWM, VmRSS) for the tests. A process
// still running at destruction is killed.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::transport_test {

struct GatewaySpec {
    unsigned workers = 1;
    std::string http;      // JSON object text for the "http" block; empty: the defaults
    std::string handlers;  // JSON array text of the global handler chain; empty: none
    std::vector<std::pair<std::string, std::string>> apis;  // file stem -> API definition (JSON text)
    bool testPlugins = false;       // also load the test plugins (test_pause_timer, test_call_out)
    bool bundledPlugins = false;    // also pass the build's bundled plugin directory (correlation_id)
    std::string listenerTls;        // JSON object text for the listener's "tls" block; empty: plain HTTP
    std::string admin;              // JSON object text for the "admin" block; empty: no admin endpoint
    std::string resolver;           // JSON object text for the "resolver" block; empty: the defaults
    std::string accessLog;          // JSON object text for the "access_log" block; empty: none
    std::string messages;           // JSON object text for the "messages" block; empty: none
    int port = 0;                   // the listener's port (0: any)
    int extraListeners = 0;         // more plain listeners ("http2", "http3"...), each on a port of its own
    int shutdownGraceMs = -1;       // "shutdown_grace_ms"; -1: the default
    std::string logLevel = "info";  // "logging.level"
    std::string logOutput = R"("output": "stderr")";  // the rest of the "logging" block
    // A file sluiced sees as /etc/hosts (a mount namespace of its own; needs CAP_SYS_ADMIN, see
    // privateHostsSupported()); empty: the system's.
    std::string hostsFile;
    // A file sluiced sees as /etc/resolv.conf, the same way; empty: the system's.
    std::string resolvConf;
};

// The text of an API definition. `endpoints` is a JSON array text (see endpointList()); `extra`
// is inserted as further top-level members (e.g. R"("timeouts": {"read_ms": 300})").
std::string apiJson(std::string_view context, std::string_view endpoints, std::string_view extra = "",
                    std::string_view resources = "");
// [{"url": "..."}, ...] for plain URLs.
std::string endpointList(const std::vector<std::string>& urls);

// Whether this process may give sluiced its own /etc/hosts (GatewaySpec::hostsFile).
bool privateHostsSupported();

class SluicedProcess {
public:
    using Duration = std::chrono::milliseconds;

    // Writes the configuration and starts sluiced; throws (with the process's output) when it does
    // not report "started" in time.
    explicit SluicedProcess(const GatewaySpec& spec);
    ~SluicedProcess();
    SluicedProcess(const SluicedProcess&) = delete;
    SluicedProcess& operator=(const SluicedProcess&) = delete;

    int port() const noexcept { return _port; }
    // The port of extra listener `i` (0: "http2").
    int extraPort(std::size_t i) const { return _extraPorts.at(i); }
    // The admin endpoint's address from its "admin endpoint on http://HOST:PORT" line (0 and an
    // empty host when the configuration has none).
    int adminPort() const noexcept { return _adminPort; }
    const std::string& adminHost() const noexcept { return _adminHost; }
    pid_t pid() const noexcept { return _pid; }
    const std::string& directory() const noexcept { return _dir; }

    // Rewrites sluice.json from `spec` (its APIs are not touched), e.g. before reload().
    void writeGatewayConfig(const GatewaySpec& spec) const;
    // Rewrites (or removes) apis/<stem>.json, e.g. before reload().
    void writeApi(const std::string& stem, const std::string& json) const;
    void removeApi(const std::string& stem) const;

    // SIGHUP; waits for "reload complete" (true) or "reload failed" (false) after this call.
    bool reload(Duration timeout = Duration(10000));
    // SIGTERM; waits for the exit. The exit code (128 + signal when a signal ended it), nullopt
    // when it did not exit within `timeout` (it is then killed).
    std::optional<int> stop(Duration timeout = Duration(20000));
    void sendSignal(int signal);
    // SIGSTOP, then waits until every thread of sluiced is stopped (kill() only queues the stop:
    // a busy worker may run on for a moment). false when they did not all stop within `timeout`.
    bool freeze(Duration timeout = Duration(2000));
    std::optional<int> waitExit(Duration timeout);
    bool running();

    // Everything written to stderr/stdout so far.
    std::string log() const;
    std::size_t logSize() const;
    // Waits until the output after byte `from` contains `needle`.
    bool waitForLog(std::string_view needle, std::size_t from, Duration timeout) const;

    // A numeric field of /proc/PID/status: "VmHWM" and "VmRSS" in kB, "Threads"; -1 when unreadable.
    long statusValue(const char* field) const;

private:
    void writeFile(const std::string& relative, const std::string& text) const;
    void readOutput(int fd);
    void shutDown();  // kills a running child, joins the reader, removes the directory

    std::string _dir;
    pid_t _pid = -1;
    int _port = 0;
    std::vector<int> _extraPorts;
    int _adminPort = 0;
    std::string _adminHost;
    std::optional<int> _exit;
    bool _signalled = false;  // the test asked it to stop (an exit is then no surprise)
    std::thread _reader;
    mutable std::mutex _mutex;
    mutable std::condition_variable _grew;
    std::string _log;
    bool _outputClosed = false;
};

}  // namespace sluice::transport_test
