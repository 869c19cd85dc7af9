# Fails when a doctest TEST_CASE name contains a character that doctest_discover_tests cannot
# carry into its --test-case filter: ';' splits the name into several ctest entries that each
# match nothing and "pass" without running anything.
#   cmake -DSOURCE_DIR=<project>/tests -P CheckTestNames.cmake
file(GLOB_RECURSE sources "${SOURCE_DIR}/*.cpp")
set(bad "")
foreach(source IN LISTS sources)
    file(STRINGS "${source}" lines REGEX "TEST_CASE\\(\"")
    foreach(line IN LISTS lines)
        if(line MATCHES "TEST_CASE\\(\"[^\"]*;")
            list(APPEND bad "${source}: ${line}")
        endif()
    endforeach()
endforeach()
if(bad)
    list(JOIN bad "\n  " text)
    message(FATAL_ERROR "test names with ';' (they would never run under ctest):\n  ${text}")
endif()
message(STATUS "every TEST_CASE name is safe for ctest")
