#include "sluice/runtime/AdminServer.h"

#include <optional>
#include <string>
#include <utility>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>

#include "sluice/runtime/HostApi.h"

namespace sluice::runtime {

namespace {

using Poco::Net::HTTPResponse;

void send(Poco::Net::HTTPServerResponse& res, HTTPResponse::HTTPStatus status, const std::string& json)
{
    res.setStatusAndReason(status);
    res.setContentType("application/json");
    res.setContentLength(static_cast<std::streamsize>(json.size()));
    res.send() << json;
}

// The Host a request to the admin endpoint may name: a loopback name or the address it listens
// on, with or without its port. Anything else is a request a browser was made to send (DNS
// rebinding: a page whose name now resolves to 127.0.0.1).
bool hostAllowed(const std::string& host, const std::string& bound, int port)
{
    const std::string suffix = ":" + std::to_string(port);
    std::string name = host;
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        name.erase(name.size() - suffix.size());
    }
    return name == "127.0.0.1" || name == "localhost" || name == "[::1]" || name == bound ||
           (bound.find(':') != std::string::npos && name == "[" + bound + "]");
}

// Why the request is refused before it is routed, or nothing. The admin endpoint has no
// credentials: it relies on listening on loopback, so it refuses what only a browser steered by
// another site, or a lax parser, would let through.
std::optional<std::pair<HTTPResponse::HTTPStatus, std::string>> refusal(const Poco::Net::HTTPServerRequest& req,
                                                                       const std::string& bound, int port)
{
    const std::string& version = req.getVersion();
    if (version != HTTPResponse::HTTP_1_1 && version != HTTPResponse::HTTP_1_0) {
        return std::make_pair(HTTPResponse::HTTP_VERSION_NOT_SUPPORTED, std::string("HTTP/1.0 or HTTP/1.1 only"));
    }
    if (version == HTTPResponse::HTTP_1_1 && !req.has("Host")) {
        return std::make_pair(HTTPResponse::HTTP_BAD_REQUEST, std::string("Host is missing"));
    }
    if (req.has("Host") && !hostAllowed(req.get("Host"), bound, port)) {
        return std::make_pair(HTTPResponse::HTTP_FORBIDDEN, std::string("Host must name this loopback endpoint"));
    }
    if (req.has("Origin")) {
        return std::make_pair(HTTPResponse::HTTP_FORBIDDEN, std::string("requests from web pages are refused"));
    }
    if (req.has("Transfer-Encoding") || (req.has("Content-Length") && req.get("Content-Length") != "0")) {
        return std::make_pair(HTTPResponse::HTTP_BAD_REQUEST, std::string("admin requests take no body"));
    }
    return std::nullopt;
}

class Handler final : public Poco::Net::HTTPRequestHandler {
public:
    Handler(const AdminServer::Hooks& hooks, const std::string& bound, int port)
        : _hooks(hooks), _bound(bound), _port(port)
    {
    }

    void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& res) override
    {
        if (auto refused = refusal(req, _bound, _port)) {
            res.setKeepAlive(false);
            const int status = static_cast<int>(refused->first);
            send(res, refused->first, errorBody(101000 + status, HTTPResponse::getReasonForStatus(refused->first),
                                                refused->second));
            return;
        }
        const std::string& uri = req.getURI();
        const std::string& method = req.getMethod();
        if (uri == "/status") {
            if (method != "GET") {
                res.set("Allow", "GET");
                send(res, HTTPResponse::HTTP_METHOD_NOT_ALLOWED, errorBody(900907, "Method Not Allowed", "use GET"));
                return;
            }
            send(res, HTTPResponse::HTTP_OK, _hooks.status());
            return;
        }
        if (uri == "/reload") {
            if (method != "POST") {
                res.set("Allow", "POST");
                send(res, HTTPResponse::HTTP_METHOD_NOT_ALLOWED, errorBody(900907, "Method Not Allowed", "use POST"));
                return;
            }
            auto [ok, json] = _hooks.reload();
            send(res, ok ? HTTPResponse::HTTP_OK : HTTPResponse::HTTP_UNPROCESSABLE_ENTITY, json);
            return;
        }
        send(res, HTTPResponse::HTTP_NOT_FOUND, errorBody(900906, "Not Found", "admin resources: /status, /reload"));
    }

private:
    const AdminServer::Hooks& _hooks;
    const std::string& _bound;
    int _port;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    Factory(AdminServer::Hooks hooks, std::string bound, int port)
        : _hooks(std::move(hooks)), _bound(std::move(bound)), _port(port)
    {
    }
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override
    {
        return new Handler(_hooks, _bound, _port);
    }

private:
    AdminServer::Hooks _hooks;
    std::string _bound;
    int _port;
};

}  // namespace

AdminServer::AdminServer(const std::string& host, int port, Hooks hooks)
{
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress(host, static_cast<Poco::UInt16>(port)), 64);
    _port = socket.address().port();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(4);
    params->setMaxQueued(16);
    params->setKeepAlive(false);
    params->setTimeout(Poco::Timespan(5, 0));  // a silent client frees its thread after 5 s, not 60
    _server = std::make_unique<Poco::Net::HTTPServer>(new Factory(std::move(hooks), host, _port), socket, params);
    _server->start();
}

AdminServer::~AdminServer()
{
    _server->stopAll(true);
}

}  // namespace sluice::runtime
