#include "sluice/runtime/upstream/AddressRefresher.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "sluice/runtime/Logging.h"

namespace sluice::runtime::upstream {

struct AddressRefresher::State {
    std::mutex mutex;
    std::condition_variable wake;
    std::vector<std::weak_ptr<EndpointSet>> sets;
    std::chrono::milliseconds every{0};
    std::uint64_t generation = 0;  // bumped by serve(): the next round waits a whole interval
    bool stopping = false;
    bool running = false;  // a thread was started
};

namespace {

// One round over `sets`; `stopping` is looked at after every lookup, since one may take long.
template <typename Stopping>
void refreshSets(const std::vector<std::shared_ptr<EndpointSet>>& sets, spdlog::logger& log, Stopping stopping)
{
    for (const auto& set : sets) {
        for (const auto& endpoint : set->endpoints()) {
            if (!endpoint->hostIsName) {
                continue;
            }
            std::string error;
            const std::vector<transport::Address> found = transport::resolve(endpoint->host, endpoint->port, error);
            if (stopping()) {
                return;
            }
            const transport::Address before = endpoint->target().address;
            if (found.empty()) {
                log.warn("{} ({}): looking up {} again failed, connections keep going to {}: {}", endpoint->shownUrl,
                         set->apiName, endpoint->host, before.str(), error);
                continue;
            }
            // The current address while the name still has it: round-robin DNS reorders its
            // answers at every lookup, and connections pooled to one address stay useful.
            const bool kept = std::find(found.begin(), found.end(), before) != found.end();
            endpoint->setAddresses(found);
            if (!kept && endpoint->retarget(found.front())) {
                log.info("{} ({}): {} now resolves to {} (was {}); new connections go there", endpoint->shownUrl,
                         set->apiName, endpoint->host, found.front().str(), before.str());
            }
        }
    }
}

}  // namespace

AddressRefresher& AddressRefresher::instance()
{
    static AddressRefresher refresher;
    return refresher;
}

AddressRefresher::AddressRefresher() : _state(std::make_shared<State>()) {}

AddressRefresher::~AddressRefresher() { stop(); }

void AddressRefresher::stop()
{
    {
        std::lock_guard<std::mutex> lock(_state->mutex);
        _state->stopping = true;
        _state->sets.clear();
    }
    _state->wake.notify_all();
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
        std::lock_guard<std::mutex> lock(_state->mutex);
        if (_state->stopping) {
            return;
        }
        _state->sets = std::move(weak);
        _state->every = every;
        ++_state->generation;
        if (names && every.count() > 0 && !_state->running) {
            _state->running = true;
            // Detached: it holds what it uses (the state, the logger) and never has to be waited for.
            std::thread([state = _state] { run(state); }).detach();
        }
    }
    _state->wake.notify_all();
}

void AddressRefresher::run(const std::shared_ptr<State>& state)
{
    const std::shared_ptr<spdlog::logger> log = Logging::get("upstream");
    std::unique_lock<std::mutex> lock(state->mutex);
    while (!state->stopping) {
        const std::uint64_t generation = state->generation;
        if (state->every.count() <= 0) {
            state->wake.wait(lock, [&] { return state->stopping || state->generation != generation; });
            continue;
        }
        if (state->wake.wait_for(lock, state->every,
                                 [&] { return state->stopping || state->generation != generation; })) {
            continue;  // stopping, or a new configuration: wait its whole interval
        }
        std::vector<std::shared_ptr<EndpointSet>> sets;
        for (const auto& weak : state->sets) {
            if (auto set = weak.lock()) {
                sets.push_back(std::move(set));
            }
        }
        lock.unlock();
        refreshSets(sets, *log, [&] {
            std::lock_guard<std::mutex> check(state->mutex);
            return state->stopping;
        });
        sets.clear();  // a set whose configuration went meanwhile is destroyed here, unlocked
        lock.lock();
    }
}

}  // namespace sluice::runtime::upstream
