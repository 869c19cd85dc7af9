// sluice.json and apis/*.json: every mistake of every file is reported at once, with the file and
// the JSON pointer; ${env:NAME} is substituted in string values.
#include "sluice/runtime/Config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <Poco/JSON/Object.h>
#include <doctest/doctest.h>

#include "sluice/runtime/EmbeddedSchemas.h"
#include "sluice/runtime/Json.h"
#include "support/TempDir.h"
#include "support/TestPaths.h"

using namespace sluice::runtime;
using sluice::test::TempDir;

namespace {

const char* const kGateway = R"({
  "listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}]
})";

std::string api(const std::string& name, const std::string& context, const std::string& version,
                const std::string& url = "http://127.0.0.1:9")
{
    return R"({"name": ")" + name + R"(", "context": ")" + context + R"(", "version": ")" + version +
           R"(", "endpoints": [{"url": ")" + url + R"("}], "resources": [{"uri_template": "/", "methods": ["GET"]}]})";
}

const ConfigError* find(const ConfigLoadResult& r, const std::string& file, const std::string& pointer)
{
    for (const auto& e : r.errors) {
        if (e.file == file && e.pointer == pointer) {
            return &e;
        }
    }
    return nullptr;
}

std::string all(const ConfigLoadResult& r)
{
    std::string out;
    for (const auto& e : r.errors) {
        out += e.str() + "\n";
    }
    return out;
}

}  // namespace

TEST_CASE("ConfigLoader: a valid configuration loads with its APIs and resolved paths")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", R"({
      "workers": 2,
      "listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}],
      "plugins": {"directories": ["plugins", "/abs/plugins"]},
      "handlers": [{"component": "correlation_id", "name": "cid", "config": {"header": "X-Id"}}],
      "logging": {"level": "debug", "levels": {"loader": "warn"}}
    })");
    dir.write("apis/b.json", api("Beta", "/beta", "v2"));
    dir.write("apis/a.json", api("Alpha", "/alpha", "v1"));
    dir.write("apis/notes.txt", "not an API");

    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(all(r));
    REQUIRE(r.errors.empty());
    REQUIRE(r.config.has_value());
    const GatewayConfig& c = *r.config;
    CHECK(c.file == config);
    CHECK(c.workers == 2);
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].host == "127.0.0.1");
    CHECK(c.pluginDirectories == std::vector<std::string>{dir.file("plugins"), "/abs/plugins"});
    CHECK(c.apisDirectory == dir.file("apis"));
    REQUIRE(c.handlers.size() == 1);
    CHECK(c.handlers[0].component == "correlation_id");
    CHECK(c.handlers[0].name == "cid");
    CHECK(c.handlers[0].pointer == "/handlers/0");
    CHECK(c.handlers[0].file == config);
    CHECK(c.logging.level == "debug");
    CHECK(c.logging.levels.at("loader") == "warn");
    REQUIRE(c.apis.size() == 2);
    CHECK(c.apis[0].name == "Alpha");  // files in name order
    CHECK(c.apis[1].name == "Beta");
    CHECK(c.apis[0].file == dir.file("apis/a.json"));
}

TEST_CASE("ConfigLoader: http.method_override is reject unless set to strip or forward and nothing else is accepted")
{
    TempDir dir;
    dir.write("apis/a.json", api("Alpha", "/alpha", "v1"));
    const std::string plain = dir.write("plain.json", kGateway);
    ConfigLoadResult defaults = ConfigLoader::load(plain);
    REQUIRE(defaults.config.has_value());
    CHECK(defaults.config->http.methodOverride == MethodOverride::Reject);
    for (const auto& [text, mode] :
         {std::pair{"strip", MethodOverride::Strip}, std::pair{"forward", MethodOverride::Forward},
          std::pair{"reject", MethodOverride::Reject}}) {
        CAPTURE(text);
        const std::string file =
            dir.write(std::string(text) + ".json",
                      std::string(R"({"listeners": [{"name": "http", "port": 0}], "http": {"method_override": ")") +
                          text + R"("}})");
        ConfigLoadResult r = ConfigLoader::load(file);
        REQUIRE(r.config.has_value());
        CHECK(r.config->http.methodOverride == mode);
    }
    const std::string bad =
        dir.write("bad.json", R"({"listeners": [{"name": "http", "port": 0}], "http": {"method_override": "allow"}})");
    ConfigLoadResult r = ConfigLoader::load(bad);
    CHECK_FALSE(r.config.has_value());
    INFO(all(r));
    CHECK(find(r, bad, "/http/method_override") != nullptr);
}

