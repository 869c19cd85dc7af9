#include "SluicedProcess.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include <doctest/doctest.h>

#include "TestPaths.h"

namespace fs = std::filesystem;

namespace sluice::transport_test {

namespace {

using Clock = std::chrono::steady_clock;

// In a child between fork() and exec(): a mount namespace of its own in which `hosts` is seen
// as /etc/hosts and `resolvConf` as /etc/resolv.conf, each unless empty (system calls only, which
// is all a forked child of a threaded process may do).
bool privateResolverFiles(const char* hosts, const char* resolvConf)
{
    return ::unshare(CLONE_NEWNS) == 0 && ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
           (*hosts == '\0' || ::mount(hosts, "/etc/hosts", nullptr, MS_BIND, nullptr) == 0) &&
           (*resolvConf == '\0' || ::mount(resolvConf, "/etc/resolv.conf", nullptr, MS_BIND, nullptr) == 0);
}

// Closes every descriptor from `first` up in the child between fork() and exec() (only
// async-signal-safe calls there).
void closeFrom(int first)
{
#ifdef SYS_close_range
    if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0u, 0u) == 0) {
        return;
    }
#endif
    for (int fd = first; fd < 4096; ++fd) {
        ::close(fd);
    }
}

std::optional<int> decodeStatus(int status)
{
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return std::nullopt;
}

}  // namespace

