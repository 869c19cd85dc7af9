# Post-uninstall scriptlet of sluice ($1 = instances left): restart a running service after
# an upgrade.
# The account and /var/lib/sluice are kept on erase, as RPM distributions do for service data.
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart sluiced.service >/dev/null 2>&1 || :
    fi
fi
exit 0
