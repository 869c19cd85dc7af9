#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sluice/runtime/Config.h"
#include "sluice/runtime/transport/Net.h"
#include "sluice/runtime/transport/Tls.h"
#include "sluice/runtime/upstream/HealthCheck.h"

namespace sluice::runtime::upstream {

// Suspension after failures, WSO2-style: the first failure suspends an endpoint for
// `initialMs`; each failure after it came back multiplies the duration by `factor`, up to
// `maxMs`; a success after it came back clears it. Failures and successes of attempts that began
// before the endpoint was last suspended change nothing, whenever they end: one stall is one
// failure, however many requests it caught.
struct SuspensionPolicy {
    std::int64_t initialMs = 30000;
    std::int64_t maxMs = 300000;
    double factor = 2.0;
    bool onTimeout = true;  // false: a backend slower than read_ms is not suspended for it
};

struct EndpointTimeouts {
    int connectMs = 5000;
    int readMs = 60000;
    int idleMs = 60000;     // in the keep-alive pool
    int retryWindowMs = 0;  // no retry starts this long after the first attempt did (0: no limit)
};

// Where an endpoint's connections go: the first address its host resolves to, and the key of
// the keep-alive connections to it (scheme, address, SNI, TLS settings: connections verified
// against one API's CA must never serve another's).
struct EndpointTarget {
    transport::Address address;
    std::string poolKey;
};

class Endpoint {
public:
    std::string url;
    std::string shownUrl;  // for logs and /status: ${env:NAME} references not expanded
    bool tls = false;
    std::string host;  // as written (no brackets for IPv6)
    int port = 80;
    std::string basePath;        // URL path without trailing '/', "" for none
    bool basePathSlash = false;  // the URL's path ended with '/': an API's bare prefix maps to it
    std::string hostHeader;      // value for the Host header: host[:port]
    bool hostIsName = false;     // not an IP literal: resolved again while the configuration serves
    int weight = 1;
    std::string group;
    std::shared_ptr<transport::TlsClientContext> tlsContext;  // https endpoints
    std::string serverName;                                   // SNI and verified name
    std::string tlsSettings;  // the API's tls block as written (files by name): what a health verdict was made under

    // Neither suspended after request failures nor taken out by active health checks.
    bool available(std::int64_t nowMs) const noexcept
    {
        return _healthy.load(std::memory_order_relaxed) && _suspendedUntilMs.load(std::memory_order_relaxed) <= nowMs;
    }
    std::int64_t suspendedUntilMs() const noexcept { return _suspendedUntilMs.load(std::memory_order_relaxed); }
    // The end of an attempt that began at `startedMs` (monotonicMs()). Returns the new suspension
    // duration (0: none, or the attempt belongs to a suspension already counted).
    std::int64_t reportFailure(std::int64_t nowMs, std::int64_t startedMs, const SuspensionPolicy& policy) noexcept;
    void reportSuccess(std::int64_t nowMs, std::int64_t startedMs) noexcept;
    // The suspension of the same endpoint in the configuration before a reload, within what
    // `policy` (the new one) allows: none when it turns suspension off, at most its max_ms.
    void takeSuspensionFrom(const Endpoint& previous, const SuspensionPolicy& policy, std::int64_t nowMs) noexcept;
    // The same backend: scheme, host, port and base path (the URL as written may differ).
    bool sameTarget(const Endpoint& other) const noexcept
    {
        return tls == other.tls && host == other.host && port == other.port && basePath == other.basePath &&
               basePathSlash == other.basePathSlash;
    }

    // Active health state: written by the health checker's thread only, read by every worker.
    bool healthy() const noexcept { return _healthy.load(std::memory_order_relaxed); }
    void setHealthy(bool healthy) noexcept { _healthy.store(healthy, std::memory_order_relaxed); }

