#include "sluice/runtime/transport/Resolver.h"

#include <arpa/inet.h>

#include <thread>

namespace sluice::runtime::transport {

namespace {
constexpr auto kCacheTtl = std::chrono::seconds(60);
constexpr auto kFailureTtl = std::chrono::seconds(5);  // a name that does not resolve is not asked again at once
constexpr std::size_t kSweepEvery = 4096;
}  // namespace

Resolver& Resolver::instance()
{
    static Resolver resolver(&resolve);
    return resolver;
}

Resolver::Resolver(ResolveFunction resolveName) : _state(std::make_shared<State>())
{
    _state->resolve = std::move(resolveName);
    std::thread([state = _state] { run(state); }).detach();
}

Resolver::~Resolver()
{
    {
        std::lock_guard<std::mutex> lock(_state->mutex);
        _state->stopping = true;
    }
    _state->wake.notify_all();
}

void Resolver::deliverTo(Waiter& waiter, std::vector<Address> addresses, std::string error)
{
    waiter.deliver([cb = std::move(waiter.callback), addresses = std::move(addresses),
                    error = std::move(error)]() mutable { cb(std::move(addresses), std::move(error)); });
}

bool Resolver::lookup(const std::string& host, int port, std::vector<Address>& out, Callback callback, Deliver deliver)
{
    std::string key = host + ":" + std::to_string(port);
    Waiter waiter{std::move(callback), std::move(deliver)};
    std::string refused;
    {
        std::lock_guard<std::mutex> lock(_state->mutex);
        auto it = _state->cache.find(key);
        if (it != _state->cache.end() && it->second.expires > std::chrono::steady_clock::now()) {
            if (!it->second.addresses.empty()) {
                out = it->second.addresses;
                return true;
            }
            refused = it->second.error;  // failed a moment ago: fails again, later, without a lookup
        } else if (auto w = _state->waiting.find(key); w != _state->waiting.end()) {
            if (_state->callersWaiting >= kMaxCallersWaiting) {
                refused = "too many name lookups waiting";
            } else {
                w->second.push_back(std::move(waiter));
                ++_state->callersWaiting;
                return false;  // the lookup under way answers this caller too
            }
        } else if (_state->waiting.size() >= kMaxNamesWaiting || _state->callersWaiting >= kMaxCallersWaiting) {
            refused = "too many name lookups waiting";
        } else {
            _state->waiting[key].push_back(std::move(waiter));
            ++_state->callersWaiting;
            _state->names.emplace(host, port);
        }
    }
    if (!refused.empty()) {
        deliverTo(waiter, {}, std::move(refused));
        return false;
    }
    _state->wake.notify_one();
    return false;
}

void Resolver::run(const std::shared_ptr<State>& state)
{
    for (;;) {
        std::pair<std::string, int> name;
        {
            std::unique_lock<std::mutex> lock(state->mutex);
            state->wake.wait(lock, [&state] { return state->stopping || !state->names.empty(); });
            if (state->stopping) {
                return;
            }
            name = std::move(state->names.front());
            state->names.pop();
        }
        std::string error;
        std::vector<Address> addresses = state->resolve(name.first, name.second, error);
        if (addresses.empty() && error.empty()) {
            // Every caller must hear why (a cached failure is told by its error, see lookup()).
            error = "no address for " + name.first;
        }
        std::vector<Waiter> waiters;
        {
            std::lock_guard<std::mutex> lock(state->mutex);
            const std::string key = name.first + ":" + std::to_string(name.second);
            const auto now = std::chrono::steady_clock::now();
            if (++state->storedSinceSweep >= kSweepEvery) {
                // Forget what has expired, so the cache holds only names in use.
                state->storedSinceSweep = 0;
                for (auto it = state->cache.begin(); it != state->cache.end();) {
                    it = it->second.expires <= now ? state->cache.erase(it) : std::next(it);
                }
            }
            state->cache[key] = Entry{addresses, error, now + (addresses.empty() ? kFailureTtl : kCacheTtl)};
            if (auto w = state->waiting.find(key); w != state->waiting.end()) {
                waiters = std::move(w->second);
                state->waiting.erase(w);
                state->callersWaiting -= waiters.size();
            }
        }
        for (Waiter& waiter : waiters) {
            deliverTo(waiter, addresses, error);
        }
    }
}

LocalCounters& LocalCounters::instance()
{
    static LocalCounters counters;
    return counters;
}

std::int64_t LocalCounters::add(const std::string& key, std::int64_t delta, std::uint64_t windowMs)
{
    auto now = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    std::uint64_t window = windowMs == 0 ? 0 : now / windowMs;
    std::lock_guard<std::mutex> lock(_mutex);
    if (++_addsSinceSweep >= kSweepEvery) {
        // Forget counters of windows that are over, so the map holds only live keys.
        _addsSinceSweep = 0;
        for (auto it = _slots.begin(); it != _slots.end();) {
            const Slot& s = it->second;
            bool over = s.windowMs != 0 && s.window < now / s.windowMs;
            it = over ? _slots.erase(it) : std::next(it);
        }
    }
    Slot& slot = _slots[key];
    if (slot.window != window || slot.windowMs != windowMs) {
        slot = Slot{windowMs, window, 0};
    }
    slot.value += delta;
    return slot.value;
}

}  // namespace sluice::runtime::transport
