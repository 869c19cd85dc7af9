#include "sluice/runtime/transport/Resolver.h"

#include <arpa/inet.h>

namespace sluice::runtime::transport {

namespace {
constexpr auto kCacheTtl = std::chrono::seconds(60);
constexpr std::size_t kSweepEvery = 4096;
}  // namespace

Resolver& Resolver::instance()
{
    static Resolver resolver;
    return resolver;
}

Resolver::Resolver() : _thread([this] { run(); }) {}

Resolver::~Resolver()
{
    {
        std::lock_guard<std::mutex> lock(_mutex);
        _stopping = true;
    }
    _wake.notify_all();
    _thread.join();
}

bool Resolver::lookup(const std::string& host, int port, std::vector<Address>& out, Callback callback, Deliver deliver)
{
    std::string key = host + ":" + std::to_string(port);
    {
        std::lock_guard<std::mutex> lock(_mutex);
        auto it = _cache.find(key);
        if (it != _cache.end() && it->second.expires > std::chrono::steady_clock::now()) {
            out = it->second.addresses;
            return true;
        }
        _jobs.push(Job{host, port, std::move(callback), std::move(deliver)});
    }
    _wake.notify_one();
    return false;
}

void Resolver::run()
{
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> lock(_mutex);
            _wake.wait(lock, [this] { return _stopping || !_jobs.empty(); });
            if (_stopping) {
                return;
            }
            job = std::move(_jobs.front());
            _jobs.pop();
        }
        std::string error;
        std::vector<Address> addresses = resolve(job.host, job.port, error);
        if (!addresses.empty()) {
            std::lock_guard<std::mutex> lock(_mutex);
            _cache[job.host + ":" + std::to_string(job.port)] =
                Entry{addresses, std::chrono::steady_clock::now() + kCacheTtl};
        }
        job.deliver([cb = std::move(job.callback), addresses = std::move(addresses), error = std::move(error)]() mutable {
            cb(std::move(addresses), std::move(error));
        });
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