TEST_CASE("ConfigLoader: http.connection_balance is exact unless set to kernel and nothing else is accepted")
{
    TempDir dir;
    dir.write("apis/a.json", api("Alpha", "/alpha", "v1"));
    ConfigLoadResult defaults = ConfigLoader::load(dir.write("plain.json", kGateway));
    REQUIRE(defaults.config.has_value());
    CHECK(defaults.config->http.connectionBalance == ConnectionBalance::Exact);
    for (const auto& [text, mode] :
         {std::pair{"kernel", ConnectionBalance::Kernel}, std::pair{"exact", ConnectionBalance::Exact}}) {
        CAPTURE(text);
        const std::string file =
            dir.write(std::string(text) + ".json",
                      std::string(R"({"listeners": [{"name": "http", "port": 0}], "http": {"connection_balance": ")") +
                          text + R"("}})");
        ConfigLoadResult r = ConfigLoader::load(file);
        REQUIRE(r.config.has_value());
        CHECK(r.config->http.connectionBalance == mode);
    }
    const std::string bad = dir.write(
        "bad.json", R"({"listeners": [{"name": "http", "port": 0}], "http": {"connection_balance": "random"}})");
    ConfigLoadResult r = ConfigLoader::load(bad);
    CHECK_FALSE(r.config.has_value());
    INFO(all(r));
    CHECK(find(r, bad, "/http/connection_balance") != nullptr);
}

TEST_CASE("ConfigLoader: an API's own method_override, and only the three values")
{
    TempDir dir;
    std::string forward = api("Forward", "/forward", "v1");
    forward.insert(forward.find('{') + 1, R"("method_override": "forward", )");
    dir.write("apis/a.json", forward);
    dir.write("apis/b.json", api("Plain", "/plain", "v1"));
    const std::string gateway = dir.write("gateway.json", kGateway);
    ConfigLoadResult r = ConfigLoader::load(gateway);
    REQUIRE_MESSAGE(r.config.has_value(), all(r));
    REQUIRE(r.config->apis.size() == 2);
    for (const auto& a : r.config->apis) {
        CAPTURE(a.name);
        if (a.name == "Forward") {
            CHECK(a.methodOverride == MethodOverride::Forward);
        } else {
            CHECK_FALSE(a.methodOverride.has_value());
        }
    }
    std::string bad = api("Bad", "/bad", "v1");
    bad.insert(bad.find('{') + 1, R"("method_override": "allow", )");
    const std::string badFile = dir.write("apis/c.json", bad);
    ConfigLoadResult refused = ConfigLoader::load(gateway);
    INFO(all(refused));
    REQUIRE(refused.errors.size() == 1);  // the configuration comes back with the valid APIs
    CHECK(find(refused, badFile, "/method_override") != nullptr);
}

TEST_CASE("ConfigLoader: three independent mistakes in three files are all reported with file and pointer")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", R"({
      "workers": "four",
      "listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}]
    })");
    const std::string a = dir.write("apis/a.json", R"({"name": "A", "context": "/a", "version": 1,
        "endpoints": [{"url": "http://127.0.0.1:9"}], "resources": [{"uri_template": "/", "methods": ["GET"]}]})");
    const std::string b = dir.write("apis/b.json", api("B", "/b", "v1", "ftp://127.0.0.1/x"));

    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(all(r));
    CHECK_FALSE(r.config.has_value());
    CHECK(r.errors.size() == 3);  // one per mistake: no echoes of enclosing levels
    const ConfigError* workers = find(r, config, "/workers");
    const ConfigError* version = find(r, a, "/version");
    const ConfigError* url = find(r, b, "/endpoints/0/url");
    REQUIRE(workers != nullptr);
    REQUIRE(version != nullptr);
    REQUIRE(url != nullptr);
    CHECK(workers->message.find("type") != std::string::npos);
    CHECK(version->message.find("type") != std::string::npos);
    CHECK(url->message.find("pattern") != std::string::npos);
    CHECK(url->str() == b + ": /endpoints/0/url: " + url->message);
}