std::string apiJson(std::string_view context, std::string_view endpoints, std::string_view extra,
                    std::string_view resources)
{
    std::string name = "Api";
    for (char c : context) {
        name.push_back(c == '/' ? '_' : c);
    }
    std::string text = R"({"name": ")" + name + R"(", "context": ")" + std::string(context) +
                       R"(", "version": "v1", "endpoints": )" + std::string(endpoints) + R"(, "resources": )";
    text += resources.empty()
                ? std::string(
                      R"([{"uri_template": "/*", "methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]}])")
                : std::string(resources);
    if (!extra.empty()) {
        text += ", ";
        text += extra;
    }
    text += "}";
    return text;
}

std::string endpointList(const std::vector<std::string>& urls)
{
    std::string text = "[";
    for (std::size_t i = 0; i < urls.size(); ++i) {
        text += (i == 0 ? R"({"url": ")" : R"(, {"url": ")") + urls[i] + "\"}";
    }
    return text + "]";
}

bool privateHostsSupported()
{
    // Tried in a child, so that this process keeps its own mount namespace.
    const pid_t child = ::fork();
    if (child == 0) {
        const bool ok =
            ::unshare(CLONE_NEWNS) == 0 && ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
        ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    return child > 0 && ::waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

SluicedProcess::SluicedProcess(const GatewaySpec& spec)
{
    std::string pattern = (fs::temp_directory_path() / "sluice-transport-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    }
    _dir = pattern;
    fs::create_directories(fs::path(_dir) / "apis");

    writeGatewayConfig(spec);
    for (const auto& [stem, json] : spec.apis) {
        writeApi(stem, json);
    }

    std::vector<std::string> args{kSluicedPath, "--config", _dir + "/sluice.json"};
    if (spec.testPlugins) {
        args.push_back("--plugin-dir");
        args.push_back(kTestPluginDir);
    }
    if (spec.bundledPlugins) {
        args.push_back("--plugin-dir");
        args.push_back(kBundledPluginDir);
    }
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);

    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    }
    int devNull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const std::string hostsFile = spec.hostsFile;
    const std::string resolvConf = spec.resolvConf;
    _pid = ::fork();
    if (_pid < 0) {
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (_pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::dup2(devNull, 0);
        ::dup2(pipeFds[1], 1);
        ::dup2(pipeFds[1], 2);
        closeFrom(3);
        if ((!hostsFile.empty() || !resolvConf.empty()) &&
            !privateResolverFiles(hostsFile.c_str(), resolvConf.c_str())) {
            static const char failed[] = "transport test: cannot give sluiced its own /etc/hosts or /etc/resolv.conf\n";
            ssize_t ignored = ::write(2, failed, sizeof failed - 1);
            (void)ignored;
            ::_exit(126);
        }
        ::execv(argv[0], argv.data());
        static const char message[] = "transport test: cannot exec sluiced\n";
        ssize_t ignored = ::write(2, message, sizeof message - 1);
        (void)ignored;
        ::_exit(127);
    }
    ::close(devNull);
    ::close(pipeFds[1]);
    _reader = std::thread([this, fd = pipeFds[0]] { readOutput(fd); });

    std::smatch m;
    bool started = waitForLog(" started with ", 0, Duration(20000));
    std::string output = log();
    if (!started ||
        !std::regex_search(output, m, std::regex(R"(listening on https?://127\.0\.0\.1:(\d+) \(http\), \d+ worker)"))) {
        _signalled = true;  // reported below, with the output
        shutDown();         // the destructor does not run for a constructor that throws
        throw std::runtime_error("sluiced did not start (or printed no 'listening on' line); its output:\n" + output);
    }
    _port = std::stoi(m[1].str());
    for (int i = 2; i < 2 + spec.extraListeners; ++i) {
        const std::regex line("listening on http://127\\.0\\.0\\.1:(\\d+) \\(http" + std::to_string(i) + "\\)");
        if (!std::regex_search(output, m, line)) {
            _signalled = true;
            shutDown();
            throw std::runtime_error("sluiced printed no 'listening on' line for http" + std::to_string(i) +
                                     "; its output:\n" + output);
        }
        _extraPorts.push_back(std::stoi(m[1].str()));
    }
    if (!spec.admin.empty()) {
        if (!std::regex_search(output, m, std::regex(R"(admin endpoint on http://([0-9.]+):(\d+) )"))) {
            _signalled = true;
            shutDown();
            throw std::runtime_error("sluiced printed no 'admin endpoint on' line; its output:\n" + output);
        }
        _adminHost = m[1].str();
        _adminPort = std::stoi(m[2].str());
    }
}

SluicedProcess::~SluicedProcess()
{
    shutDown();
    if (std::getenv("SLUICE_TRANSPORT_LOG") != nullptr) {  // debugging aid: show what sluiced said
        std::fprintf(stderr, "---- sluiced output ----\n%s------------------------\n", log().c_str());
    }
}

void SluicedProcess::shutDown()
{
    if (_pid > 0 && !_signalled && !running()) {
        // Nobody asked it to go: a crash or an early exit is a test failure on its own.
        std::string output = log();
        FAIL_CHECK("sluiced exited unexpectedly (status " << _exit.value_or(-1) << "); its output:\n" << output);
    }
    if (_pid > 0 && !_exit) {
        ::kill(_pid, SIGKILL);
        int status = 0;
        ::waitpid(_pid, &status, 0);
        _exit = 128 + SIGKILL;
    }
    if (_reader.joinable()) {
        _reader.join();
    }
    std::error_code ec;
    fs::remove_all(_dir, ec);
}

void SluicedProcess::writeFile(const std::string& relative, const std::string& text) const
{
    // Written to a temporary name and renamed, so a reload never reads half a file.
    fs::path target = fs::path(_dir) / relative;
    fs::path temporary = target;
    temporary += ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out) {
            throw std::runtime_error("cannot write " + temporary.string());
        }
    }
    fs::rename(temporary, target);
}

void SluicedProcess::writeGatewayConfig(const GatewaySpec& spec) const
{
    std::string tls = spec.listenerTls.empty() ? std::string() : R"(, "tls": )" + spec.listenerTls;
    std::string config = R"({"workers": )" + std::to_string(spec.workers) +
                         R"(, "listeners": [{"name": "http", "host": "127.0.0.1", "port": )" +
                         std::to_string(spec.port) + tls + "}";
    for (int i = 2; i < 2 + spec.extraListeners; ++i) {
        config += R"(, {"name": "http)" + std::to_string(i) + R"(", "host": "127.0.0.1", "port": 0})";
    }
    config += "]";
    if (!spec.http.empty()) {
        config += R"(, "http": )" + spec.http;
    }
    if (!spec.admin.empty()) {
        config += R"(, "admin": )" + spec.admin;
    }
    if (!spec.resolver.empty()) {
        config += R"(, "resolver": )" + spec.resolver;
    }
    if (spec.shutdownGraceMs >= 0) {
        config += R"(, "shutdown_grace_ms": )" + std::to_string(spec.shutdownGraceMs);
    }
    if (!spec.messages.empty()) {
        config += R"(, "messages": )" + spec.messages;
    }
    if (!spec.accessLog.empty()) {
        config += R"(, "access_log": )" + spec.accessLog;
    }
    if (!spec.handlers.empty()) {
        config += R"(, "handlers": )" + spec.handlers;
    }
    config += R"(, "logging": {"level": ")" + spec.logLevel + R"(", )" + spec.logOutput + "}}";
    writeFile("sluice.json", config);
}

void SluicedProcess::writeApi(const std::string& stem, const std::string& json) const
{
    writeFile("apis/" + stem + ".json", json);
}

void SluicedProcess::removeApi(const std::string& stem) const
{
    fs::remove(fs::path(_dir) / "apis" / (stem + ".json"));
}

void SluicedProcess::readOutput(int fd)
{
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        std::lock_guard<std::mutex> lock(_mutex);
        if (n <= 0) {
            _outputClosed = true;
            _grew.notify_all();
            break;
        }
        _log.append(buffer, static_cast<std::size_t>(n));
        _grew.notify_all();
    }
    ::close(fd);
}

std::string SluicedProcess::log() const
{
    std::lock_guard<std::mutex> lock(_mutex);
    return _log;
}

std::size_t SluicedProcess::logSize() const
{
    std::lock_guard<std::mutex> lock(_mutex);
    return _log.size();
}

bool SluicedProcess::waitForLog(std::string_view needle, std::size_t from, Duration timeout) const
{
    std::unique_lock<std::mutex> lock(_mutex);
    return _grew.wait_for(
               lock, timeout,
               [&] { return (_log.size() > from && _log.find(needle, from) != std::string::npos) || _outputClosed; }) &&
           _log.size() > from && _log.find(needle, from) != std::string::npos;
}

bool SluicedProcess::freeze(Duration timeout)
{
    sendSignal(SIGSTOP);
    const std::string tasks = "/proc/" + std::to_string(_pid) + "/task";
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        bool allStopped = true;
        std::error_code ec;
        for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
            std::ifstream stat(task.path() / "stat");
            std::string line;
            std::getline(stat, line);
            const std::size_t paren = line.rfind(')');  // "tid (comm) S ...": the state follows the name
            if (paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'T') {
                allStopped = false;
                break;
            }
        }
        if (allStopped && !ec) {
            return true;
        }
        std::this_thread::sleep_for(Duration(1));
    }
    return false;
}

void SluicedProcess::sendSignal(int signal)
{
    if (signal != SIGHUP) {
        _signalled = true;
    }
    if (_pid > 0) {
        ::kill(_pid, signal);
    }
}

bool SluicedProcess::reload(Duration timeout)
{
    std::size_t from = logSize();
    sendSignal(SIGHUP);
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        if (waitForLog("reload complete", from, Duration(20))) {
            return true;
        }
        if (waitForLog("reload failed", from, Duration(0))) {
            return false;
        }
    }
    return false;
}

std::optional<int> SluicedProcess::waitExit(Duration timeout)
{
    if (_exit) {
        return _exit;
    }
    auto deadline = Clock::now() + timeout;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(_pid, &status, WNOHANG);
        if (r == _pid) {
            _exit = decodeStatus(status);
            return _exit;
        }
        if (Clock::now() >= deadline) {
            return std::nullopt;
        }
        // Exit has no descriptor to wait on; poll the child state in short steps.
        std::this_thread::sleep_for(Duration(5));
    }
}

bool SluicedProcess::running()
{
    if (_exit) {
        return false;
    }
    int status = 0;
    pid_t r = ::waitpid(_pid, &status, WNOHANG);
    if (r == _pid) {
        _exit = decodeStatus(status);
        return false;
    }
    return true;
}

std::optional<int> SluicedProcess::stop(Duration timeout)
{
    if (_exit) {
        return _exit;
    }
    sendSignal(SIGTERM);
    auto code = waitExit(timeout);
    if (!code) {
        ::kill(_pid, SIGKILL);
        int status = 0;
        ::waitpid(_pid, &status, 0);
        _exit = 128 + SIGKILL;
        return std::nullopt;
    }
    return code;
}

long SluicedProcess::statusValue(const char* field) const
{
    std::ifstream in("/proc/" + std::to_string(_pid) + "/status");
    std::string line;
    std::string prefix = std::string(field) + ":";
    while (std::getline(in, line)) {
        if (line.rfind(prefix, 0) == 0) {
            return std::strtol(line.c_str() + prefix.size(), nullptr, 10);
        }
    }
    return -1;
}

}  // namespace sluice::transport_test
