#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace Poco::Net {
class ServerSocket;
}

namespace sluice::runtime {

// The local admin endpoint (sluice.json "admin": {"host": "127.0.0.1", "port": 9901}):
//   GET  /status  the running configuration's summary (JSON)
//   POST /reload  builds and swaps a new configuration snapshot, like SIGHUP, and answers with
//                 the result: 200 {"reloaded": true, ...} or 422 {"reloaded": false, "errors": [...]}
//                 The reload runs elsewhere: other requests (/status) are answered meanwhile.
// Without admin.token_file it has no authentication: bind it to loopback (the default) or a
// management network only.
// Requests go through the data plane's strict parser; each connection carries one request, which
// must arrive whole within 5 s. One thread serves every connection with poll(), so clients that
// send nothing or trickle hold up nobody; at most 64 connections are open at once, and beyond that
// the oldest one still reading its request is closed, or else the oldest waiting for a reload.
class AdminServer {
public:
    // Called, once, when a reload is over: the status to answer (200 applied, 422 refused, 503 not
    // done for a shutdown) and the JSON object. THREADING: from any thread, also after the
    // server is gone.
    using ReloadDone = std::function<void(int status, std::string json)>;
    struct Hooks {
        std::function<std::string()> status;     // JSON object; runs on the serving thread
        std::function<void(ReloadDone)> reload;  // starts a reload and returns at once
    };

    class Mailbox;  // where finished reloads are posted for the serving thread

    // What the serving thread reads; lives as long as the server and outlives the thread.
    struct Shared {
        Hooks hooks;
        std::string bound;  // the configured host
        int port = 0;
        std::atomic<bool> stopping{false};

        // SHA-256 of the bearer token every request must carry; empty: none. A reload may
        // replace it while the serving thread reads it.
        std::string tokenDigest() const
        {
            std::lock_guard<std::mutex> lock(tokenMutex);
            return digest;
        }
        mutable std::mutex tokenMutex;
        std::string digest;  // guarded by tokenMutex
    };

    // `token`: the bearer token every request must carry (empty: none). Only its digest is kept.
    AdminServer(const std::string& host, int port, Hooks hooks, const std::string& token = {});
    // Reads the token of `path` (admin.token_file): a regular file that group and others may not
    // read, holding at least 16 characters on its first line. Throws with a message that names
    // the file but never shows its content.
    static std::string readTokenFile(const std::string& path);
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    int port() const noexcept { return _shared.port; }
    // Replaces the bearer token (a reload read admin.token_file again); empty: none. True when
    // it changed.
    bool setToken(const std::string& token);

private:
    class Loop;  // the poll() loop and its connections

    Shared _shared;
    std::shared_ptr<Mailbox> _mailbox;  // shared with reloads still running
    std::unique_ptr<Poco::Net::ServerSocket> _socket;
    std::unique_ptr<Loop> _loop;
    std::thread _thread;
};

}  // namespace sluice::runtime