TEST_CASE("ConfigLoader: a file that is not JSON is reported while the others are still checked")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", kGateway);
    const std::string broken = dir.write("apis/a.json", R"({"name": "A", "context": )");
    const std::string wrong = dir.write("apis/b.json", api("B", "b-without-slash", "v1"));
    dir.write("apis/c.json", api("C", "/c", "v1"));

    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(all(r));
    REQUIRE(r.errors.size() == 2);
    // sluice.json itself is valid: its configuration comes back, with only the valid APIs, for
    // the plugin checks that follow; success is still "no errors".
    REQUIRE(r.config.has_value());
    REQUIRE(r.config->apis.size() == 1);
    CHECK(r.config->apis[0].name == "C");
    const ConfigError* json = find(r, broken, "");
    REQUIRE(json != nullptr);
    CHECK(json->message.rfind("not valid JSON: line 1, column 26: ", 0) == 0);
    CHECK(json->str().rfind(broken + ": not valid JSON", 0) == 0);
    CHECK(find(r, wrong, "/context") != nullptr);
}

namespace {

// The JSON pointers of integer properties without a maximum, anywhere in `node`.
void unboundedIntegers(const Poco::Dynamic::Var& node, const std::string& pointer, std::vector<std::string>& out)
{
    if (node.type() == typeid(Poco::JSON::Object::Ptr)) {
        const auto object = node.extract<Poco::JSON::Object::Ptr>();
        if (object->has("type") && object->get("type").isString() &&
            object->getValue<std::string>("type") == "integer" && !object->has("maximum")) {
            out.push_back(pointer);
        }
        for (const auto& key : object->getNames()) {
            unboundedIntegers(object->get(key), pointer + "/" + key, out);
        }
    } else if (node.type() == typeid(Poco::JSON::Array::Ptr)) {
        const auto array = node.extract<Poco::JSON::Array::Ptr>();
        for (unsigned i = 0; i < array->size(); ++i) {
            unboundedIntegers(array->get(i), pointer + "/" + std::to_string(i), out);
        }
    }
}

}  // namespace

// A value the C++ field cannot hold must be a schema error with its pointer: beyond the range of
// int, reading it threw out of the loader (--check-config and start-up aborted).
TEST_CASE("ConfigLoader: every integer in the schemas has a maximum, so a huge value is a clean error")
{
    for (const std::string_view text : {gatewaySchemaText(), apiSchemaText()}) {
        std::string error;
        const auto schema = parseJson(std::string(text), error);
        REQUIRE_MESSAGE(schema, error);
        std::vector<std::string> unbounded;
        unboundedIntegers(*schema, "", unbounded);
        CHECK_MESSAGE(unbounded.empty(), "no maximum at: " << unbounded.front());
    }
    TempDir dir;
    const std::string config = dir.write("sluice.json", R"({
      "listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}],
      "http": {"body_timeout_ms": 99999999999}
    })");
    const std::string file = dir.write("apis/a.json", R"({"name": "A", "context": "/a", "version": "v1",
        "endpoints": [{"url": "http://127.0.0.1:9"}], "timeouts": {"read_ms": 2147483648},
        "resources": [{"uri_template": "/", "methods": ["GET"]}]})");
    ConfigLoadResult r;
    REQUIRE_NOTHROW(r = ConfigLoader::load(config));
    INFO(all(r));
    CHECK(find(r, config, "/http/body_timeout_ms") != nullptr);
    CHECK(find(r, file, "/timeouts/read_ms") != nullptr);
    // Beyond int64 the validator cannot read the number at all: named as out of range.
    // The rest of the file is still checked, so that every error shows at once.
    dir.write("sluice.json", R"({"listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}],
      "http": {"max_body_bytes": 18446744073709551615, "header_timeout_ms": -1, "no_such": 1}})");
    REQUIRE_NOTHROW(r = ConfigLoader::load(config));
    const ConfigError* huge = find(r, config, "/http/max_body_bytes");
    REQUIRE(huge != nullptr);
    CHECK(huge->message == "number out of range");
    CHECK(find(r, config, "/http/header_timeout_ms") != nullptr);
    CHECK(std::count_if(r.errors.begin(), r.errors.end(),
                        [](const ConfigError& e) { return e.pointer == "/http/max_body_bytes"; }) == 1);
    CHECK(std::any_of(r.errors.begin(), r.errors.end(),
                      [](const ConfigError& e) { return e.message.find("no_such") != std::string::npos; }));
}

