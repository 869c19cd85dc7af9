#include "sluice/runtime/upstream/HealthChecker.h"

#include <pthread.h>

#include <algorithm>
#include <mutex>
#include <random>
#include <string>
#include <utility>

#include "sluice/runtime/Logging.h"
#include "sluice/runtime/http/HttpParser.h"
#include "sluice/runtime/transport/EventLoop.h"
#include "sluice/runtime/transport/UpstreamConnection.h"

namespace sluice::runtime::upstream {

using transport::Clock;

// Probes one endpoint: a fresh connection per probe ("Connection: close"), so that a probe also
// proves the endpoint accepts connections. The verdict comes with the response head; the body is
// never read. Lives on the prober thread between begin() and end().
class HealthTarget final : public transport::TimerTarget, public transport::UpstreamSink {
public:
    HealthTarget(Endpoint& endpoint, const HealthCheckPolicy& policy, std::string apiName,
                 const http::ParseLimits& responseLimits)
        : _endpoint(endpoint), _policy(policy), _apiName(std::move(apiName)), _responseLimits(responseLimits)
    {
        _request = policy.method + " " + policy.path +
                   " HTTP/1.1\r\nHost: " + (policy.host.empty() ? endpoint.hostHeader : policy.host) + "\r\n";
        // Configured fields replace the defaults of the same name.
        auto configured = [&policy](std::string_view name) {
            return std::any_of(policy.headers.begin(), policy.headers.end(),
                               [name](const auto& field) { return http::fieldNameEquals(field.first, name); });
        };
        if (!configured("User-Agent")) {
            _request += "User-Agent: sluice-health-check\r\n";
        }
        if (!configured("Accept")) {
            _request += "Accept: */*\r\n";
        }
        for (const auto& [name, value] : policy.headers) {
            _request += name + ": " + value + "\r\n";
        }
        _request += "Connection: close\r\n\r\n";
        // Per API (two APIs may probe the same URL with different thresholds), and per probe and
        // verdict: a state goes on while the request sent, its timeout, the statuses that pass
        // and the TLS settings are the same (a new interval or threshold keeps it; a corrected
        // expected_status, a longer timeout or the right CA file must not leave an endpoint out
        // under the old verdict).
        _key = _apiName + "|" + endpoint.url + "|" + _request + "|" + std::to_string(policy.timeoutMs) + "|" +
               endpoint.tlsSettings;
        for (const auto& [from, to] : policy.expectedStatus) {
            _key += "|" + std::to_string(from) + "-" + std::to_string(to);
        }
    }

    // Same API, endpoint and probe: the health state of one may continue in the other.
    const std::string& key() const noexcept { return _key; }
    Endpoint& endpoint() noexcept { return _endpoint; }
    int intervalMs() const noexcept { return _policy.intervalMs; }
    HealthCounter counter;

    void begin(transport::EventLoop& loop, transport::UpstreamPool& pool, Clock::time_point firstProbe)
    {
        _loop = &loop;
        _pool = &pool;
        _nextProbe = firstProbe;
        _loop->arm(this, firstProbe);
    }

    // The thread is stopping: drop a probe in flight without counting it.
    void end()
    {
        if (_conn != nullptr) {
            std::exchange(_conn, nullptr)->abort();
        }
        _loop->disarm(this);
        _loop = nullptr;
        _pool = nullptr;
    }

    Clock::time_point onTimer(Clock::time_point now) override
    {
        if (_conn != nullptr) {
            if (now >= _probeDeadline) {
                std::exchange(_conn, nullptr)->abort();
                finish(false, "no response within " + std::to_string(_policy.timeoutMs) + " ms");
            }
        } else if (now >= _nextProbe) {
            startProbe(now);
        }
        return _conn != nullptr ? _probeDeadline : _nextProbe;
    }

    void onUpstreamHead(const http::ResponseHead& head) override
    {
        int status = head.status;
        std::exchange(_conn, nullptr)->abort();  // the status is the verdict; the body is not needed
        finish(_policy.expects(status), "status " + std::to_string(status));
        _loop->arm(this, _nextProbe);
    }

    void onUpstreamData(std::string_view) override {}
    void onUpstreamEnd() override {}  // not reached: the connection is dropped at the head
    void onUpstreamDrained() override {}

    void onUpstreamFailure(transport::UpstreamFailure failure, bool, std::string_view detail) override
    {
        _conn = nullptr;  // it closed itself
        finish(false, transport::describeFailure(failure, detail));
        _loop->arm(this, _nextProbe);
    }

private:
    void startProbe(Clock::time_point now)
    {
        _probeStarted = now;
        _probeDeadline = now + std::chrono::milliseconds(_policy.timeoutMs);
        _nextProbe = Clock::time_point::max();
        transport::ConnectError error;
        const EndpointTarget& target = _endpoint.target();
        transport::UpstreamConnection* conn =
            _pool->acquire(target.poolKey, target.address, error, _endpoint.tlsContext.get(), _endpoint.serverName);
        if (conn == nullptr && error.local) {
            // The gateway is out of descriptors or memory: that says nothing of the endpoint.
            if (!_skipping) {
                Logging::get("upstream")
                    ->warn("health check of {} ({}) skipped: {} (and the next ones, until probing works again)",
                           _endpoint.shownUrl, _apiName, error.text);
            }
            _skipping = true;
            _nextProbe = std::max(_probeStarted + std::chrono::milliseconds(_policy.intervalMs), Clock::now());
            return;  // onTimer arms the next probe
        }
        _skipping = false;
        if (conn == nullptr) {
            finish(false, error.text);
            return;
        }
        _conn = conn;
        // The connection's own timeouts are a little longer than the probe's, so that a slow
        // endpoint is reported by the probe deadline as "no response within timeout_ms".
        conn->attach(this, _policy.method, _policy.timeoutMs + 50, _policy.timeoutMs + 50, _responseLimits);
        conn->send(_request);  // may fail at once, calling onUpstreamFailure
        if (_conn != nullptr) {
            conn->requestComplete();
        }
    }

