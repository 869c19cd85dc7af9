#include "sluice/runtime/transport/TicketKeys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

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
        return -1;
    }
    return keys->onTicket(name, iv, cipher, mac, seal, TicketKeys::Clock::now());
}

}  // namespace

TicketKeys::TicketKeys(std::chrono::seconds rotation) : _rotation(rotation) {}

void TicketKeys::install(SSL_CTX* ctx, TicketKeys* keys)
{
    SSL_CTX_set_ex_data(ctx, exIndex(), keys);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &ticketCallback);
}

bool TicketKeys::refresh(Clock::time_point now)
{
    _keys.erase(std::remove_if(_keys.begin(), _keys.end(), [&](const Key& k) { return now - k.made >= 2 * _rotation; }),
                _keys.end());
    if (!_keys.empty() && now - _keys.back().made < _rotation) {
        return true;
    }
    Key k{};
    if (RAND_bytes(k.name, sizeof k.name) != 1 || RAND_priv_bytes(k.aes, sizeof k.aes) != 1 ||
        RAND_priv_bytes(k.hmac, sizeof k.hmac) != 1) {
        return false;
    }
    k.made = now;
    _keys.push_back(k);
    OPENSSL_cleanse(&k, sizeof k);
    return true;
}

int TicketKeys::onTicket(unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX* cipher,
                         EVP_MAC_CTX* mac, int seal, Clock::time_point now)
{
    std::lock_guard<std::mutex> lock(_mutex);
    if (!refresh(now)) {
        return -1;
    }
    const Key* key = nullptr;
    if (seal != 0) {
        key = &_keys.back();
        std::memcpy(name, key->name, sizeof key->name);
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) {
            return -1;
        }
    } else {
        for (const Key& k : _keys) {
            if (std::memcmp(name, k.name, sizeof k.name) == 0) {
                key = &k;
            }
        }
        if (key == nullptr) {
            return 0;  // sealed under a key that is gone (or never was): a full handshake
        }
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key->hmac), sizeof key->hmac),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(mac, params) != 1) {
        return -1;
    }
    const int ok = seal != 0 ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes, iv)
                             : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes, iv);
    if (ok != 1) {
        return -1;
    }
    return seal != 0 || key == &_keys.back() ? 1 : 2;
}

}  // namespace sluice::runtime::transport
