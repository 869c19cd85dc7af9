# Runs at install time (cmake --install, CPack), included from the install(CODE) block in
# packaging/CMakeLists.txt which sets the _sluice_pkg_* variables.
#
# The configuration and the systemd unit depend on the install prefix, which is only known now:
# prefix /usr (the packages) puts the configuration in /etc/sluice, any other prefix in
# <prefix>/etc/sluice, and the unit starts <prefix>/bin/sluiced with that configuration.
# file(INSTALL) honours DESTDIR and records every file in the install manifest.
include("${CMAKE_CURRENT_LIST_DIR}/SluiceSysconfDir.cmake")

sluice_resolve_sysconfdir(_sluice_pkg_confdir "${CMAKE_INSTALL_PREFIX}" "${_sluice_pkg_conf_reldir}")
string(REGEX REPLACE "/+$" "" _sluice_pkg_prefix "${CMAKE_INSTALL_PREFIX}")

if(_sluice_pkg_conf_main)
    file(INSTALL DESTINATION "${_sluice_pkg_confdir}" TYPE FILE FILES "${_sluice_pkg_conf_main}")
endif()
if(_sluice_pkg_conf_apis)
    file(INSTALL DESTINATION "${_sluice_pkg_confdir}/apis" TYPE FILE FILES ${_sluice_pkg_conf_apis})
endif()

set(SLUICE_UNIT_SLUICED "${_sluice_pkg_prefix}/${_sluice_pkg_bin_reldir}/sluiced")
set(SLUICE_UNIT_CONFIG "${_sluice_pkg_confdir}/sluice.json")
# One staging file per prefix: a dev install and a CPack run may happen at the same time.
string(MD5 _sluice_pkg_tag "${_sluice_pkg_prefix}")
set(_sluice_pkg_unit "${_sluice_pkg_staging}/${_sluice_pkg_tag}/sluiced.service")
configure_file("${_sluice_pkg_unit_template}" "${_sluice_pkg_unit}" @ONLY)
file(INSTALL DESTINATION "${_sluice_pkg_prefix}/${_sluice_pkg_unit_reldir}" TYPE FILE FILES "${_sluice_pkg_unit}")
