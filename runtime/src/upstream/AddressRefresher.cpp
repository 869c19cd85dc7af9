#include "sluice/runtime/upstream/AddressRefresher.h"

#include <string>

#include "sluice/runtime/Logging.h"

namespace sluice::runtime::upstream {

AddressRefresher& AddressRefresher::instance()
{
    static AddressRefresher refresher;
    return refresher;
}

AddressRefresher::~AddressRefresher()
{
    {
        std::lock_guard<std::mutex> lock(_mutex);
        _stopping = true;
    }
    _wake.notify_all();
    if (_thread.joinable()) {
        _thread.join();
    }
}

void AddressRefresher::serve(const std::vector<std::shared_ptr<EndpointSet>>& sets, std::chrono::milliseconds every)
{
    bool names = false;
    std::vector<std::weak_ptr<EndpointSet>> weak;
    for (const auto& set : sets) {
        for (const auto& endpoint : set->endpoints()) {
            names = names || endpoint->hostIsName;
        }
        weak.push_back(set);
    }
    {
        std::lock_guard<std::mutex> lock(_mutex);
        _sets = std::move(weak);
        _every = every;
        ++_generation;
        if (names && every.count() > 0 && !_thread.joinable()) {
            _thread = std::thread([this] { run(); });
        }
    }
    _wake.notify_all();
}

std::size_t AddressRefresher::refresh(const std::vector<std::shared_ptr<EndpointSet>>& sets)
{
    auto log = Logging::get("upstream");
    std::size_t changed = 0;
    for (const auto& set : sets) {
        for (const auto& endpoint : set->endpoints()) {
            if (!endpoint->hostIsName) {
                continue;
            }
            std::string error;
            const std::vector<transport::Address> found = transport::resolve(endpoint->host, endpoint->port, error);
            if (found.empty()) {
                log->warn("{} ({}): looking up {} again failed, connections keep going to {}: {}", endpoint->url,
                          set->apiName, endpoint->host, endpoint->target().address.str(), error);
                continue;
            }
            const std::string before = endpoint->target().address.str();
            if (endpoint->retarget(found.front())) {
                ++changed;
                log->info("{} ({}): {} now resolves to {} (was {}); new connections go there", endpoint->url,
                          set->apiName, endpoint->host, found.front().str(), before);
            }
        }
    }
    return changed;
}

void AddressRefresher::run()
{
    std::unique_lock<std::mutex> lock(_mutex);
    while (!_stopping) {
        const std::uint64_t generation = _generation;
        if (_every.count() <= 0) {
            _wake.wait(lock, [&] { return _stopping || _generation != generation; });
            continue;
        }
        if (_wake.wait_for(lock, _every, [&] { return _stopping || _generation != generation; })) {
            continue;  // stopping, or a new configuration: wait its whole interval
        }
        std::vector<std::shared_ptr<EndpointSet>> sets;
        for (const auto& weak : _sets) {
            if (auto set = weak.lock()) {
                sets.push_back(std::move(set));
            }
        }
        lock.unlock();
        refresh(sets);
        sets.clear();  // a set whose configuration went meanwhile is destroyed here, unlocked
        lock.lock();
    }
}

}  // namespace sluice::runtime::upstream
