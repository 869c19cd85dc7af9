# CPack settings for the deb and rpm packages, one package per install component:
#
#   runtime -> sluice      sluiced, bundled plugins, /etc/sluice, /usr/share/sluice, systemd unit
#   sdk     -> sluice-dev  headers, CMake package (find_package(SluiceSDK)), example plugin
#
# From the build directory: `cpack -G DEB`, `cpack -G RPM`, or `cpack` for both.
#   sluice_0.1.0_amd64.deb  sluice-dev_0.1.0_amd64.deb  sluice-0.1.0.x86_64.rpm  sluice-dev-0.1.0.x86_64.rpm

# The runtime package provides sluice-plugin-abi-<MAJOR>, versioned with the ABI's MAJOR.MINOR: a
# plugin package depends on it, `sluice-plugin-abi-1 (>= 1.6)` for one built with SDK ABI 1.6, so
# the package manager refuses to install a plugin next to a runtime that would not load it.
file(STRINGS "${PROJECT_SOURCE_DIR}/sdk/include/sluice/abi_version.h" _abi_version_lines
     REGEX "^#define[ \t]+SLUICE_ABI_(MAJOR|MINOR)[ \t]+[0-9]+")
if(NOT _abi_version_lines MATCHES "SLUICE_ABI_MAJOR[ \t]+([0-9]+)")
    message(FATAL_ERROR "packaging: no SLUICE_ABI_MAJOR in sdk/include/sluice/abi_version.h")
endif()
set(_abi_major "${CMAKE_MATCH_1}")
if(NOT _abi_version_lines MATCHES "SLUICE_ABI_MINOR[ \t]+([0-9]+)")
    message(FATAL_ERROR "packaging: no SLUICE_ABI_MINOR in sdk/include/sluice/abi_version.h")
endif()
set(_abi_minor "${CMAKE_MATCH_1}")

set(SLUICE_PACKAGE_CONTACT "Sluice maintainers <sluice-maintainers@localhost>" CACHE STRING
    "Maintainer named in the deb and rpm packages")

# --- Common ------------------------------------------------------------------------------------
set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VENDOR "Sluice")
set(CPACK_PACKAGE_CONTACT "${SLUICE_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Sluice API gateway")
set(CPACK_GENERATOR DEB RPM)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Install with CMAKE_INSTALL_PREFIX=/usr and DESTDIR=<staging>, so that the install-time rule in
# InstallSysconf.cmake sees the prefix /usr and puts the configuration in /etc/sluice.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
# Not relocatable: the configuration is in /etc and the unit names /usr/bin/sluiced.
set(CPACK_PACKAGE_RELOCATABLE OFF)
set(CPACK_STRIP_FILES ON)
# Values reach CPackConfig.cmake exactly as written here (regexes, %config lines).
set(CPACK_VERBATIM_VARIABLES ON)
set(CPACK_PROJECT_CONFIG_FILE "${CMAKE_CURRENT_SOURCE_DIR}/CPackProjectConfig.cmake")

set(CPACK_COMPONENTS_ALL runtime sdk)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_COMPONENT_RUNTIME_DISPLAY_NAME "Sluice API gateway runtime")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
    "Sluice API gateway runtime
sluiced authenticates and authorises API calls, enforces subscription tiers and
rate limits, validates and mediates payloads and proxies them to the backend.
Handlers, builders, formatters and Key Manager connectors are plugins loaded
from /usr/lib/sluice/plugins and from drop-in directories; mediation steps may
be Lua scripts.")
set(CPACK_COMPONENT_SDK_DISPLAY_NAME "Sluice plugin SDK")
set(CPACK_COMPONENT_SDK_DESCRIPTION
    "Sluice plugin SDK
Headers of the C plugin ABI and of the header-only C++ SDK, the CMake package
(find_package(SluiceSDK) and sluice_add_plugin()) and an example plugin, to build
Sluice plugins out of tree.")

# Package metadata lists the configuration files; the prefix /usr puts them in /etc/sluice.
sluice_resolve_sysconfdir(_pkg_confdir "${CPACK_PACKAGING_INSTALL_PREFIX}" "${SLUICE_INSTALL_SYSCONFDIR}")
set(_pkg_conffiles "")
if(_conf_main)
    list(APPEND _pkg_conffiles "${_pkg_confdir}/sluice.json")
endif()
foreach(_api IN LISTS _conf_apis)
    get_filename_component(_api_name "${_api}" NAME)
    list(APPEND _pkg_conffiles "${_pkg_confdir}/apis/${_api_name}")
endforeach()

# --- Debian ------------------------------------------------------------------------------------
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME sluice)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
# dpkg-shlibdeps adds the shared-library dependencies; postinst needs adduser.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_PROVIDES "sluice-plugin-abi-${_abi_major} (= ${_abi_major}.${_abi_minor})")

