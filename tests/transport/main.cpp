#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>

int main(int argc, char** argv)
{
    std::signal(SIGPIPE, SIG_IGN);  // a gateway that closes on us is a test result, not a crash
    return doctest::Context(argc, argv).run();
}
