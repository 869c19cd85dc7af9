# Pre-install scriptlet of sluice: the service account exists before any file is unpacked.
# Idempotent.
getent group sluice >/dev/null || groupadd --system sluice
getent passwd sluice >/dev/null || \
    useradd --system --gid sluice --home-dir /var/lib/sluice --no-create-home \
        --shell /sbin/nologin --comment "Sluice API gateway" sluice
exit 0
