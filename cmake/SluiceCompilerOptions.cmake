# Compiler warnings and ccache for every Sluice target.
find_program(SLUICE_CCACHE ccache)
if(SLUICE_CCACHE)
    set(CMAKE_C_COMPILER_LAUNCHER "${SLUICE_CCACHE}")
    set(CMAKE_CXX_COMPILER_LAUNCHER "${SLUICE_CCACHE}")
endif()

add_library(sluice_warnings INTERFACE)
target_compile_options(sluice_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
    $<$<BOOL:${SLUICE_WARNINGS_AS_ERRORS}>:-Werror>)
add_library(Sluice::warnings ALIAS sluice_warnings)