# dpkg treats only the files listed in conffiles as configuration (kept on upgrade when edited,
# kept on remove, deleted on purge); CPack does not generate the list.
list(JOIN _pkg_conffiles "\n" _deb_conffiles)
file(CONFIGURE OUTPUT "${CMAKE_CURRENT_BINARY_DIR}/deb/conffiles" CONTENT "${_deb_conffiles}\n" @ONLY)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    "${CMAKE_CURRENT_BINARY_DIR}/deb/conffiles"
    "${CMAKE_CURRENT_SOURCE_DIR}/deb/postinst"
    "${CMAKE_CURRENT_SOURCE_DIR}/deb/prerm"
    "${CMAKE_CURRENT_SOURCE_DIR}/deb/postrm")

set(CPACK_DEBIAN_SDK_PACKAGE_NAME sluice-dev)
set(CPACK_DEBIAN_SDK_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_SDK_PACKAGE_DEPENDS "sluice (= ${CPACK_PACKAGE_VERSION})")

# --- RPM ---------------------------------------------------------------------------------------
# rpmbuild would name the files name-version-release.arch.rpm; the names are fixed here instead.
set(_rpm_arch "${CMAKE_SYSTEM_PROCESSOR}")
set(CPACK_RPM_PACKAGE_ARCHITECTURE "${_rpm_arch}")
set(CPACK_RPM_PACKAGE_RELEASE 1)
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
# No /usr/lib/.build-id links (the deb and the rpm carry the same files) and no "provides" for
# the plugins, which are not libraries anyone links against.
set(CPACK_RPM_SPEC_MORE_DEFINE
    "%define _build_id_links none
%global __provides_exclude_from ^${CPACK_PACKAGING_INSTALL_PREFIX}/${SLUICE_INSTALL_PLUGINDIR}/.*\\.so$")
# Directories owned by systemd and cmake, not by these packages.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    "${CPACK_PACKAGING_INSTALL_PREFIX}/lib/systemd"
    "${CPACK_PACKAGING_INSTALL_PREFIX}/${SLUICE_INSTALL_SYSTEMDUNITDIR}"
    "${CPACK_PACKAGING_INSTALL_PREFIX}/lib/cmake"
    "${CPACK_PACKAGING_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}"
    "${CPACK_PACKAGING_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/cmake")
list(REMOVE_DUPLICATES CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION)

set(CPACK_RPM_RUNTIME_PACKAGE_NAME sluice)
set(CPACK_RPM_RUNTIME_FILE_NAME "sluice-${CPACK_PACKAGE_VERSION}.${_rpm_arch}.rpm")
set(CPACK_RPM_RUNTIME_PACKAGE_SUMMARY "${CPACK_COMPONENT_RUNTIME_DISPLAY_NAME}")
set(CPACK_RPM_RUNTIME_PACKAGE_PROVIDES "sluice-plugin-abi-${_abi_major} = ${_abi_major}.${_abi_minor}")
set(CPACK_RPM_RUNTIME_PACKAGE_REQUIRES_PRE "shadow-utils")
list(TRANSFORM _pkg_conffiles PREPEND "%config(noreplace) " OUTPUT_VARIABLE CPACK_RPM_RUNTIME_USER_FILELIST)
set(CPACK_RPM_RUNTIME_PRE_INSTALL_SCRIPT_FILE "${CMAKE_CURRENT_SOURCE_DIR}/rpm/pre.sh")
set(CPACK_RPM_RUNTIME_POST_INSTALL_SCRIPT_FILE "${CMAKE_CURRENT_SOURCE_DIR}/rpm/post.sh")
set(CPACK_RPM_RUNTIME_PRE_UNINSTALL_SCRIPT_FILE "${CMAKE_CURRENT_SOURCE_DIR}/rpm/preun.sh")
set(CPACK_RPM_RUNTIME_POST_UNINSTALL_SCRIPT_FILE "${CMAKE_CURRENT_SOURCE_DIR}/rpm/postun.sh")

set(CPACK_RPM_SDK_PACKAGE_NAME sluice-dev)
set(CPACK_RPM_SDK_FILE_NAME "sluice-dev-${CPACK_PACKAGE_VERSION}.${_rpm_arch}.rpm")
set(CPACK_RPM_SDK_PACKAGE_SUMMARY "${CPACK_COMPONENT_SDK_DISPLAY_NAME}")
set(CPACK_RPM_SDK_PACKAGE_REQUIRES "sluice = ${CPACK_PACKAGE_VERSION}")

# --- Source package (make package_source) --------------------------------------------------------
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_PACKAGE_FILE_NAME "sluice-${CPACK_PACKAGE_VERSION}")
set(CPACK_SOURCE_IGNORE_FILES "/\\.git/" "/build[^/]*/" "/_packages/" "/\\.cache/")

include(CPack)