    // The current target; read it once per connection attempt (a host name's address may change
    // between two reads). Valid as long as the endpoint.
    const EndpointTarget& target() const noexcept { return *_target.load(std::memory_order_acquire); }
    // Points new connections at `address` (config time, then the AddressRefresher's thread).
    // Returns false when it is the current address already. Targets are kept until the endpoint
    // goes, one per distinct address, so a reader never sees one freed.
    bool retarget(const transport::Address& address);
    // Every address the host name had at its last lookup (config time, then the
    // AddressRefresher), in the order found.
    void setAddresses(std::vector<transport::Address> addresses);
    // A connection to `failed` could not be opened, after `movesSoFar` such moves for the same
    // request: new connections go to the name's next address. True when the target now differs
    // from `failed` (moved here or by another worker); false when the name has no other address,
    // or every one of them has had its turn (movesSoFar + 1 of them).
    bool moveOffAddress(const transport::Address& failed, std::size_t movesSoFar);

private:
    bool retargetLocked(const transport::Address& address);

    std::mutex _targetsMutex;  // writers of _target and _addresses
    std::vector<transport::Address> _addresses;
    std::vector<std::unique_ptr<const EndpointTarget>> _targets;
    std::atomic<const EndpointTarget*> _target{nullptr};
    std::atomic<bool> _healthy{true};
    std::mutex _suspensionMutex;  // writers of the three below (readers load them without it)
    std::atomic<std::int64_t> _suspendedUntilMs{0};
    std::atomic<std::int64_t> _lastSuspensionMs{0};
    // When the last suspension began; the minimum while never suspended.
    std::atomic<std::int64_t> _suspendedAtMs{std::numeric_limits<std::int64_t>::min()};
};

// The endpoints of one API: failover groups in the order first written; inside a group,
// smooth weighted round-robin. Shared by all workers (lock-free).
class EndpointSet {
public:
    // Parses and resolves every endpoint (blocking DNS: configuration time). Errors name the
    // JSON pointer of the bad endpoint.
    static std::shared_ptr<EndpointSet> build(const ApiConfig& api, std::vector<ConfigError>& errors);

    // The next endpoint to try, skipping suspended ones and those in `tried`; nullptr when none
    // is available. The skipped ones' share goes to the others by weight, not all to the next
    // one in the schedule. A retry (`tried` not empty) does not move the schedule on.
    Endpoint* pick(std::int64_t nowMs, const std::vector<const Endpoint*>& tried);
    // Whole seconds (at least 1) until the first suspended endpoint comes back, for the
    // Retry-After of a 503; nullopt when none is suspended (those out for failing health checks
    // come back when their probes pass, which nobody can say).
    std::optional<std::int64_t> retryAfterSeconds(std::int64_t nowMs) const noexcept;
    // After a reload: endpoints with the same target as in `previous` (the same API before) keep
    // their suspension, within this set's policy.
    void takeSuspensionFrom(const EndpointSet& previous, std::int64_t nowMs) noexcept;

    const std::vector<std::unique_ptr<Endpoint>>& endpoints() const noexcept { return _endpoints; }
    EndpointTimeouts timeouts;
    SuspensionPolicy suspension;
    int retries = 10;  // extra attempts, on other endpoints, for idempotent requests (ApiConfig::retries)
    std::optional<HealthCheckPolicy> healthCheck;  // none: no active probing
    std::string apiName;                           // "<name> <version>", for log lines

private:
    // One failover group: its members (indices into _endpoints) with their smooth weighted
    // round-robin order and the next slot of it, and a count of the picks that passed over a slot
    // whose endpoint could not be used.
    struct Group {
        std::vector<std::size_t> members;
        std::vector<std::size_t> order;
        std::atomic<std::uint64_t> cursor{0};
        std::atomic<std::uint64_t> passedOver{0};
    };

    // The usable member at `slot` (modulo their summed weight) of the group's usable members,
    // each holding as many slots as its weight; nullptr when none is usable.
    Endpoint* usableByWeight(const Group& group, std::uint64_t slot, std::int64_t nowMs,
                             const std::vector<const Endpoint*>& tried) const;

    std::vector<std::unique_ptr<Endpoint>> _endpoints;
    std::vector<std::unique_ptr<Group>> _groups;
};

std::int64_t monotonicMs() noexcept;

}  // namespace sluice::runtime::upstream