TEST_CASE("ConfigLoader: listeners need names and addresses of their own, and the admin endpoint a port of its own")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", R"({
      "listeners": [{"name": "a", "host": "127.0.0.1", "port": 8080},
                    {"name": "a", "host": "127.0.0.2", "port": 8081},
                    {"name": "b", "host": "127.0.0.1", "port": 8080},
                    {"name": "c", "host": "0.0.0.0", "port": 8081},
                    {"name": "d", "host": "127.0.0.1", "port": 8082},
                    {"name": "e", "host": "127.0.0.1", "port": 0},
                    {"name": "f", "host": "127.0.0.1", "port": 0}],
      "admin": {"host": "127.0.0.1", "port": 8082}
    })");
    dir.write("apis/a.json", api("A", "/a", "v1"));
    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(all(r));
    CHECK(r.errors.size() == 4);
    const ConfigError* name = find(r, config, "/listeners/1/name");
    REQUIRE(name != nullptr);
    CHECK(name->message == "listener name 'a' is already /listeners/0's");
    const ConfigError* port = find(r, config, "/listeners/2/port");
    REQUIRE(port != nullptr);
    CHECK(port->message == "port 8080 on 127.0.0.1 is already listener 'a''s (127.0.0.1)");
    CHECK(find(r, config, "/listeners/3/port") != nullptr);  // 0.0.0.0 takes 127.0.0.2's connections too
    const ConfigError* admin = find(r, config, "/admin/port");
    REQUIRE(admin != nullptr);
    CHECK(admin->message == "port 8082 is listener 'd''s: the admin endpoint needs a port of its own");
}

TEST_CASE("ConfigLoader: a level for a logger that does not exist is an error")
{
    TempDir dir;
    dir.write("apis/a.json", api("A", "/a", "v1"));
    const std::string config = dir.write("sluice.json", R"({
      "listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}],
      "logging": {"levels": {"runtime": "info", "admin": "warn", "plugin": "warn", "plugin.auth": "debug", "upstreams": "debug", "": "info"}}
    })");
    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(all(r));
    REQUIRE(r.errors.size() == 2);
    CHECK(r.errors[0].pointer == "/logging/levels/upstreams");
    CHECK(r.errors[0].message ==
          "no logger is named 'upstreams' (runtime, loader, pipeline, transport, upstream, tls, admin, analytics, "
          "plugin or plugin.<instance>)");
    CHECK(r.errors[1].pointer == "/logging/levels/");
}

TEST_CASE("ConfigLoader: one name and version is one API, whatever their contexts")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", kGateway);
    dir.write("apis/a.json", api("Pets", "/pets", "v1"));
    const std::string second = dir.write("apis/b.json", api("Pets", "/animals", "v1"));
    dir.write("apis/c.json", api("Pets", "/pets", "v2"));
    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(all(r));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].file == second);
    CHECK(r.errors[0].pointer == "/name");
    CHECK(r.errors[0].message.find("API 'Pets' version 'v1' is already defined in ") == 0);
}

