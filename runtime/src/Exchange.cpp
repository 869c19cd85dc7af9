#include "sluice/runtime/Exchange.h"

#include <strings.h>
#include <algorithm>
#include <atomic>
#include <cstring>

#include "sluice/runtime/http/HttpParser.h"
#include "sluice/sdk/HttpSyntax.hpp"

namespace sluice::runtime {

namespace {

bool sameName(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

using sdk::hexValue;

std::string nextRequestId()
{
    static std::atomic<std::uint64_t> counter{0};
    std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed) + 1;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id(16, '0');
    for (std::size_t i = 16; i-- > 0; n >>= 4) {
        id[i] = kHex[n & 0xF];
    }
    return id;
}

}  // namespace

HeaderList::HeaderList() : _own(std::make_unique<Arena>(1024)), _arena(_own.get()) {}

HeaderList::HeaderList(Arena& arena, Matching matching) : _arena(&arena), _matching(matching) {}

std::string_view HeaderList::keep(std::string_view text)
{
    if (text.empty()) {
        return {};
    }
    char* p = static_cast<char*>(_arena->allocateUninitialized(text.size()));
    if (p == nullptr) {
        return {};
    }
    std::memcpy(p, text.data(), text.size());
    return {p, text.size()};
}

bool HeaderList::named(std::string_view entry, std::string_view name) const noexcept
{
    return _matching == Matching::Cgi ? http::sameCgiName(entry, name) : sameName(entry, name);
}

std::optional<std::string_view> HeaderList::get(std::string_view name, std::size_t index) const
{
    for (const auto& [n, v] : _entries) {
        if (named(n, name)) {
            if (index == 0) {
                return v;
            }
            --index;
        }
    }
    return std::nullopt;
}

void HeaderList::set(std::string_view name, std::string_view value)
{
    // A field the peer sent stays the peer's when a handler rewrites it (a cookie made Secure, a
    // Cache-Control passed on): dropReceived() takes it away too.
    if (eraseNamed(name) == 0) {
        add(name, value);
        return;
    }
    _entries.emplace(_entries.begin() + static_cast<std::ptrdiff_t>(_received), keep(name), keep(value));
    ++_received;
}

void HeaderList::add(std::string_view name, std::string_view value) { _entries.emplace_back(keep(name), keep(value)); }

bool HeaderList::joinValues(std::string_view name, std::string_view separator)
{
    const auto isNamed = [this, name](const Entry& e) { return named(e.first, name); };
    const auto first = std::find_if(_entries.begin(), _entries.end(), isNamed);
    if (first == _entries.end()) {
        return true;
    }
    std::size_t values = 0;
    std::size_t size = 0;
    std::string_view value;  // with fewer than two values, the one there is (or none)
    for (auto it = first; it != _entries.end(); ++it) {
        if (isNamed(*it) && !it->second.empty()) {
            size += (values++ == 0 ? 0 : separator.size()) + it->second.size();
            value = it->second;
        }
    }
    if (values > 1) {
        char* p = static_cast<char*>(_arena->allocateUninitialized(size));
        if (p == nullptr) {
            return false;
        }
        std::size_t at = 0;
        for (auto it = first; it != _entries.end(); ++it) {
            if (isNamed(*it) && !it->second.empty()) {
                if (at != 0) {
                    std::memcpy(p + at, separator.data(), separator.size());
                    at += separator.size();
                }
                std::memcpy(p + at, it->second.data(), it->second.size());
                at += it->second.size();
            }
        }
        value = std::string_view(p, size);
    }
    first->second = value;
    const auto receivedEnd = _entries.begin() + static_cast<std::ptrdiff_t>(_received);
    const auto laterReceived = first < receivedEnd ? std::count_if(first + 1, receivedEnd, isNamed) : 0;
    _received -= static_cast<std::size_t>(laterReceived);
    _entries.erase(std::remove_if(first + 1, _entries.end(), isNamed), _entries.end());
    return true;
}

void HeaderList::remove(std::string_view name) { eraseNamed(name); }

std::size_t HeaderList::eraseNamed(std::string_view name)
{
    const auto named = [this, name](const Entry& e) { return this->named(e.first, name); };
    const auto receivedEnd = _entries.begin() + static_cast<std::ptrdiff_t>(_received);
    const auto received = static_cast<std::size_t>(std::count_if(_entries.begin(), receivedEnd, named));
    _received -= received;
    _entries.erase(std::remove_if(_entries.begin(), _entries.end(), named), _entries.end());
    return received;
}

void HeaderList::dropReceived()
{
    _entries.erase(_entries.begin(), _entries.begin() + static_cast<std::ptrdiff_t>(_received));
    _received = 0;
}

bool HeaderList::validName(std::string_view name) { return sdk::isFieldName(name); }

bool HeaderList::validValue(std::string_view value) { return sdk::isFieldValue(value); }

std::optional<std::string_view> PropertyList::get(std::string_view name) const noexcept
{
    for (const Entry& e : _entries) {
        if (e.name == name) {
            return std::string_view(e.value, e.size);
        }
    }
    return std::nullopt;
}

bool PropertyList::set(std::string_view name, std::string_view value)
{
    Entry* entry = nullptr;
    for (Entry& e : _entries) {
        if (e.name == name) {
            entry = &e;
            break;
        }
    }
    if (entry != nullptr && value.size() <= entry->capacity) {
        if (!value.empty()) {
            std::memmove(entry->value, value.data(), value.size());  // the value may be a view of itself
        }
        entry->size = value.size();
        return true;
    }
    const std::size_t capacity = entry != nullptr ? std::max(value.size(), 2 * entry->capacity) : value.size();
    auto* bytes = static_cast<char*>(_arena->allocateUninitialized(capacity == 0 ? 1 : capacity));
    if (bytes == nullptr) {
        return false;
    }
    if (!value.empty()) {
        std::memcpy(bytes, value.data(), value.size());
    }
    if (entry != nullptr) {
        *entry = Entry{entry->name, bytes, value.size(), capacity};
        return true;
    }
    auto* nameBytes = static_cast<char*>(_arena->allocateUninitialized(name.size() == 0 ? 1 : name.size()));
    if (nameBytes == nullptr) {
        return false;
    }
    std::memcpy(nameBytes, name.data(), name.size());
    _entries.push_back(Entry{std::string_view(nameBytes, name.size()), bytes, value.size(), capacity});
    return true;
}

Exchange::Exchange() : requestHeaders(arena, HeaderList::Matching::Cgi), responseHeaders(arena), properties(arena) {}

const std::string& Exchange::requestId() const
{
    if (requestIdText.empty()) {
        requestIdText = nextRequestId();
    }
    return requestIdText;
}

void Exchange::removeResponseFieldEarly(std::string_view name)
{
    responseHeaders.remove(name);
    for (std::string_view removed : responseRemovedEarly) {
        if (sameName(removed, name)) {
            return;
        }
    }
    char* p = arena.allocateArray<char>(name.size());
    if (p == nullptr) {
        return;  // the arena is exhausted: the backend's field of that name stays
    }
    std::memcpy(p, name.data(), name.size());
    responseRemovedEarly.emplace_back(p, name.size());
}

void Exchange::reset()
{
    phase = SLUICE_PHASE_REQUEST;
    method.clear();
    path.clear();
    query.clear();
    host.clear();
    clientAddress.clear();
    apiName.clear();
    apiVersion.clear();
    resource.clear();
    requestIdText.clear();
    pathParams.clear();
    resourcePath.clear();
    nothingAfterPrefix = false;
    peerCertificatePem.reset();
    requestHeaders.clear();
    responseHeaders.clear();
    responseRemovedEarly.clear();
    requestBody.reset();
    responseBody.reset();
    requestBodyStreams = false;
    responseStatus = 0;
    localResponse.reset();
    properties.clear();
    arena.reset();  // after the header lists that point into it were cleared
    owner = nullptr;
    driver = nullptr;
    codecs = nullptr;
    requestMessage.reset();
    responseMessage.reset();
    paused = false;
}

std::optional<std::string_view> Exchange::attribute(sluice_attribute which) const
{
    switch (which) {
        case SLUICE_ATTR_METHOD: return std::string_view(method);
        case SLUICE_ATTR_PATH: return std::string_view(path);
        case SLUICE_ATTR_QUERY: return std::string_view(query);
        case SLUICE_ATTR_SCHEME: return std::string_view(scheme);
        case SLUICE_ATTR_HOST: return std::string_view(host);
        case SLUICE_ATTR_CLIENT_ADDRESS: return std::string_view(clientAddress);
        case SLUICE_ATTR_API_NAME: return std::string_view(apiName);
        case SLUICE_ATTR_API_VERSION: return std::string_view(apiVersion);
        case SLUICE_ATTR_RESOURCE: return std::string_view(resource);
        case SLUICE_ATTR_REQUEST_ID: return std::string_view(requestId());
        case SLUICE_ATTR_PROTOCOL: return std::string_view(protocol);
    }
    return std::nullopt;
}

std::optional<std::string> Exchange::queryParam(std::string_view name, std::size_t index) const
{
    std::string_view rest(query);
    while (!rest.empty()) {
        std::size_t amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        std::size_t eq = pair.find('=');
        auto key = percentDecode(pair.substr(0, eq), true);
        if (!key || *key != name) {
            continue;
        }
        if (eq == std::string_view::npos) {
            if (index-- == 0) {
                return std::string();
            }
            continue;
        }
        // The transport refuses queries with malformed escapes (routing::queryProblem); one that
        // got here anyway is passed over rather than ending the search for later values.
        auto value = percentDecode(pair.substr(eq + 1), true);
        if (value && index-- == 0) {
            return value;
        }
    }
    return std::nullopt;
}

std::optional<std::string> percentDecode(std::string_view in, bool plusAsSpace)
{
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) {
                return std::nullopt;
            }
            int hi = hexValue(in[i + 1]);
            int lo = hexValue(in[i + 2]);
            if (hi < 0 || lo < 0) {
                return std::nullopt;
            }
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plusAsSpace) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

}  // namespace sluice::runtime
