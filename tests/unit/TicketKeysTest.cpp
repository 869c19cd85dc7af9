// Session ticket keys: which key seals and opens a ticket as time passes, and that sealing and
// opening set up the same cipher and MAC keys (a round trip through OpenSSL's contexts).
#include "sluice/runtime/transport/TicketKeys.h"

#include <openssl/evp.h>

#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include <doctest/doctest.h>

using sluice::runtime::transport::TicketKeys;
using namespace std::chrono_literals;

namespace {

// The contexts OpenSSL hands the callback, and what they do with 32 bytes once set up.
class Crypto {
public:
    Crypto() : _cipher(EVP_CIPHER_CTX_new())
    {
        EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        _mac = EVP_MAC_CTX_new(hmac);
        EVP_MAC_free(hmac);
        REQUIRE(_cipher != nullptr);
        REQUIRE(_mac != nullptr);
    }
    ~Crypto()
    {
        EVP_CIPHER_CTX_free(_cipher);
        EVP_MAC_CTX_free(_mac);
    }
    Crypto(const Crypto&) = delete;
    Crypto& operator=(const Crypto&) = delete;

    EVP_CIPHER_CTX* cipher() { return _cipher; }
    EVP_MAC_CTX* mac() { return _mac; }

    // Runs the cipher (encrypting or decrypting, as it was set up) over `in`.
    std::string crypt(const std::string& in)
    {
        std::string out(in.size() + 32, '\0');
        int n = 0;
        int tail = 0;
        auto* o = reinterpret_cast<unsigned char*>(out.data());
        REQUIRE(EVP_CipherUpdate(_cipher, o, &n, reinterpret_cast<const unsigned char*>(in.data()),
                                 static_cast<int>(in.size())) == 1);
        REQUIRE(EVP_CipherFinal_ex(_cipher, o + n, &tail) == 1);
        out.resize(static_cast<std::size_t>(n + tail));
        return out;
    }
    std::string tag(const std::string& in)
    {
        REQUIRE(EVP_MAC_init(_mac, nullptr, 0, nullptr) == 1);
        REQUIRE(EVP_MAC_update(_mac, reinterpret_cast<const unsigned char*>(in.data()), in.size()) == 1);
        std::string out(EVP_MAX_MD_SIZE, '\0');
        std::size_t n = 0;
        REQUIRE(EVP_MAC_final(_mac, reinterpret_cast<unsigned char*>(out.data()), &n, out.size()) == 1);
        out.resize(n);
        return out;
    }

private:
    EVP_CIPHER_CTX* _cipher;
    EVP_MAC_CTX* _mac = nullptr;
};

struct Ticket {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, EVP_MAX_IV_LENGTH> iv{};
};

int seal(TicketKeys& keys, Ticket& t, Crypto& c, TicketKeys::Clock::time_point now)
{
    return keys.onTicket(t.name.data(), t.iv.data(), c.cipher(), c.mac(), 1, now);
}

int open(TicketKeys& keys, Ticket t, Crypto& c, TicketKeys::Clock::time_point now)
{
    return keys.onTicket(t.name.data(), t.iv.data(), c.cipher(), c.mac(), 0, now);
}

// The same where what the contexts were set up with does not matter.
int seal(TicketKeys& keys, Ticket& t, TicketKeys::Clock::time_point now)
{
    Crypto c;
    return seal(keys, t, c, now);
}

int open(TicketKeys& keys, const Ticket& t, TicketKeys::Clock::time_point now)
{
    Crypto c;
    return open(keys, t, c, now);
}

}  // namespace