// Poco's message has no position; the gateway finds where the text goes wrong.
TEST_CASE("a JSON syntax error is reported with its line and column")
{
    auto where = [](const std::string& text) {
        std::string error;
        CHECK_FALSE(parseJson(text, error).has_value());
        return error.substr(0, error.find(": "));
    };
    CHECK(where("{\n  \"a\": 1\n  \"b\": 2\n}") == "line 3, column 3");  // a missing comma
    CHECK(where("{\"\xc3\xa9\": tru}") == "line 1, column 10");          // columns count characters
    CHECK(where("[1, 2,]") == "line 1, column 7");
    CHECK(where("{\"a\": 01}") == "line 1, column 8");
    CHECK(where("{\"a\": \"x\\q\"}") == "line 1, column 10");
    CHECK(where("{\"a\": \"\\u12g4\"}") == "line 1, column 12");
    CHECK(where("{\"a\": 1} x") == "line 1, column 10");
    CHECK(where("\r\n\r\n  [") == "line 3, column 4");            // ends too soon: just past the end
    CHECK(where(std::string(600, '[')) == "line 1, column 513");  // nesting beyond 512
    // Where the scan knows the reason better than the parser's message.
    auto message = [](const std::string& text) {
        std::string error;
        CHECK_FALSE(parseJson(text, error).has_value());
        return error;
    };
    CHECK(message("\xEF\xBB\xBF{}").rfind("line 1, column 1: a byte order mark", 0) == 0);
    CHECK(message("{\"x\": \"a\xFF"
                  "b\"}") == "line 1, column 9: invalid UTF-8");
    CHECK(message("{\"x\": \"\xC0\xAF\"}") == "line 1, column 8: invalid UTF-8");      // overlong '/'
    CHECK(message("{\"x\": \"\xED\xA0\x80\"}") == "line 1, column 9: invalid UTF-8");  // a surrogate
    // A member named twice: Poco keeps the last value, so one setting would vanish unseen.
    CHECK(message("{\n  \"workers\": 3,\n  \"workers\": 1\n}") == "line 3, column 3: duplicate member \"workers\"");
    CHECK(message("{\"a\": {\"x\": 1, \"x\": 2}}") == "line 1, column 16: duplicate member \"x\"");
    std::string error;
    CHECK(parseJson("{\"x\": 1, \"a\": {\"x\": 2}, \"b\": [{\"x\": 3}, {\"x\": 4}]}", error).has_value());
    CHECK(parseJson("{\"a\": [1, {\"b\": null}], \"c\": -1.5e3}", error).has_value());
    CHECK(parseJson("{\"caf\xC3\xA9\": \"\xE2\x82\xAC \xF0\x9F\x98\x80\"}", error).has_value());
}

TEST_CASE("ConfigLoader: a configuration path that is a directory says so, without a second error about APIs")
{
    TempDir dir;
    ConfigLoadResult r = ConfigLoader::load(dir.path());
    INFO(all(r));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].message == "a directory, not a file");
}

TEST_CASE("ConfigLoader: a broken sluice.json does not hide the mistakes of the API files")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", "{ this is not json");
    const std::string a = dir.write("apis/a.json", api("A", "/a", "v1", "not-a-url"));
    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(all(r));
    REQUIRE(r.errors.size() == 2);
    CHECK(find(r, config, "") != nullptr);
    CHECK(find(r, a, "/endpoints/0/url") != nullptr);
}

TEST_CASE("ConfigLoader: an API file is named by its absolute path, whether sluice.json is valid or not")
{
    // The configuration given by a relative path, as `--config conf/sluice.json` is.
    TempDir dir;
    const std::string config = dir.write("sluice.json", "{ this is not json");
    const std::string a = dir.write("apis/a.json", api("A", "/a", "v1", "not-a-url"));
    const std::string relative = std::filesystem::relative(config).string();
    REQUIRE(relative.front() != '/');
    ConfigLoadResult broken = ConfigLoader::load(relative);
    INFO(all(broken));
    CHECK(find(broken, relative, "") != nullptr);
    CHECK(find(broken, a, "/endpoints/0/url") != nullptr);

    dir.write("sluice.json", R"({"listeners": [{"name": "l", "host": "127.0.0.1", "port": 0}]})");
    ConfigLoadResult valid = ConfigLoader::load(relative);
    INFO(all(valid));
    CHECK(find(valid, a, "/endpoints/0/url") != nullptr);
}

TEST_CASE("ConfigLoader: unreadable files and a missing APIs directory are errors")
{
    TempDir dir;
    // Without sluice.json the APIs are not looked for where there are none: one error.
    ConfigLoadResult missing = ConfigLoader::load(dir.file("absent.json"));
    REQUIRE(missing.errors.size() == 1);
    CHECK(missing.errors[0].file == dir.file("absent.json"));
    CHECK(missing.errors[0].message.find("cannot open") != std::string::npos);
    // With it, a missing APIs directory is a mistake of its own.
    const std::string config = dir.write("sluice.json", kGateway);
    ConfigLoadResult noApis = ConfigLoader::load(config);
    REQUIRE(noApis.errors.size() == 1);
    CHECK(noApis.errors[0].file == dir.file("apis"));
    CHECK(noApis.errors[0].message == "APIs directory does not exist");
}

