// The name resolver of plugins' HTTP calls: callers waiting for one name share one lookup,
// failures are kept a few seconds, and what waits is bounded. A resolve function of the test's
// own stands for getaddrinfo, so that a lookup can be held as long as the test wants.
#include "sluice/runtime/transport/Resolver.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

using sluice::runtime::transport::Address;
using sluice::runtime::transport::Resolver;

namespace {

// A resolve function that counts its calls and, while held, waits to be released.
struct Dns {
    std::mutex mutex;
    std::condition_variable changed;
    bool held = true;
    int calls = 0;
    bool fail = false;
    bool silent = false;  // a failure without a word (no address of a family the gateway uses)

    std::vector<Address> resolve(const std::string&, int port, std::string& error)
    {
        std::unique_lock<std::mutex> lock(mutex);
        ++calls;
        changed.notify_all();
        changed.wait(lock, [this] { return !held; });
        if (fail) {
            error = silent ? "" : "no such name";
            return {};
        }
        Address a{};
        a.storage.v4.sin_family = AF_INET;
        a.storage.v4.sin_port = htons(static_cast<std::uint16_t>(port));
        return {a};
    }
    void release()
    {
        std::lock_guard<std::mutex> lock(mutex);
        held = false;
        changed.notify_all();
    }
    bool waitForCalls(int n)
    {
        std::unique_lock<std::mutex> lock(mutex);
        return changed.wait_for(lock, std::chrono::seconds(5), [&] { return calls >= n; });
    }
};

// The answers callers got, as "ok" or the error.
struct Answers {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::string> got;

    Resolver::Callback callback()
    {
        return [this](std::vector<Address> found, std::string error) {
            std::lock_guard<std::mutex> lock(mutex);
            got.push_back(found.empty() ? error : "ok");
            changed.notify_all();
        };
    }
    static Resolver::Deliver now()
    {
        return [](std::function<void()> task) { task(); };
    }
    bool waitFor(std::size_t n)
    {
        std::unique_lock<std::mutex> lock(mutex);
        return changed.wait_for(lock, std::chrono::seconds(5), [&] { return got.size() >= n; });
    }
};

}  // namespace

TEST_CASE("Resolver: callers waiting for one name share one lookup, and the answer is cached")
{
    Dns dns;
    Resolver resolver([&dns](const std::string& h, int p, std::string& e) { return dns.resolve(h, p, e); });
    Answers answers;
    std::vector<Address> out;
    for (int i = 0; i < 50; ++i) {
        CHECK_FALSE(resolver.lookup("slow.example", 80, out, answers.callback(), Answers::now()));
    }
    REQUIRE(dns.waitForCalls(1));
    dns.release();
    REQUIRE(answers.waitFor(50));
    CHECK(answers.got == std::vector<std::string>(50, "ok"));
    CHECK(dns.calls == 1);
    CHECK(resolver.lookup("slow.example", 80, out, answers.callback(), Answers::now()));  // from the cache
    CHECK(out.size() == 1);
    CHECK(dns.calls == 1);
}

namespace {

// Two lookups of `name` through a resolve function that fails (saying why unless `silent`): what
// the callers got, and how many lookups ran.
std::pair<std::vector<std::string>, int> failTwice(const std::string& name, bool silent)
{
    Dns dns;
    dns.held = false;
    dns.fail = true;
    dns.silent = silent;
    Resolver resolver([&dns](const std::string& h, int p, std::string& e) { return dns.resolve(h, p, e); });
    Answers answers;
    std::vector<Address> out;
    CHECK_FALSE(resolver.lookup(name, 80, out, answers.callback(), Answers::now()));
    REQUIRE(answers.waitFor(1));
    CHECK_FALSE(resolver.lookup(name, 80, out, answers.callback(), Answers::now()));  // the cached failure
    REQUIRE(answers.waitFor(2));
    std::lock_guard<std::mutex> lock(dns.mutex);
    return {answers.got, dns.calls};
}

}  // namespace

TEST_CASE("Resolver: a failed lookup fails the next callers for a while without another lookup")
{
    const auto [got, calls] = failTwice("missing.example", false);
    CHECK(got == std::vector<std::string>{"no such name", "no such name"});
    CHECK(calls == 1);
}

TEST_CASE("Resolver: a lookup that finds no address and says nothing still fails its callers, now and later")
{
    const auto [got, calls] = failTwice("empty.example", true);
    CHECK(got == std::vector<std::string>{"no address for empty.example", "no address for empty.example"});
    CHECK(calls == 1);
}

TEST_CASE("Resolver: past the names that may wait, a lookup fails at once")
{
    Dns dns;
    Resolver resolver([&dns](const std::string& h, int p, std::string& e) { return dns.resolve(h, p, e); });
    Answers answers;
    std::vector<Address> out;
    for (std::size_t i = 0; i < Resolver::kMaxNamesWaiting; ++i) {
        resolver.lookup("name" + std::to_string(i) + ".example", 80, out, answers.callback(), Answers::now());
    }
    CHECK(answers.got.empty());
    resolver.lookup("one-more.example", 80, out, answers.callback(), Answers::now());
    REQUIRE(answers.waitFor(1));
    CHECK(answers.got.front() == "too many name lookups waiting");
    dns.release();
    REQUIRE(answers.waitFor(Resolver::kMaxNamesWaiting + 1));
}
