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

# SLUICE_SANITIZERS (e.g. "address,undefined") builds every target with those sanitizers: the
# runtime, the plugins, the test fixtures and the tests (scripts/test-sanitized.sh). Tests that
# measure resident memory skip those checks when SLUICE_SANITIZED is defined.
set(SLUICE_SANITIZERS "" CACHE STRING "Sanitizers for every target, as -fsanitize= takes them; empty: none")
# Not vptr: to tell whether memory is readable, its runtime opens a pipe, and with no descriptor
# left (the tests that exhaust them) it reports every virtual call as one on a bad object.
# AddressSanitizer finds calls on freed objects anyway. With the sanitizers' instrumentation GCC
# warns of maybe-uninitialized members inside libstdc++'s <regex>, which it does not without.
if(SLUICE_SANITIZERS)
    add_compile_options(-fsanitize=${SLUICE_SANITIZERS} -fno-sanitize=vptr -fno-sanitize-recover=all
                        -fno-omit-frame-pointer -O1 -Wno-maybe-uninitialized)
    add_link_options(-fsanitize=${SLUICE_SANITIZERS})
    add_compile_definitions(SLUICE_SANITIZED=1)
endif()
