#include "sluice/runtime/transport/TicketKeys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace sluice::runtime::transport {

namespace {

int exIndex()
{
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int ticketCallback(SSL* ssl, unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX* cipher,
                   EVP_MAC_CTX* mac, int seal)
{
    // Every certificate context of a listener carries the same keys, so whichever the SNI chose
    // finds them.
    auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), exIndex()));
    if (keys == nullptr) {
        return seal != 0 ? -1 : 0;
    }
    return keys->onTicket(name, iv, cipher, mac, seal, TicketKeys::Clock::now());
}

// Every TicketKeys alive, for expireAll(): a handful (one per TLS listener of each snapshot
// still in use).
std::mutex& liveMutex()
{
    static std::mutex m;
    return m;
}
std::vector<TicketKeys*>& live()
{
    static std::vector<TicketKeys*> all;
    return all;
}

}  // namespace

TicketKeys::TicketKeys(std::chrono::seconds rotation) : _rotation(rotation)
{
    std::lock_guard<std::mutex> lock(liveMutex());
    live().push_back(this);
}

TicketKeys::~TicketKeys()
{
    {
        std::lock_guard<std::mutex> lock(liveMutex());
        auto& all = live();
        all.erase(std::remove(all.begin(), all.end(), this), all.end());
    }
    OPENSSL_cleanse(_keys.data(), sizeof _keys);
}

void TicketKeys::expire(Clock::time_point now)
{
    std::lock_guard<std::mutex> lock(_mutex);
    dropExpired(now);
}

void TicketKeys::expireAll(Clock::time_point now)
{
    std::lock_guard<std::mutex> lock(liveMutex());
    for (TicketKeys* keys : live()) {
        keys->expire(now);
    }
}

std::size_t TicketKeys::keyCount()
{
    std::lock_guard<std::mutex> lock(_mutex);
    return _count;
}

void TicketKeys::install(SSL_CTX* ctx, TicketKeys* keys)
{
    if (exIndex() < 0 || SSL_CTX_set_ex_data(ctx, exIndex(), keys) != 1 ||
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &ticketCallback) != 1) {
        throw std::runtime_error("cannot set up the TLS session ticket keys");
    }
}

void TicketKeys::drop(std::size_t index)
{
    for (std::size_t i = index; i + 1 < _count; ++i) {
        _keys[i] = _keys[i + 1];
    }
    --_count;
    OPENSSL_cleanse(&_keys[_count], sizeof(Key));
}

void TicketKeys::dropExpired(Clock::time_point now)
{
    for (std::size_t i = _count; i-- > 0;) {
        if (now - _keys[i].made >= 2 * _rotation) {
            drop(i);
        }
    }
}

bool TicketKeys::refresh(Clock::time_point now)
{
    dropExpired(now);
    if (_count > 0 && now - _keys[_count - 1].made < _rotation) {
        return true;
    }
    if (_count == _keys.size()) {
        drop(0);
    }
    Key& k = _keys[_count];
    if (RAND_bytes(k.name, sizeof k.name) != 1 || RAND_priv_bytes(k.aes, sizeof k.aes) != 1 ||
        RAND_priv_bytes(k.hmac, sizeof k.hmac) != 1) {
        OPENSSL_cleanse(&k, sizeof k);
        return false;
    }
    k.made = now;
    ++_count;
    return true;
}

int TicketKeys::onTicket(unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX* cipher,
                         EVP_MAC_CTX* mac, int seal, Clock::time_point now)
{
    Key key;
    bool newest = true;
    {
        // Only the choice of key is made under the lock; OpenSSL's set-up runs on a copy.
        std::lock_guard<std::mutex> lock(_mutex);
        if (!refresh(now) && (seal != 0 || _count == 0)) {
            return seal != 0 ? -1 : 0;
        }
        std::size_t found = _count;
        if (seal != 0) {
            found = _count - 1;
        } else {
            for (std::size_t i = 0; i < _count; ++i) {
                if (std::memcmp(name, _keys[i].name, sizeof _keys[i].name) == 0) {
                    found = i;
                }
            }
            if (found == _count) {
                return 0;  // sealed under a key that is gone (or never was): a full handshake
            }
        }
        key = _keys[found];
        newest = found + 1 == _count;
    }
    int result = -1;
    if (seal != 0) {
        std::memcpy(name, key.name, sizeof key.name);
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac, sizeof key.hmac),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end(),
    };
    if ((seal == 0 || RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) == 1) &&
        EVP_MAC_CTX_set_params(mac, params) == 1 &&
        (seal != 0 ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv)
                   : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv)) == 1) {
        result = seal != 0 || newest ? 1 : 2;
    } else if (seal == 0) {
        result = 0;  // cannot open it: a full handshake rather than a failed one
    }
    OPENSSL_cleanse(&key, sizeof key);
    return result;
}

}  // namespace sluice::runtime::transport
