#include <iostream>
#include <string>
#include <vector>

#include "sluice/runtime/Cli.h"

int main(int argc, char** argv)
{
    return sluice::runtime::runCli(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
}