TEST_CASE("TicketKeys: a ticket opens for two rotations, asking for renewal in the second, and then no more")
{
    TicketKeys keys(10s);
    const TicketKeys::Clock::time_point t0 = TicketKeys::Clock::now();
    Ticket ticket;
    Crypto sealing;
    REQUIRE(seal(keys, ticket, sealing, t0) == 1);
    const std::string secret = "the session state, sealed in the ticket";
    const std::string sealed = sealing.crypt(secret);
    const std::string tag = sealing.tag(sealed);
    CHECK(sealed != secret);

    Crypto soon;
    CHECK(open(keys, ticket, soon, t0 + 9s) == 1);  // still the newest key
    CHECK(soon.crypt(sealed) == secret);
    CHECK(soon.tag(sealed) == tag);

    // At 10 s the key is replaced: new tickets get the new one, older ones open and are renewed.
    Ticket newer;
    REQUIRE(seal(keys, newer, t0 + 10s) == 1);
    CHECK(newer.name != ticket.name);
    Crypto late;
    CHECK(open(keys, ticket, late, t0 + 19s) == 2);
    CHECK(late.crypt(sealed) == secret);
    CHECK(late.tag(sealed) == tag);

    // Two rotations after its key was made, the first ticket no longer opens; the newer one does.
    CHECK(open(keys, ticket, t0 + 20s) == 0);
    CHECK(open(keys, newer, t0 + 20s) == 2);  // the key made at 10 s was replaced at 20 s
}

TEST_CASE(
    "TicketKeys: after a quiet spell older than two rotations no old key is left, and an unknown name opens nothing")
{
    TicketKeys keys(10s);
    const TicketKeys::Clock::time_point t0 = TicketKeys::Clock::now();
    Ticket ticket;
    REQUIRE(seal(keys, ticket, t0) == 1);
    CHECK(open(keys, ticket, t0 + 1h) == 0);
    Ticket stranger;
    stranger.name.fill(0x5a);
    CHECK(open(keys, stranger, t0 + 1h) == 0);
}

TEST_CASE("TicketKeys: a key stops opening tickets two rotations after it was made, however young the newer key is")
{
    // The second key is made late (the first handshake after a quiet spell, at 15 s): the first
    // key is still the older one then, and still goes at 20 s, not when the second is replaced.
    TicketKeys keys(10s);
    const TicketKeys::Clock::time_point t0 = TicketKeys::Clock::now();
    Ticket first;
    REQUIRE(seal(keys, first, t0) == 1);
    Ticket second;
    REQUIRE(seal(keys, second, t0 + 15s) == 1);
    CHECK(second.name != first.name);
    CHECK(open(keys, first, t0 + 19s) == 2);
    CHECK(open(keys, first, t0 + 20s) == 0);
    CHECK(open(keys, second, t0 + 20s) == 1);
}

TEST_CASE("TicketKeys: expireAll wipes keys past their time on a listener that has no handshake, and only those")
{
    TicketKeys quiet(10s);
    TicketKeys other(10s);
    const TicketKeys::Clock::time_point t0 = TicketKeys::Clock::now();
    Ticket a;
    Ticket b;
    REQUIRE(seal(quiet, a, t0) == 1);
    REQUIRE(seal(other, b, t0) == 1);
    REQUIRE(seal(quiet, a, t0 + 10s) == 1);  // quiet now has two keys: made at 0 s and at 10 s
    CHECK(quiet.keyCount() == 2);
    CHECK(other.keyCount() == 1);

    TicketKeys::expireAll(t0 + 19s);  // nothing is two rotations old yet
    CHECK(quiet.keyCount() == 2);
    CHECK(other.keyCount() == 1);
    TicketKeys::expireAll(t0 + 20s);  // the keys made at 0 s go; no new key is made
    CHECK(quiet.keyCount() == 1);
    CHECK(other.keyCount() == 0);
    // The ticket sealed at 10 s still opens (and is renewed: this handshake makes a new key).
    CHECK(open(quiet, a, t0 + 20s) == 2);
    CHECK(quiet.keyCount() == 2);
    TicketKeys::expireAll(t0 + 40s);
    CHECK(quiet.keyCount() == 0);
}

TEST_CASE("TicketKeys: a context gone is out of expireAll's reach")
{
    const TicketKeys::Clock::time_point t0 = TicketKeys::Clock::now();
    TicketKeys kept(10s);
    Ticket t;
    REQUIRE(seal(kept, t, t0) == 1);
    {
        auto gone = std::make_unique<TicketKeys>(10s);
        REQUIRE(seal(*gone, t, t0) == 1);
    }
    TicketKeys::expireAll(t0 + 20s);  // would touch freed memory (ASan) if the gone one were still listed
    CHECK(kept.keyCount() == 0);
}
