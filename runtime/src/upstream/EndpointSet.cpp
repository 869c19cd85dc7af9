#include "sluice/runtime/upstream/EndpointSet.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "sluice/runtime/Logging.h"
#include "sluice/runtime/http/HttpParser.h"
#include "sluice/runtime/routing/Router.h"
#include "sluice/sdk/HttpSyntax.hpp"

namespace sluice::runtime::upstream {

std::int64_t monotonicMs() noexcept
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::int64_t Endpoint::reportFailure(std::int64_t nowMs, std::int64_t startedMs,
                                     const SuspensionPolicy& policy) noexcept
{
    // Workers report concurrently; the check and the stores are one step, so that failures that
    // come together (a backend restarting resets connections on every worker) count once.
    std::lock_guard<std::mutex> lock(_suspensionMutex);
    if (_suspendedUntilMs.load(std::memory_order_relaxed) > nowMs ||
        _suspendedAtMs.load(std::memory_order_relaxed) >= startedMs) {
        return 0;  // an attempt that began before the last suspension: that failure is counted
    }
    const std::int64_t last = _lastSuspensionMs.load(std::memory_order_relaxed);
    // In double, then capped: a large factor or duration saturates at max_ms, never overflows.
    const double grown = last == 0 ? static_cast<double>(policy.initialMs) : static_cast<double>(last) * policy.factor;
    const std::int64_t next =
        grown >= static_cast<double>(policy.maxMs) ? policy.maxMs : static_cast<std::int64_t>(grown);
    if (next <= 0) {
        return 0;
    }
    _lastSuspensionMs.store(next, std::memory_order_relaxed);
    _suspendedAtMs.store(nowMs, std::memory_order_relaxed);
    const std::int64_t until = nowMs > std::numeric_limits<std::int64_t>::max() - next
                                   ? std::numeric_limits<std::int64_t>::max()
                                   : nowMs + next;
    _suspendedUntilMs.store(until, std::memory_order_relaxed);
    return next;
}

void Endpoint::reportSuccess(std::int64_t nowMs, std::int64_t startedMs) noexcept
{
    if (_lastSuspensionMs.load(std::memory_order_relaxed) == 0) {
        return;  // nothing to forget: the path of every answer takes no lock
    }
    // Under the lock, so that a success checked just before a failure's stores cannot erase the
    // suspension that failure set.
    std::lock_guard<std::mutex> lock(_suspensionMutex);
    if (_lastSuspensionMs.load(std::memory_order_relaxed) != 0 &&
        _suspendedUntilMs.load(std::memory_order_relaxed) <= nowMs &&
        _suspendedAtMs.load(std::memory_order_relaxed) < startedMs) {
        _lastSuspensionMs.store(0, std::memory_order_relaxed);
        _suspendedUntilMs.store(0, std::memory_order_relaxed);
    }
}

void Endpoint::takeSuspensionFrom(const Endpoint& previous, const SuspensionPolicy& policy, std::int64_t nowMs) noexcept
{
    if (policy.initialMs <= 0) {
        return;  // the new configuration turns suspension off
    }
    const std::int64_t cap = nowMs > std::numeric_limits<std::int64_t>::max() - policy.maxMs
                                 ? std::numeric_limits<std::int64_t>::max()
                                 : nowMs + policy.maxMs;
    _lastSuspensionMs.store(std::min(previous._lastSuspensionMs.load(std::memory_order_relaxed), policy.maxMs),
                            std::memory_order_relaxed);
    _suspendedUntilMs.store(std::min(previous._suspendedUntilMs.load(std::memory_order_relaxed), cap),
                            std::memory_order_relaxed);
    _suspendedAtMs.store(previous._suspendedAtMs.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

namespace {

bool parseUrl(const std::string& url, Endpoint& e, std::string& error)
{
    transport::HttpUrl parsed;
    if (!transport::parseHttpUrl(url, parsed, error)) {
        return false;
    }
    if (parsed.target.find('?') != std::string::npos) {
        error = "an endpoint URL must not have a query";
        return false;
    }
    // The path goes in front of every request's canonical path: it must be one too, or the
    // backend would get a path no route or policy saw ("/a/../b/x", "//b/x", "/b%zz/x").
    if (const auto problems = routing::Router::validateContext(parsed.target); !problems.empty()) {
        error = "its path '" + parsed.target + "' is not a plain path: " + problems.front();
        return false;
    }
    std::string path = parsed.target;
    e.basePathSlash = path.size() > 1 && path.back() == '/';
    while (!path.empty() && path.back() == '/') {
        path.pop_back();
    }
    e.tls = parsed.tls;
    e.host = parsed.host;
    e.port = parsed.port;
    e.basePath = path;
    e.hostHeader = parsed.hostHeader;
    return true;
}

// Smooth weighted round-robin order for one group (config time).
std::vector<std::size_t> schedule(const std::vector<std::unique_ptr<Endpoint>>& all,
                                  const std::vector<std::size_t>& members)
{
    int total = 0;
    for (auto i : members) {
        total += all[i]->weight;
    }
    std::vector<int> current(members.size(), 0);
    std::vector<std::size_t> order;
    order.reserve(static_cast<std::size_t>(total));
    for (int step = 0; step < total; ++step) {
        std::size_t best = 0;
        for (std::size_t k = 0; k < members.size(); ++k) {
            current[k] += all[members[k]]->weight;
            if (current[k] > current[best]) {
                best = k;
            }
        }
        current[best] -= total;
        order.push_back(members[best]);
    }
    return order;
}

HealthCheckPolicy healthCheckPolicy(const HealthCheckConfig& cfg, const std::string& file,
                                    std::vector<ConfigError>& errors)
{
    HealthCheckPolicy policy;
    policy.path = cfg.path;
    policy.method = cfg.method;
    policy.host = cfg.host;
    policy.headers = cfg.headers;
    for (const auto& [name, value] : cfg.headers) {
        if (!sdk::isFieldName(name, 64)) {
            errors.push_back({file, "/health_check/headers/" + name,
                              "not a header field name (1 to 64 token characters: letters, digits, !#$%&'*+-.^_`|~)"});
        } else if (!sdk::isFieldValue(value)) {
            errors.push_back({file, "/health_check/headers/" + name, "the value holds a control character"});
        } else if (http::isGatewayOwnedField(name)) {
            errors.push_back({file, "/health_check/headers/" + name,
                              "the gateway sets " + name + " itself; use \"host\" for the Host header"});
        }
    }
    policy.intervalMs = cfg.intervalMs;
    policy.timeoutMs = cfg.timeoutMs;
    policy.healthyThreshold = cfg.healthyThreshold;
    policy.unhealthyThreshold = cfg.unhealthyThreshold;
    policy.expectedStatus = cfg.expectedStatus;
    for (std::size_t i = 0; i < cfg.expectedStatus.size(); ++i) {
        const auto& [from, to] = cfg.expectedStatus[i];
        if (from > to) {
            errors.push_back({file, "/health_check/expected_status/" + std::to_string(i),
                              "status range " + std::to_string(from) + "-" + std::to_string(to) +
                                  " is empty: write the lower status first"});
        }
    }
    return policy;
}

}  // namespace

bool Endpoint::retarget(const transport::Address& address)
{
    std::lock_guard<std::mutex> lock(_targetsMutex);
    return retargetLocked(address);
}

void Endpoint::setAddresses(std::vector<transport::Address> addresses)
{
    std::lock_guard<std::mutex> lock(_targetsMutex);
    _addresses = std::move(addresses);
}

bool Endpoint::moveOffAddress(const transport::Address& failed, std::size_t movesSoFar)
{
    std::lock_guard<std::mutex> lock(_targetsMutex);
    if (movesSoFar + 1 >= _addresses.size()) {
        return false;
    }
    const EndpointTarget* current = _target.load(std::memory_order_relaxed);
    if (current != nullptr && !(current->address == failed)) {
        return true;  // another attempt moved it already
    }
    auto at = std::find(_addresses.begin(), _addresses.end(), failed);
    if (at == _addresses.end()) {
        return false;
    }
    ++at;
    return retargetLocked(at == _addresses.end() ? _addresses.front() : *at);
}

bool Endpoint::retargetLocked(const transport::Address& address)
{
    const EndpointTarget* current = _target.load(std::memory_order_relaxed);
    if (current != nullptr && current->address == address) {
        return false;
    }
    for (const auto& known : _targets) {
        if (known->address == address) {
            _target.store(known.get(), std::memory_order_release);
            return true;
        }
    }
    // Connections are interchangeable only with the same address and the same TLS settings.
    std::string key = std::string(tls ? "https|" : "http|") + address.str() + "|" + serverName;
    if (tlsContext) {
        key += "|" + std::to_string(tlsContext->id());
    }
    _targets.push_back(std::make_unique<const EndpointTarget>(EndpointTarget{address, std::move(key)}));
    _target.store(_targets.back().get(), std::memory_order_release);
    return true;
}

std::shared_ptr<EndpointSet> EndpointSet::build(const ApiConfig& api, std::vector<ConfigError>& errors)
{
    auto set = std::make_shared<EndpointSet>();
    std::shared_ptr<transport::TlsClientContext> tls;
    if (!api.tlsCrlFile.empty() && !api.tlsVerify) {
        // Said whatever the endpoints are (the TLS context that would say it is made only for
        // an https:// one).
        errors.push_back({api.file, "/tls/crl", "crl is set but verify is false: no backend certificate is checked"});
    }
    std::vector<std::string> groups;
    std::vector<std::vector<std::size_t>> members;
    std::vector<std::string> seenUrls;  // per endpoint index, once parsed
    for (std::size_t i = 0; i < api.endpoints.size(); ++i) {
        const auto& cfg = api.endpoints[i];
        auto e = std::make_unique<Endpoint>();
        e->url = cfg.url;
        e->shownUrl = cfg.shownUrl.empty() ? cfg.url : cfg.shownUrl;
        e->weight = cfg.weight;
        e->group = cfg.group;
        std::string error;
        std::string pointer = "/endpoints/" + std::to_string(i) + "/url";
        if (!parseUrl(cfg.url, *e, error)) {
            errors.push_back({api.file, pointer, "invalid endpoint URL: " + error});
            seenUrls.emplace_back();
            continue;
        }
        // The same backend twice would share one suspension, and a retry could be spent on it
        // again: weights say how much traffic an endpoint gets.
        std::string host = e->host;  // case aside; the path's case counts
        std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
        std::string same =
            std::string(e->tls ? "https://" : "http://") + host + ":" + std::to_string(e->port) + e->basePath;
        if (const auto seen = std::find(seenUrls.begin(), seenUrls.end(), same); seen != seenUrls.end()) {
            errors.push_back({api.file, pointer,
                              "the same backend as /endpoints/" + std::to_string(seen - seenUrls.begin()) +
                                  " (use weight to give an endpoint more traffic)"});
            seenUrls.emplace_back();
            continue;
        }
        seenUrls.push_back(std::move(same));
        const std::vector<transport::Address> addresses = transport::resolve(e->host, e->port, error);
        if (addresses.empty()) {
            errors.push_back({api.file, pointer, error});
            continue;
        }
        e->hostIsName = !transport::isIpLiteral(e->host);
        if (e->tls) {
            if (!tls) {
                try {
                    transport::TlsClientContext::Options options;
                    options.verify = api.tlsVerify;
                    options.caFile = api.tlsCaFile;
                    options.crlFile = api.tlsCrlFile;
                    options.clientCertificate = api.tlsClientCertificate;
                    options.clientKey = api.tlsClientKey;
                    tls = transport::TlsClientContext::create(options);
                } catch (const std::exception& ex) {
                    errors.push_back({api.file, "/tls", ex.what()});
                    continue;
                }
                if (!api.tlsVerify) {
                    Logging::get("upstream")
                        ->warn(
                            "{}: tls.verify is false: the certificate of {} is not checked, so "
                            "anyone on the way to it can pose as the backend",
                            api.file, e->shownUrl);
                }
            }
            e->tlsContext = tls;
            e->serverName = api.tlsServerName.empty() ? e->host : api.tlsServerName;
            e->tlsSettings = std::string(api.tlsVerify ? "verify" : "no-verify") + "|" + api.tlsCaFile + "|" +
                             api.tlsCrlFile + "|" + api.tlsClientCertificate + "|" + api.tlsClientKey + "|" +
                             e->serverName;
        }
        e->retarget(addresses.front());
        e->setAddresses(addresses);
        auto g = std::find(groups.begin(), groups.end(), e->group);
        if (g == groups.end()) {
            groups.push_back(e->group);
            members.emplace_back();
            g = groups.end() - 1;
        }
        members[static_cast<std::size_t>(g - groups.begin())].push_back(set->_endpoints.size());
        set->_endpoints.push_back(std::move(e));
    }
    for (auto& m : members) {
        auto group = std::make_unique<Group>();
        group->order = schedule(set->_endpoints, m);
        group->members = std::move(m);
        set->_groups.push_back(std::move(group));
    }
    set->timeouts.connectMs = api.connectTimeoutMs;
    set->timeouts.readMs = api.readTimeoutMs;
    set->timeouts.idleMs = api.idleTimeoutMs;
    set->timeouts.retryWindowMs = api.retryWindowMs;
    set->retries = api.retries;
    if (api.suspendMaxMs < api.suspendInitialMs) {
        errors.push_back({api.file, "/suspension/max_ms",
                          "max_ms " + std::to_string(api.suspendMaxMs) + " is less than initial_ms " +
                              std::to_string(api.suspendInitialMs) + " (defaults: 30000 and 300000)"});
    }
    set->suspension.initialMs = api.suspendInitialMs;
    set->suspension.maxMs = api.suspendMaxMs;
    set->suspension.factor = api.suspendFactor;
    set->suspension.onTimeout = api.suspendOnTimeout;
    set->apiName = api.name + " " + api.version;
    if (api.healthCheck) {
        set->healthCheck = healthCheckPolicy(*api.healthCheck, api.file, errors);
    }
    return set;
}

namespace {

bool usable(const Endpoint& e, std::int64_t nowMs, const std::vector<const Endpoint*>& tried)
{
    return e.available(nowMs) && std::find(tried.begin(), tried.end(), &e) == tried.end();
}

}  // namespace

Endpoint* EndpointSet::pick(std::int64_t nowMs, const std::vector<const Endpoint*>& tried)
{
    for (const auto& group : _groups) {
        const std::vector<std::size_t>& order = group->order;
        // A retry takes the slot at the cursor without drawing it: drawing would give the failed
        // endpoint the next request's first attempt too, so that with two endpoints every request
        // would meet the failing one first.
        const std::uint64_t slot = tried.empty() ? group->cursor.fetch_add(1, std::memory_order_relaxed)
                                                 : group->cursor.load(std::memory_order_relaxed);
        Endpoint* e = _endpoints[order[slot % order.size()]].get();
        if (usable(*e, nowMs, tried)) {
            return e;
        }
        // A slot whose endpoint cannot be used goes to the usable ones by weight, in turn, so
        // they share the load as if the others were not in the schedule (stepping on to the next
        // slot instead would hand one neighbour the whole share, and drawing again and again
        // would cost as many draws as the weights of those out). A retry does not count.
        const std::uint64_t turn = tried.empty() ? group->passedOver.fetch_add(1, std::memory_order_relaxed) : slot;
        if (Endpoint* other = usableByWeight(*group, turn, nowMs, tried)) {
            return other;
        }
    }
    return nullptr;
}

Endpoint* EndpointSet::usableByWeight(const Group& group, std::uint64_t slot, std::int64_t nowMs,
                                      const std::vector<const Endpoint*>& tried) const
{
    std::uint64_t total = 0;
    for (std::size_t i : group.members) {
        if (usable(*_endpoints[i], nowMs, tried)) {
            total += static_cast<std::uint64_t>(_endpoints[i]->weight);
        }
    }
    if (total == 0) {
        return nullptr;
    }
    slot %= total;
    for (std::size_t i : group.members) {
        Endpoint& e = *_endpoints[i];
        if (!usable(e, nowMs, tried)) {
            continue;
        }
        const auto weight = static_cast<std::uint64_t>(e.weight);
        if (slot < weight) {
            return &e;
        }
        slot -= weight;
    }
    return nullptr;  // one came back or went out between the two passes: the next group, or a retry
}

std::optional<std::int64_t> EndpointSet::retryAfterSeconds(std::int64_t nowMs) const noexcept
{
    std::optional<std::int64_t> soonestMs;
    for (const auto& endpoint : _endpoints) {
        const std::int64_t until = endpoint->suspendedUntilMs();
        if (endpoint->healthy() && until > nowMs && (!soonestMs || until - nowMs < *soonestMs)) {
            soonestMs = until - nowMs;
        }
    }
    if (!soonestMs) {
        return std::nullopt;
    }
    return (*soonestMs + 999) / 1000;
}

void EndpointSet::takeSuspensionFrom(const EndpointSet& previous, std::int64_t nowMs) noexcept
{
    for (const auto& endpoint : _endpoints) {
        for (const auto& old : previous._endpoints) {
            if (old->sameTarget(*endpoint)) {
                endpoint->takeSuspensionFrom(*old, suspension, nowMs);
                break;
            }
        }
    }
}

}  // namespace sluice::runtime::upstream