    void finish(bool passed, const std::string& detail)
    {
        Clock::time_point now = Clock::now();
        _nextProbe = std::max(_probeStarted + std::chrono::milliseconds(_policy.intervalMs), now);
        if (!passed) {
            Logging::get("upstream")
                ->debug("health check of {} ({}): {} {} failed: {}", _endpoint.shownUrl, _apiName, _policy.method,
                        _policy.path, detail);
        }
        switch (counter.record(passed, _policy)) {
            case HealthCounter::Transition::Down:
                _endpoint.setHealthy(false);
                Logging::get("upstream")
                    ->warn("endpoint {} ({}) is DOWN: {} consecutive health check(s) failed, last: {}",
                           _endpoint.shownUrl, _apiName, _policy.unhealthyThreshold, detail);
                break;
            case HealthCounter::Transition::Up:
                _endpoint.setHealthy(true);
                Logging::get("upstream")
                    ->info("endpoint {} ({}) is UP: {} consecutive health check(s) passed", _endpoint.shownUrl,
                           _apiName, _policy.healthyThreshold);
                break;
            case HealthCounter::Transition::None: break;
        }
    }

    Endpoint& _endpoint;
    const HealthCheckPolicy& _policy;
    std::string _apiName;
    http::ParseLimits _responseLimits;
    std::string _request;
    std::string _key;
    transport::EventLoop* _loop = nullptr;
    transport::UpstreamPool* _pool = nullptr;
    transport::UpstreamConnection* _conn = nullptr;  // the probe in flight
    Clock::time_point _probeStarted;
    Clock::time_point _probeDeadline = Clock::time_point::max();
    Clock::time_point _nextProbe = Clock::time_point::max();
    bool _skipping = false;  // probes are skipped: the gateway has no descriptor (logged once)
};

// The live checkers in creation order; only the last one probes.
class HealthRegistry {
public:
    static HealthRegistry& instance()
    {
        static auto* registry = new HealthRegistry;  // never destroyed: checkers may outlive statics
        return *registry;
    }

    void add(HealthChecker& checker)
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (!_live.empty()) {
            _live.back()->stop();
            checker.takeStateFrom(*_live.back());
        }
        _live.push_back(&checker);
        checker.start();
    }

    void remove(HealthChecker& checker)
    {
        std::lock_guard<std::mutex> lock(_mutex);
        bool newest = !_live.empty() && _live.back() == &checker;
        checker.stop();
        _live.erase(std::remove(_live.begin(), _live.end(), &checker), _live.end());
        if (newest && !_live.empty()) {
            _live.back()->start();
        }
    }

private:
    std::mutex _mutex;
    std::vector<HealthChecker*> _live;
};

std::unique_ptr<HealthChecker> HealthChecker::create(const std::vector<std::shared_ptr<EndpointSet>>& sets,
                                                     const http::ParseLimits& responseLimits)
{
    std::unique_ptr<HealthChecker> checker(new HealthChecker);
    for (const auto& set : sets) {
        if (!set || !set->healthCheck) {
            continue;
        }
        checker->_sets.push_back(set);
        for (const auto& endpoint : set->endpoints()) {
            checker->_targets.push_back(
                std::make_unique<HealthTarget>(*endpoint, *set->healthCheck, set->apiName, responseLimits));
        }
    }
    return checker;
}

void HealthChecker::activate()
{
    // Registered even without targets: a generation without health checks still ends the
    // probing of the one before it.
    if (!_active) {
        _active = true;
        HealthRegistry::instance().add(*this);
    }
}

HealthChecker::~HealthChecker() { HealthRegistry::instance().remove(*this); }

void HealthChecker::takeStateFrom(const HealthChecker& previous)
{
    for (auto& target : _targets) {
        for (const auto& old : previous._targets) {
            if (old->key() == target->key()) {
                target->counter = old->counter;
                target->endpoint().setHealthy(old->counter.healthy());
                break;
            }
        }
    }
}

void HealthChecker::start()
{
    if (_thread.joinable() || _targets.empty()) {
        return;
    }
    try {
        _loop = std::make_unique<transport::EventLoop>();
        _thread = std::thread([this] { run(*_loop); });
    } catch (const std::exception& e) {
        _loop.reset();
        Logging::get("upstream")->error("cannot start health checks: {}", e.what());
    }
}

void HealthChecker::stop()
{
    if (!_thread.joinable()) {
        return;
    }
    _loop->stop();
    _thread.join();
    _loop.reset();
}

void HealthChecker::run(transport::EventLoop& loop)
{
    ::pthread_setname_np(::pthread_self(), "sluice-health");
    transport::UpstreamPool pool(loop, 0);
    // The first probes are spread over up to a second (or an interval, if shorter), so that many
    // endpoints are not all probed at once after a start or a reload.
    std::minstd_rand random(std::random_device{}());
    Clock::time_point now = Clock::now();
    for (auto& target : _targets) {
        std::uniform_int_distribution<int> spread(0, std::min(1000, target->intervalMs()) - 1);
        target->begin(loop, pool, now + std::chrono::milliseconds(spread(random)));
    }
    loop.run();
    for (auto& target : _targets) {
        target->end();
    }
}

}  // namespace sluice::runtime::upstream
