#pragma once

#include <functional>
#include <memory>
#include <string>

namespace Poco::Net {
class HTTPServer;
}

namespace sluice::runtime {

// The local admin endpoint (sluice.json "admin": {"host": "127.0.0.1", "port": 9901}):
//   GET  /status  the running configuration's summary (JSON)
//   POST /reload  builds and swaps a new configuration snapshot, like SIGHUP, and answers with
//                 the result: 200 {"reloaded": true, ...} or 422 {"reloaded": false, "errors": [...]}
// It has no authentication: bind it to loopback (the default) or a management network only.
class AdminServer {
public:
    struct Hooks {
        std::function<std::string()> status;                     // JSON object
        std::function<std::pair<bool, std::string>()> reload;   // ok, JSON object
    };

    AdminServer(const std::string& host, int port, Hooks hooks);
    ~AdminServer();

    int port() const noexcept { return _port; }

private:
    std::unique_ptr<Poco::Net::HTTPServer> _server;
    int _port = 0;
};

}  // namespace sluice::runtime
