// The file a request_buffering body past request_buffer_bytes is kept in: written and read back
// whole, never visible in its directory, its space freed when it is dropped.
#include "sluice/runtime/transport/BodySpool.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/TempDir.h"

using sluice::runtime::transport::BodySpool;

TEST_CASE("BodySpool: what is appended reads back at any offset, and the file has no name in its directory")
{
    sluice::test::TempDir dir;
    std::string error;
    auto spool = BodySpool::open(dir.path(), error);
    REQUIRE_MESSAGE(spool, error);
    std::string written;
    for (int i = 0; i < 50; ++i) {
        const std::string piece(1000 + i * 37, static_cast<char>('a' + i % 26));
        REQUIRE_MESSAGE(spool->append(piece), spool->writeErrorText());
        written += piece;
    }
    CHECK(spool->size() == written.size());
    CHECK(dir.entryCount() == 0);

    std::string back;
    char block[4096];
    for (std::uint64_t at = 0;;) {
        const std::int64_t n = spool->read(at, block, sizeof block, error);
        REQUIRE(n >= 0);
        if (n == 0) {
            break;
        }
        back.append(block, static_cast<std::size_t>(n));
        at += static_cast<std::uint64_t>(n);
    }
    CHECK(back == written);
    const std::int64_t middle = spool->read(12345, block, 10, error);
    REQUIRE(middle == 10);
    CHECK(std::string(block, 10) == written.substr(12345, 10));
    CHECK(spool->read(written.size(), block, sizeof block, error) == 0);
}

TEST_CASE("BodySpool: the file is private to the process (mode 0600) and two spools are two files")
{
    sluice::test::TempDir dir;
    std::string error;
    auto a = BodySpool::open(dir.path(), error);
    auto b = BodySpool::open(dir.path(), error);
    REQUIRE_MESSAGE(a, error);
    REQUIRE_MESSAGE(b, error);
    REQUIRE(a->append("first"));
    REQUIRE(b->append("second body"));
    CHECK(a->size() == 5);
    CHECK(b->size() == 11);
    char block[16];
    REQUIRE(a->read(0, block, sizeof block, error) == 5);
    CHECK(std::string(block, 5) == "first");

    // The descriptor's file, through /proc (the only way to it): a regular file with mode 0600.
    bool checked = false;
    for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const auto target = std::filesystem::read_symlink(fd.path(), ec);
        if (!ec && target.string().rfind(dir.path() + "/", 0) == 0) {
            struct stat st {};
            REQUIRE(::stat(fd.path().c_str(), &st) == 0);
            CHECK(S_ISREG(st.st_mode));
            CHECK((st.st_mode & 0777) == 0600);
            checked = true;
        }
    }
    CHECK(checked);
}

TEST_CASE("BodySpool: a directory that does not exist is refused with a message naming it")
{
    sluice::test::TempDir dir;
    std::string error;
    auto spool = BodySpool::open(dir.file("missing"), error);
    CHECK_FALSE(spool);
    CHECK(error.find(dir.file("missing")) != std::string::npos);
    CHECK(error.find("No such file or directory") != std::string::npos);
}

TEST_CASE("BodySpool: a write the system refuses is kept as the spool's error, and nothing more is written")
{
    // The file size limit stands in for a full disk (SIGXFSZ ignored, as sluiced does).
    sluice::test::TempDir dir;
    std::string error;
    auto spool = BodySpool::open(dir.path(), error);
    REQUIRE_MESSAGE(spool, error);
    const auto previous = ::signal(SIGXFSZ, SIG_IGN);
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    const rlimit small{4096, saved.rlim_max};
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    const bool first = spool->append(std::string(3000, 'a'));
    const bool second = spool->append(std::string(3000, 'b'));
    const bool third = spool->append("c");
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
    ::signal(SIGXFSZ, previous);
    CHECK(first);
    CHECK_FALSE(second);
    CHECK_FALSE(third);
    CHECK(spool->writeError() == EFBIG);
    CHECK(spool->writeErrorText() == "cannot write a request body to its temporary file: File too large");
    CHECK(spool->size() == 4096);  // the part of the second that fitted, and nothing of the third
}