TEST_CASE(
    "ConfigLoader: a dangling link or a directory named *.json in the APIs directory is an error, a hidden name is "
    "skipped")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", kGateway);
    dir.write("apis/a.json", api("First", "/pets", "v1"));
    const std::string target = dir.write("elsewhere/b.json", api("Second", "/shop", "v1"));
    const std::string link = dir.file("apis/b.json");
    REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
    ConfigLoadResult linked = ConfigLoader::load(config);
    INFO(all(linked));
    CHECK(linked.errors.empty());
    REQUIRE(linked.config);
    CHECK(linked.config->apis.size() == 2);  // a link to a file is read

    REQUIRE(::rename(target.c_str(), (target + ".moved").c_str()) == 0);
    REQUIRE(::mkdir(dir.file("apis/c.json").c_str(), 0755) == 0);
    REQUIRE(::symlink(dir.file("apis").c_str(), dir.file("apis/d.json").c_str()) == 0);  // to a directory
    REQUIRE(::symlink("nowhere", dir.file("apis/.#a.json").c_str()) == 0);               // an editor's lock
    ConfigLoadResult broken = ConfigLoader::load(config);
    INFO(all(broken));
    REQUIRE(broken.errors.size() == 3);
    CHECK(broken.errors[0].file == link);
    CHECK(broken.errors[0].message == "a symbolic link to a file that does not exist");
    CHECK(broken.errors[1].file == dir.file("apis/c.json"));
    CHECK(broken.errors[1].message == "not a regular file");
    CHECK(broken.errors[2].file == dir.file("apis/d.json"));
    CHECK(broken.errors[2].message == "not a regular file");
}

TEST_CASE("ConfigLoader: the same context and version in two files is a duplicate")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", kGateway);
    const std::string first = dir.write("apis/a.json", api("First", "/pets", "v1"));
    const std::string second = dir.write("apis/b.json", api("Second", "/pets", "v1"));
    dir.write("apis/c.json", api("Third", "/pets", "v2"));  // other version: fine

    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(all(r));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].file == second);
    CHECK(r.errors[0].pointer == "/context");
    CHECK(r.errors[0].message.find("already defined in " + first) != std::string::npos);
}

TEST_CASE("ConfigLoader: two default versions of one context are a duplicate")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", kGateway);
    auto withDefault = [](std::string text) { return text.insert(1, R"("default_version": true, )"); };
    const std::string first = dir.write("apis/a.json", withDefault(api("First", "/pets", "v1")));
    const std::string second = dir.write("apis/b.json", withDefault(api("Second", "/pets", "v2")));
    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(all(r));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].file == second);
    CHECK(r.errors[0].pointer == "/default_version");
    CHECK(r.errors[0].message.find(first) != std::string::npos);
}

TEST_CASE("ConfigLoader: APIs the router would reach by the same path are duplicates, however they are written")
{
    // The router compares canonical, decoded segments: each pair below would leave one API
    // unreachable (which one would depend on file order).
    struct Pair {
        std::string first;
        std::string second;
        std::string pointer;
    };
    auto withDefault = [](std::string text) { return text.insert(1, R"("default_version": true, )"); };
    const std::vector<Pair> pairs{
        {api("A", "/enc", "v1"), api("B", "/%65nc", "v1"), "/context"},
        {api("A", "/shop", "v1"), api("B", "/shop/", "v1"), "/context"},
        {api("A", "/a:b", "v1"), api("B", "/a%3Ab", "v1"), "/context"},
        {api("A", "/x", "v1"), withDefault(api("B", "/x/v1", "v9")), "/default_version"},
        {withDefault(api("A", "/d", "v1")), withDefault(api("B", "/d/", "v2")), "/default_version"},
    };
    for (const Pair& pair : pairs) {
        CAPTURE(pair.second);
        TempDir dir;
        const std::string config = dir.write("sluice.json", kGateway);
        const std::string first = dir.write("apis/a.json", pair.first);
        const std::string second = dir.write("apis/b.json", pair.second);
        ConfigLoadResult r = ConfigLoader::load(config);
        INFO(all(r));
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].file == second);
        CHECK(r.errors[0].pointer == pair.pointer);
        CHECK(r.errors[0].message.find(first) != std::string::npos);
    }
    // Prefixes of each other are not the same path: the longer one wins where it applies.
    TempDir dir;
    const std::string config = dir.write("sluice.json", kGateway);
    dir.write("apis/a.json", withDefault(api("A", "/shop", "v1")));
    dir.write("apis/b.json", api("B", "/shop-admin", "v1"));
    dir.write("apis/c.json", withDefault(api("C", "/shop/v2", "v1")));
    ConfigLoadResult fine = ConfigLoader::load(config);
    INFO(all(fine));
    CHECK(fine.errors.empty());
}

