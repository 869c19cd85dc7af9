#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>

namespace sluice::runtime::transport {

// The session ticket keys of one TLS listener context, in place of OpenSSL's single key that
// lives as long as the context (until a reload). Tickets are sealed under the newest key, which
// is replaced every `rotation`; a ticket opens while the key that sealed it is younger than two
// rotations, so a key that leaks opens the tickets (and, in TLS 1.2, the session secrets they
// carry) of two rotations at most. A ticket opened under the older key is resumed and replaced
// by one under the newest. Keys are random, held in memory only, and wiped when dropped; a key
// past its time is dropped at the next handshake that issues or offers a ticket, or by
// expireAll(), which sluiced's main thread calls every few seconds, whichever comes first: a
// listener without handshakes keeps no key past its time either. Thread-safe: the workers'
// handshakes share it.
class TicketKeys {
public:
    using Clock = std::chrono::steady_clock;

    explicit TicketKeys(std::chrono::seconds rotation);
    ~TicketKeys();
    TicketKeys(const TicketKeys&) = delete;
    TicketKeys& operator=(const TicketKeys&) = delete;

    // Makes `ctx` seal and open its tickets with `keys` (which must outlive it). Throws
    // std::runtime_error when OpenSSL cannot attach them.
    static void install(SSL_CTX* ctx, TicketKeys* keys);

    // OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb), for `now`: 1 when
    // sealed or opened under the newest key, 2 when opened under the older one (renew), 0 when
    // no key opens it (a full handshake), -1 when sealing fails.
    int onTicket(unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                 int seal, Clock::time_point now);

    // Drops (and wipes) the keys two rotations old at `now`, of every listener context alive;
    // makes no new key. Any thread.
    static void expireAll(Clock::time_point now);
    // How many keys are held (0 to 2).
    std::size_t keyCount();

private:
    struct Key {
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
        Clock::time_point made;
    };
    // Under _mutex: drops (and wipes) keys two rotations old and makes a new newest key when the
    // newest is one rotation old. False when no random key could be made.
    bool refresh(Clock::time_point now);
    void dropExpired(Clock::time_point now);
    void expire(Clock::time_point now);  // dropExpired under _mutex
    void drop(std::size_t index);

    const Clock::duration _rotation;
    std::mutex _mutex;
    std::array<Key, 2> _keys{};  // the first _count, oldest first
    std::size_t _count = 0;
};

}  // namespace sluice::runtime::transport
