#include "sluice/runtime/AdminServer.h"

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
    res.setStatus(status);
    res.setContentType("application/json");
    res.setContentLength(static_cast<std::streamsize>(json.size()));
    res.send() << json;
}

class Handler final : public Poco::Net::HTTPRequestHandler {
public:
    explicit Handler(const AdminServer::Hooks& hooks) : _hooks(hooks) {}

    void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& res) override
    {
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
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(AdminServer::Hooks hooks) : _hooks(std::move(hooks)) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override
    {
        return new Handler(_hooks);
    }

private:
    AdminServer::Hooks _hooks;
};

}  // namespace

AdminServer::AdminServer(const std::string& host, int port, Hooks hooks)
{
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress(host, static_cast<Poco::UInt16>(port)), 64);
    _port = socket.address().port();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(2);
    params->setMaxQueued(16);
    params->setKeepAlive(false);
    _server = std::make_unique<Poco::Net::HTTPServer>(new Factory(std::move(hooks)), socket, params);
    _server->start();
}

AdminServer::~AdminServer()
{
    _server->stopAll(true);
}

}  // namespace sluice::runtime
