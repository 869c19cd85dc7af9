#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <chrono>
#include <mutex>
#include <vector>

namespace sluice::runtime::transport {

// The session ticket keys of one TLS listener context, in place of OpenSSL's single key that
// lives as long as the context (until a reload). Tickets are sealed under the newest key, which
// is replaced every `rotation`; a ticket opens while the key that sealed it is younger than two
// rotations, so it resumes for at least one rotation and at most two, and a key that leaks
// exposes the sessions of two rotations at most (forward secrecy for resumed sessions). A ticket
// opened under the older key is resumed and replaced by one under the newest. Thread-safe: the
// workers' handshakes share it.
class TicketKeys {
public:
    using Clock = std::chrono::steady_clock;

    explicit TicketKeys(std::chrono::seconds rotation);

    // Makes `ctx` seal and open its tickets with the keys of `keys` (which must outlive it).
    static void install(SSL_CTX* ctx, TicketKeys* keys);

    // OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb), for `now`: 1 when
    // sealed or opened under the newest key, 2 when opened under the older one (renew), 0 when
    // no key has that name any more (a full handshake), -1 on an OpenSSL failure.
    int onTicket(unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX* cipher,
                 EVP_MAC_CTX* mac, int seal, Clock::time_point now);

private:
    struct Key {
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
        Clock::time_point made;
    };
    // Drops keys two rotations old and makes a new one when the newest is one rotation old.
    // Called with _mutex held.
    bool refresh(Clock::time_point now);

    const Clock::duration _rotation;
    std::mutex _mutex;
    std::vector<Key> _keys;  // newest last
};

}  // namespace sluice::runtime::transport
