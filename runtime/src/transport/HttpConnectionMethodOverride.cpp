// HttpConnection, method overrides in request bodies: whether a POST form or JSON body names
// another method in `_method` (FormMethodScanner, JsonMethodScanner), checked before the backend
// has all of it.
#include "sluice/runtime/transport/HttpConnection.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "HttpConnectionDetail.h"
#include "sluice/runtime/http/FormMethodScanner.h"
#include "sluice/runtime/http/JsonMethodScanner.h"
#include "sluice/sdk/HttpSyntax.hpp"

namespace sluice::runtime::transport {

using namespace connection;  // NOLINT(google-build-using-namespace): this class's own details

bool HttpConnection::peerTrusted() const
{
    for (const auto& cidr : _snapshot->trustedProxies) {
        if (cidr.contains(_peer)) {
            return true;
        }
    }
    return false;
}

MethodOverride HttpConnection::methodOverride() const
{
    return _api->config.methodOverride.value_or(_snapshot->config.http.methodOverride);
}

// A POST form body's `_method` parameter naming another method than the request's (see
// FormMethodScanner.h) is refused under http.method_override reject and strip alike: a body is
// not rewritten. (The frameworks override only a POST.) A body in hand is checked whole before
// any backend is contacted; a streamed one piece by piece before each goes out, so that the
// backend never has all of a refused body. Returns false when the request was refused.
bool HttpConnection::startFormScan(std::string_view early)
{
    // refusedByFormHead() chose the scanner already (nothing has been fed to it since).
    const bool chosen = std::exchange(_formScanChosen, false);
    const bool inHand = ex().requestBody.has_value() || _bodyBuffered;
    if (methodOverride() == MethodOverride::Forward || (!inHand && _bodyMode == BodyMode::None) ||
        ex().method != "POST") {
        _formScan.reset();
        return true;
    }
    if (!chosen) {
        _formScan.reset();
    }
    const std::string_view refusal = chosen ? std::string_view() : chooseFormScan();
    if (!_formScan && refusal.empty()) {
        return true;
    }
    // What connectUpstream() sends with the head, for a body not in hand.
    const std::size_t fromInput = !inHand && _bodyMode == BodyMode::Length
                                      ? static_cast<std::size_t>(std::min<std::uint64_t>(_bodyRemaining, _in.size()))
                                      : 0;
    if (_formScan && inHand) {
        if (!ex().requestBody && _spool && !scanSpooledBody()) {
            return false;
        }
        _formScan->feed(ex().requestBody ? *ex().requestBody : io().requestBody);
        _formScan->finish();
    } else if (_formScan && _chunkedPrefix) {
        _formScan->feed(io().requestBody);  // the rest, if any, is looked at chunk by chunk
        if (_bodyEnded) {
            _formScan->finish();
        }
    } else if (_formScan && _bodyMode == BodyMode::Length) {
        _formScan->feed(std::string_view(_in.data(), fromInput));
        _formScan->feed(early);
        if (fromInput + early.size() == _bodyRemaining) {
            _formScan->finish();
        }
    }
    const bool overrides = _formScan && _formScan->overrides();
    if (inHand || overrides || !refusal.empty()) {
        _formScan.reset();  // nothing more to look at
    }
    if (!overrides && refusal.empty()) {
        return true;
    }
    if (!inHand && _bodyMode == BodyMode::Length) {
        _in.consume(fromInput);
        countBody(fromInput + early.size());
    }
    refuseFormBody(refusal.empty() ? kFormOverrideRefused : refusal);
    return false;
}

// A POST body that would be refused for what its head says alone (a coded form or JSON body, a
// Content-Type parsers read differently) is refused before a 100 Continue asks for it, and
// before any of it is read or buffered.
bool HttpConnection::refusedByFormHead()
{
    if (_bodyMode == BodyMode::None || ex().method != "POST" || methodOverride() == MethodOverride::Forward) {
        return false;
    }
    const std::string_view refusal = chooseFormScan();
    if (refusal.empty()) {
        _formScanChosen = true;  // kept for startFormScan()
        return false;
    }
    _formScan.reset();
    takeBodyInHand();  // a short body already here is read, so that the connection may stay open
    refuseFormBody(refusal);
    return true;
}

void HttpConnection::refuseFormBody(std::string_view refusal)
{
    if (refusal == kEncodedFormRefused) {
        respondLocal(415, kUnsupportedMediaType, "Unsupported Media Type", refusal, !_bodyEnded);
    } else {
        respondLocal(400, kBadRequest, "Bad Request", refusal, !_bodyEnded);
    }
}

// Sets _formScan for a POST body by its Content-Type (none when it is no form), or returns why
// such a body is refused unread: Content-Type fields that differ (parsers take the first, the
// last, or both joined), a multipart boundary parsers may read differently, or a charset in
// which `_method` could hide.
std::string_view HttpConnection::chooseFormScan()
{
    const std::optional<std::string_view> type = ex().requestHeaders.get("content-type");
    for (std::size_t i = 1; type; ++i) {
        const auto another = ex().requestHeaders.get("content-type", i);
        if (!another) {
            break;
        }
        if (*another != *type) {
            return kFormTypeRefused;
        }
    }
    if (type && std::any_of(type->begin(), type->end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
        // No media type or parameter name has such bytes (RFC 9110 §8.3.1), and servers that
        // trim values as Latin-1 (waitress, Tornado) read "...-urlencoded\x85; charset=utf-8" as a
        // form, which the scan here would not.
        return kFormTypeRefused;
    }
    if (!type || type->find_first_not_of(" \t") == std::string_view::npos) {
        // Rack reads a POST body without a media type as a form.
        _formScan = std::make_unique<http::FormMethodScanner>(ex().method);
        return contentCoded() ? kEncodedFormRefused : std::string_view();
    }
    if (http::JsonMethodScanner::isJsonContentType(*type) &&
        (http::FormMethodScanner::isFormContentType(*type) || http::MultipartMethodScanner::isMultipart(*type))) {
        return kFormOrJsonRefused;  // Rack and PHP would read a form, Laravel JSON
    }
    _formScan = http::BodyMethodScanner::forContentType(*type, ex().method);
    if (_formScan != nullptr && !http::BodyMethodScanner::asciiCompatibleCharset(*type)) {
        return kFormCharsetRefused;
    }
    if (_formScan == nullptr && http::MultipartMethodScanner::isMultipart(*type) &&
        !http::MultipartMethodScanner::boundaryOf(*type)) {
        return kFormTypeRefused;
    }
    if (_formScan != nullptr && contentCoded()) {
        return kEncodedFormRefused;
    }
    return {};
}

// The body has a content coding other than identity: Express (body-parser) inflates gzip and
// deflate before it reads a form or JSON, so `_method` could hide in compressed bytes.
bool HttpConnection::contentCoded()
{
    for (std::size_t i = 0;; ++i) {
        const auto coding = ex().requestHeaders.get("content-encoding", i);
        if (!coding) {
            return false;
        }
        if (sdk::namesContentCoding(*coding)) {
            return true;
        }
    }
}

// `bytes` (possibly none) are about to go to the backend; _bodyEnded says whether they end the
// body. Returns false when they complete a method override, and the request was refused.
bool HttpConnection::formBodyAllowed(std::string_view bytes)
{
    if (!_formScan) {
        return true;
    }
    _formScan->feed(bytes);
    if (_bodyEnded) {
        _formScan->finish();
    }
    if (!_formScan->overrides()) {
        return true;
    }
    refuseFormOverride();
    return false;
}

void HttpConnection::refuseFormOverride()
{
    _formScan.reset();
    // The backend has the head and part of the body, never all of it: closing leaves it a
    // request it cannot complete.
    if (_upstream != nullptr) {
        _upstream->abort();
        _upstream = nullptr;
    }
    if (_awaitingBody) {
        // The backend answered before the body ended, and that answer is the client's: it goes
        // out whole, then the connection ends (the rest of the body cannot be told from a
        // request), as when the backend stops taking the body after an early answer.
        _awaitingBody = false;
        _keepAlive = false;
        finishExchange();
        return;
    }
    if (!retractResponse()) {
        closeNow();
    } else {
        respondLocal(400, kBadRequest, "Bad Request", kFormOverrideRefused, true);
    }
}

}  // namespace sluice::runtime::transport
