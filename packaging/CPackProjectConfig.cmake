# Read by cpack once per generator (CPACK_PROJECT_CONFIG_FILE).

if(CPACK_GENERATOR STREQUAL "DEB")
    # CPackDeb puts the package-wide summary in front of every component's description; each
    # component description already starts with its own summary line.
    unset(CPACK_PACKAGE_DESCRIPTION_SUMMARY)
endif()
