# Pre-uninstall scriptlet of sluice ($1 = instances left: 0 on erase, 1 on upgrade): on erase,
# stop and disable the service.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now sluiced.service >/dev/null 2>&1 || :
fi
exit 0
