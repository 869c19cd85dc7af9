#include "sluice/runtime/transport/HttpCall.h"

#include "sluice/runtime/Exchange.h"
#include "sluice/runtime/http/HttpParser.h"
#include "sluice/runtime/transport/HttpConnection.h"
#include "sluice/runtime/transport/Resolver.h"
#include "sluice/runtime/transport/Tls.h"
#include "sluice/runtime/transport/Worker.h"
#include "sluice/sdk/HttpSyntax.hpp"

namespace sluice::runtime::transport {

namespace {

std::string_view sv(sluice_str s) { return s.data == nullptr ? std::string_view{} : std::string_view(s.data, s.len); }

bool isMethod(std::string_view m) { return !m.empty() && m.size() <= 16 && sdk::isFieldName(m); }

}  // namespace

HttpCall::HttpCall(HttpConnection& owner, std::uint64_t generation, sluice_http_callback cb, void* user)
    : _owner(owner), _loop(owner.loop()), _generation(generation), _cb(cb), _user(user)
{
}

HttpCall::~HttpCall()
{
    _loop.disarm(this);
    if (_upstream != nullptr) {
        _upstream->abort();
    }
}

sluice_status HttpCall::start(const sluice_http_request& request)
{
    std::string error;
    std::string url(sv(request.url));
    _method = std::string(sv(request.method).empty() ? "GET" : sv(request.method));
    if (!isMethod(_method) || !parseHttpUrl(url, _url, error)) {
        return SLUICE_E_INVALID;
    }

    if (request.timeout_ms != 0) {
        _timeoutMs = request.timeout_ms;
    }
    _request = _method + " " + _url.target + " HTTP/1.1\r\nHost: " + _url.hostHeader + "\r\n";
    for (std::size_t i = 0; i < request.header_count; ++i) {
        std::string_view name = sv(request.headers[i].name);
        std::string_view value = sv(request.headers[i].value);
        if (!sdk::isFieldName(name) || !sdk::isFieldValue(value)) {
            return SLUICE_E_INVALID;
        }
        if (http::isGatewayOwnedField(name)) {
            // A plugin that forwards a client's fields must not frame the call (a Content-Length
            // or Transfer-Encoding beside the runtime's own would leave the callee reading the
            // next call on the pooled connection as a body), name a second host, or steer the
            // connection.
            continue;
        }
        _request.append(name).append(": ").append(value).append("\r\n");
    }
    std::string_view body = sv(request.body);
    if (!body.empty() || _method == "POST" || _method == "PUT" || _method == "PATCH") {
        _request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    }
    _request.append("\r\n").append(body);

    std::vector<Address> addresses;
    bool cached = Resolver::instance().lookup(
        _url.host, _url.port, addresses,
        [alive = std::weak_ptr<const bool>(_alive), self = this](std::vector<Address> found, std::string err) {
            // Runs on the worker, where the call is destroyed: it may be gone (its client left and
            // the connection was deleted) or cancelled (the exchange ended). A live call that is
            // not done belongs to its connection, which is then alive too.
            if (alive.expired() || self->_done || self->_owner.exchangeIfCurrent(self->_generation) == nullptr ||
                !self->_owner.hasCall(self)) {
                return;
            }
            self->_loop.disarm(self);
            if (found.empty()) {
                self->finish(SLUICE_E_NOT_FOUND, std::move(err));
            } else {
                self->_address = found.front();
                self->connect();
            }
        },
        [box = _owner.loop().postBox()](std::function<void()> task) { box->post(std::move(task)); });
    if (cached) {
        _address = addresses.front();
        connect();
    } else {
        // timeout_ms covers the lookup too: a name server that does not answer must not hold the
        // call for the resolver's own timeouts (or behind other names' lookups).
        _loop.arm(this, _loop.now() + std::chrono::milliseconds(_timeoutMs));
    }
    return SLUICE_OK;
}

Clock::time_point HttpCall::onTimer(Clock::time_point)
{
    // finish() does nothing when the call has ended meanwhile (its destruction disarms too).
    finish(SLUICE_E_INTERNAL,
           "the name " + _url.host + " was not resolved within " + std::to_string(_timeoutMs) + " ms");
    return Clock::time_point::max();
}

void HttpCall::connect()
{
    std::string key = std::string(_url.tls ? "call-tls|" : "call|") + _address.str() + "|" + _url.host;
    const TlsClientContext* tls = nullptr;
    if (_url.tls) {
        try {
            tls = TlsClientContext::systemDefault().get();
        } catch (const std::exception& e) {
            _owner.loop().defer([this, err = std::string(e.what())] { finish(SLUICE_E_INTERNAL, err); });
            return;
        }
    }
    ConnectError failed;
    // As for proxied requests: a method that must not go twice is sent on a pooled connection only
    // once a peek found it still open; after one stale pooled connection, a new one.
    _upstream = _owner.worker().pool().acquire(key, _address, failed, tls, _url.host,
                                               !http::isIdempotentMethod(_method), !_staleRetried);
    if (_upstream == nullptr) {
        // Called back later, never from inside http_call itself.
        _owner.loop().defer([this, err = failed.text] { finish(SLUICE_E_INTERNAL, err); });
        return;
    }
    _upstream->attach(this, _method, static_cast<int>(_timeoutMs), static_cast<int>(_timeoutMs));
    _sending = true;  // a write that fails at once (a pooled connection reset) is answered later
    _upstream->send(_request);
    _sending = false;
    if (_upstream != nullptr) {
        _upstream->requestComplete();
    }
}

void HttpCall::cancel()
{
    _done = true;
    if (_upstream != nullptr) {
        _upstream->abort();
        _upstream = nullptr;
    }
}

void HttpCall::onUpstreamHead(const http::ResponseHead& head)
{
    _status = head.status;
    for (const auto& h : head.headers) {
        _headers.emplace_back(std::string(h.name), std::string(h.value));
    }
}

void HttpCall::onUpstreamData(std::string_view bytes)
{
    if (_upstream == nullptr || _done) {
        return;  // the call has already ended
    }
    if (_body.size() + bytes.size() > kMaxResponseBytes) {
        UpstreamConnection* up = _upstream;
        _upstream = nullptr;
        up->abort();
        finish(SLUICE_E_TOO_LARGE, "the response is larger than " + std::to_string(kMaxResponseBytes) + " bytes");
        return;
    }
    _body.append(bytes);
}

void HttpCall::onUpstreamEnd()
{
    UpstreamConnection* up = _upstream;
    _upstream = nullptr;
    up->release();
    finish(SLUICE_OK, {});
}

void HttpCall::onUpstreamFailure(UpstreamFailure failure, bool responseStarted, std::string_view detail)
{
    UpstreamConnection* up = _upstream;
    _upstream = nullptr;
    // A pooled connection the backend closed while it was idle (its keep-alive timeout) fails the
    // call only if it fails again on a new connection. Sent again: an idempotent request, or any
    // request whose write failed at once (nothing of it went out). The new connection has the
    // whole timeout again: a stale one fails at once, so the call takes hardly longer.
    const bool stale =
        up != nullptr && up->reused() && failure == UpstreamFailure::Closed && !responseStarted && !up->receivedAny();
    if (stale && !_staleRetried && (_sending || http::isIdempotentMethod(_method))) {
        _staleRetried = true;
        _owner.loop().defer([this] {
            if (!_done) {
                connect();
            }
        });
        return;
    }
    if (_sending) {
        // Inside connect(), maybe inside http_call itself: the plugin is called back later.
        _owner.loop().defer([this, err = describeFailure(failure, detail)] { finish(SLUICE_E_INTERNAL, err); });
        return;
    }
    finish(SLUICE_E_INTERNAL, describeFailure(failure, detail));
}

void HttpCall::finish(sluice_status status, std::string error)
{
    if (_done) {
        return;
    }
    _done = true;
    Exchange* ex = _owner.exchangeIfCurrent(_generation);
    if (ex != nullptr) {
        std::vector<sluice_header> headers;
        headers.reserve(_headers.size());
        for (const auto& [n, v] : _headers) {
            headers.push_back({sluice_str{n.data(), n.size()}, sluice_str{v.data(), v.size()}});
        }
        sluice_http_response response{};
        response.struct_size = sizeof response;
        response.status = status;
        response.http_status = status == SLUICE_OK ? _status : 0;
        response.headers = headers.data();
        response.header_count = headers.size();
        response.body = sluice_str{_body.data(), _body.size()};
        response.error = sluice_str{error.data(), error.size()};
        _cb(_user, ex->handle(), &response);
    }
    _owner.callFinished(this);
}

}  // namespace sluice::runtime::transport
