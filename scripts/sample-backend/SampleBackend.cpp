// A small sample backend for the quickstart and the integration tests: an in-memory pet store
// plus an /echo resource that reflects what the gateway sent. Not part of the gateway.
//
//   sluice-sample-backend [--host 127.0.0.1] [--port 8281]
//     prints "listening on HOST:PORT" once it accepts connections (port 0 picks a free one).

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <csignal>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

namespace {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

struct PetStore {
    std::mutex mutex;
    std::map<int, std::string> pets{{1, "Rex"}, {2, "Tom"}};
    int next = 3;
};

PetStore& store()
{
    static PetStore s;
    return s;
}

void sendJson(HTTPServerResponse& res, HTTPResponse::HTTPStatus status, const Poco::Dynamic::Var& body)
{
    std::ostringstream out;
    Poco::JSON::Stringifier::condense(body, out);
    std::string text = out.str();
    res.setStatusAndReason(status);
    res.setContentType("application/json");
    res.setContentLength(static_cast<std::streamsize>(text.size()));
    res.send() << text;
}

Poco::JSON::Object::Ptr pet(int id, const std::string& name)
{
    Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
    o->set("id", id);
    o->set("name", name);
    return o;
}

class Handler final : public Poco::Net::HTTPRequestHandler {
public:
    void handleRequest(HTTPServerRequest& req, HTTPServerResponse& res) override
    {
        std::string body;
        Poco::StreamCopier::copyToString(req.stream(), body);
        std::string uri = req.getURI();
        std::string path = uri.substr(0, uri.find('?'));
        if (path.rfind("/echo", 0) == 0) {
            echo(req, res, body);
        } else if (path == "/pets" || path == "/pets/") {
            pets(req, res, body);
        } else if (path.rfind("/pets/", 0) == 0) {
            onePet(req, res, path.substr(6));
        } else {
            Poco::JSON::Object::Ptr e = new Poco::JSON::Object;
            e->set("error", "no such resource in the sample backend");
            sendJson(res, HTTPResponse::HTTP_NOT_FOUND, e);
        }
    }

private:
    static void echo(HTTPServerRequest& req, HTTPServerResponse& res, const std::string& body)
    {
        Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
        o->set("method", req.getMethod());
        o->set("uri", req.getURI());
        Poco::JSON::Object::Ptr headers = new Poco::JSON::Object;
        for (const auto& [name, value] : req) {
            headers->set(name, value);
        }
        o->set("headers", headers);
        o->set("body_length", static_cast<Poco::UInt64>(body.size()));
        o->set("chunked", req.getChunkedTransferEncoding());
        sendJson(res, HTTPResponse::HTTP_OK, o);
    }

    static void pets(HTTPServerRequest& req, HTTPServerResponse& res, const std::string& body)
    {
        auto& s = store();
        std::lock_guard<std::mutex> lock(s.mutex);
        if (req.getMethod() == "POST") {
            std::string name = "unnamed";
            try {
                Poco::JSON::Parser parser;
                auto obj = parser.parse(body).extract<Poco::JSON::Object::Ptr>();
                name = obj->optValue<std::string>("name", name);
            } catch (const std::exception&) {
                Poco::JSON::Object::Ptr e = new Poco::JSON::Object;
                e->set("error", "expected a JSON object with a name");
                sendJson(res, HTTPResponse::HTTP_BAD_REQUEST, e);
                return;
            }
            int id = s.next++;
            s.pets[id] = name;
            sendJson(res, HTTPResponse::HTTP_CREATED, pet(id, name));
            return;
        }
        Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
        for (const auto& [id, name] : s.pets) {
            list->add(pet(id, name));
        }
        sendJson(res, HTTPResponse::HTTP_OK, list);
    }

    static void onePet(HTTPServerRequest& req, HTTPServerResponse& res, const std::string& idText)
    {
        auto& s = store();
        std::lock_guard<std::mutex> lock(s.mutex);
        int id = 0;
        try {
            id = std::stoi(idText);
        } catch (const std::exception&) {
        }
        auto it = s.pets.find(id);
        if (it == s.pets.end()) {
            Poco::JSON::Object::Ptr e = new Poco::JSON::Object;
            e->set("error", "no pet with id " + idText);
            sendJson(res, HTTPResponse::HTTP_NOT_FOUND, e);
            return;
        }
        if (req.getMethod() == "DELETE") {
            s.pets.erase(it);
            res.setStatusAndReason(HTTPResponse::HTTP_NO_CONTENT);
            res.send();
            return;
        }
        sendJson(res, HTTPResponse::HTTP_OK, pet(it->first, it->second));
    }
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override { return new Handler; }
};

}  // namespace

int main(int argc, char** argv)
{
    std::string host = "127.0.0.1";
    int port = 8281;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i];
        if (flag == "--host") {
            host = argv[i + 1];
        } else if (flag == "--port") {
            port = std::stoi(argv[i + 1]);
        } else {
            std::cerr << "usage: sluice-sample-backend [--host H] [--port P]\n";
            return 2;
        }
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress(host, static_cast<Poco::UInt16>(port)), 256);
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(32);
    params->setKeepAlive(true);
    Poco::Net::HTTPServer server(new Factory, socket, params);
    server.start();
    std::cout << "listening on " << host << ":" << socket.address().port() << std::endl;
    int sig = 0;
    sigwait(&signals, &sig);
    server.stopAll(true);
    return 0;
}
