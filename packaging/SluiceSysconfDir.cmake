# sluice_resolve_sysconfdir(<out-var> <prefix> <dir>)
#
# The configuration directory for an install prefix, by the rule GNUInstallDirs applies to
# CMAKE_INSTALL_FULL_SYSCONFDIR: a relative <dir> lives under <prefix>, except that the prefixes
# / and /usr keep their configuration in /etc, so the packages (prefix /usr) get /etc/sluice and
# never /usr/etc/sluice. An absolute <dir> is taken as it is.
#
# Used at configure time (deb conffiles, rpm %config list, for the packaging prefix) and at install
# time (packaging/InstallSysconf.cmake, for the prefix of `cmake --install --prefix` or CPack,
# which is only known then).
function(sluice_resolve_sysconfdir out prefix dir)
    if(IS_ABSOLUTE "${dir}")
        set(resolved "${dir}")
    elseif(prefix MATCHES "^/(usr/*)?$")
        set(resolved "/${dir}")
    else()
        string(REGEX REPLACE "/+$" "" prefix "${prefix}")
        set(resolved "${prefix}/${dir}")
    endif()
    set(${out} "${resolved}" PARENT_SCOPE)
endfunction()