TEST_CASE("ConfigLoader: env substitution fills string values before validation")
{
    ::setenv("SLUICE_TEST_BACKEND", "http://127.0.0.1:9", 1);
    ::setenv("SLUICE_TEST_HOST", "127.0.0.1", 1);
    TempDir dir;
    const std::string config = dir.write("sluice.json", R"({
      "listeners": [{"name": "http", "host": "${env:SLUICE_TEST_HOST}", "port": 0}]
    })");
    std::string text = api("Pets", "/pets", "v1", "${env:SLUICE_TEST_BACKEND}/base");
    text.replace(text.find(R"("}])"), 3, R"(", "group": "$${env:SLUICE_TEST_BACKEND}"}])");
    dir.write("apis/pets.json", text);

    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(all(r));
    REQUIRE(r.config.has_value());
    CHECK(r.config->listeners[0].host == "127.0.0.1");
    REQUIRE(r.config->apis.size() == 1);
    CHECK(r.config->apis[0].endpoints[0].url == "http://127.0.0.1:9/base");
    CHECK(r.config->apis[0].endpoints[0].group == "${env:SLUICE_TEST_BACKEND}");  // $${ escapes
}

TEST_CASE("ConfigLoader: a reference to an unset environment variable is an error at its pointer")
{
    ::unsetenv("SLUICE_TEST_SURELY_UNSET");
    TempDir dir;
    const std::string config = dir.write("sluice.json", R"({
      "listeners": [{"name": "http", "host": "${env:SLUICE_TEST_SURELY_UNSET}", "port": 0}]
    })");
    dir.write("apis/pets.json", api("Pets", "/pets", "v1"));
    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(all(r));
    CHECK_FALSE(r.config.has_value());
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].file == config);
    CHECK(r.errors[0].pointer == "/listeners/0/host");
    CHECK(r.errors[0].message.find("'SLUICE_TEST_SURELY_UNSET' is not set") != std::string::npos);
}

TEST_CASE("ConfigLoader: substituteEnvironment works on nested values and leaves other text alone")
{
    ::setenv("SLUICE_TEST_A", "alpha", 1);
    ::unsetenv("SLUICE_TEST_UNSET_B");
    std::string error;
    auto doc =
        parseJson(R"({"x": ["${env:SLUICE_TEST_A}-${env:SLUICE_TEST_A}", "$${env:SLUICE_TEST_A}", "$5 ${unclosed",
        "${other:x}", 7], "y": {"a/b": "${env:SLUICE_TEST_UNSET_B}"}})",
                  error);
    REQUIRE(doc.has_value());
    std::vector<ConfigError> errors;
    substituteEnvironment(*doc, "f.json", errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].file == "f.json");
    CHECK(errors[0].pointer == "/y/a~1b");
    CHECK(errors[0].message.find("SLUICE_TEST_UNSET_B") != std::string::npos);
    CHECK(toJson(doc->extract<Poco::JSON::Object::Ptr>()->get("x")) ==
          R"(["alpha-alpha","${env:SLUICE_TEST_A}","$5 ${unclosed","${other:x}",7])");

    // A reference without its '}' is an error too: passed on as written, the variable's name
    // would reach a backend or a log in place of its value.
    auto open = parseJson(R"({"h": {"X-Key": "${env:SLUICE_TEST_A"}})", error);
    REQUIRE(open.has_value());
    errors.clear();
    substituteEnvironment(*open, "f.json", errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].pointer == "/h/X-Key");
    CHECK(errors[0].message == "'${env:' without its closing '}' (write $${ for a literal ${)");
}

TEST_CASE("ConfigLoader: the shipped conf/ passes")
{
    ConfigLoadResult r = ConfigLoader::load(sluice::test::sourceDir() + "/conf/sluice.json");
    INFO(all(r));
    CHECK(r.errors.empty());
    REQUIRE(r.config.has_value());
    CHECK_FALSE(r.config->apis.empty());
}