TEST_CASE("BodySpool: a file cut short behind the spool's back is a read error, not an early end")
{
    sluice::test::TempDir dir;
    std::string error;
    auto spool = BodySpool::open(dir.path(), error);
    REQUIRE_MESSAGE(spool, error);
    REQUIRE(spool->append(std::string(10000, 'x')));
    // Cut through the descriptor's /proc link, the only way to the file.
    bool cut = false;
    for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const auto target = std::filesystem::read_symlink(fd.path(), ec);
        if (!ec && target.string().rfind(dir.path() + "/", 0) == 0) {
            REQUIRE(::truncate(fd.path().c_str(), 4000) == 0);
            cut = true;
        }
    }
    REQUIRE(cut);
    char block[8192];
    CHECK(spool->read(0, block, sizeof block, error) == 4000);
    error.clear();
    CHECK(spool->read(4000, block, sizeof block, error) == -1);
    CHECK(error == "a request body's temporary file ended before its length");
    CHECK(spool->read(10000, block, sizeof block, error) == 0);  // at its length: the end
}

namespace {

// A FUSE mount of a directory through bindfs: a real file system without O_TMPFILE (open() with it
// fails with EOPNOTSUPP), as overlayfs before Linux 6.6 and some network file systems are. Needs
// root and bindfs (scripts/setup-deps.sh installs it); usable() says why not.
class BindfsMount {
public:
    BindfsMount(const std::string& source, const std::string& target) : _target(target)
    {
        if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0) {
            _why = "skipped: needs root and /dev/fuse (a bindfs mount)";
        } else if (std::system("command -v bindfs > /dev/null 2>&1") != 0) {
            _why = "skipped: bindfs is not installed (scripts/setup-deps.sh installs it)";
        } else if (std::system(("bindfs '" + source + "' '" + target + "'").c_str()) != 0) {
            _why = "bindfs could not mount " + source + " on " + target;
            _failed = true;
        } else {
            _mounted = true;
        }
    }
    ~BindfsMount()
    {
        if (_mounted) {
            ::umount2(_target.c_str(), MNT_DETACH);
        }
    }
    BindfsMount(const BindfsMount&) = delete;
    BindfsMount& operator=(const BindfsMount&) = delete;

    bool usable() const
    {
        if (!_mounted) {
            MESSAGE(_why);
        }
        return _mounted;
    }
    bool failed() const { return _failed; }

private:
    std::string _target;
    std::string _why;
    bool _mounted = false;
    bool _failed = false;
};

}  // namespace

TEST_CASE("BodySpool: on a file system without O_TMPFILE the file is made with a name and unlinked at once")
{
    sluice::test::TempDir source;
    sluice::test::TempDir mountPoint;
    BindfsMount mount(source.path(), mountPoint.path());
    REQUIRE_FALSE_MESSAGE(mount.failed(), "bindfs could not mount a directory");
    if (!mount.usable()) {
        return;
    }
    // The premise: this file system refuses O_TMPFILE.
    const int probe = ::open(mountPoint.path().c_str(), O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    const int probeErrno = errno;
    if (probe >= 0) {
        ::close(probe);
    }
    REQUIRE(probe < 0);
    CHECK(probeErrno == EOPNOTSUPP);

    std::string error;
    auto spool = BodySpool::open(mountPoint.path(), error);
    REQUIRE_MESSAGE(spool, error);
    const std::string body(300000, 'q');
    REQUIRE_MESSAGE(spool->append(body), spool->writeErrorText());
    // No sluice-body-* name is left: what the directory holds while the file is open is FUSE's
    // own stand-in for an unlinked open file (libfuse's .fuse_hidden*), gone when it is closed.
    const auto names = [&source] {
        std::vector<std::string> found;
        for (const auto& entry : std::filesystem::directory_iterator(source.path())) {
            found.push_back(entry.path().filename().string());
        }
        return found;
    };
    for (const auto& name : names()) {
        CHECK_MESSAGE(name.rfind(".fuse_hidden", 0) == 0, name);
    }
    // The descriptor's file: the name it was made with, already deleted, mode 0600.
    std::string target;
    for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const auto link = std::filesystem::read_symlink(fd.path(), ec);
        if (!ec && link.string().rfind(mountPoint.path() + "/", 0) == 0) {
            target = link.string();
            struct stat st {};
            REQUIRE(::stat(fd.path().c_str(), &st) == 0);
            CHECK((st.st_mode & 0777) == 0600);
        }
    }
    CHECK(target.find("/sluice-body-") != std::string::npos);
    CHECK(target.find("(deleted)") != std::string::npos);

    std::string back(body.size(), '\0');
    REQUIRE(spool->read(0, back.data(), back.size(), error) == static_cast<std::int64_t>(body.size()));
    CHECK(back == body);
    // FUSE sends the release after close() returns: wait for the daemon to drop its stand-in.
    spool.reset();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!names().empty() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(names().empty());
}
