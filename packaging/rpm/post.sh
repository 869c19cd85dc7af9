# Post-install scriptlet of sluice ($1 = installed instances: 1 on install, 2 on upgrade).

# The unit's StateDirectory and LogsDirectory, so that sluiced also runs as the service user
# without systemd (containers). An existing directory is left as the administrator set it.
for dir in /var/lib/sluice /var/log/sluice; do
    [ -d "$dir" ] || install -d -o sluice -g sluice -m 0750 "$dir" || :
done

# RPM distributions leave enabling to the preset policy, so a first install applies the preset
# (disabled unless the administrator's policy says otherwise) and starts nothing.
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -eq 1 ]; then
        systemctl --no-reload preset sluiced.service >/dev/null 2>&1 || :
    fi
fi
exit 0
