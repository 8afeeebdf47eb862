#!/bin/sh
# Install the real peers the interop suite (tests/interop) starts by itself:
# Prosody, ejabberd, Kamailio (+TLS), sipp, baresip and iproute2 from Debian.
#
# Usage: scripts/install-interop-deps.sh [VENV_DIR]
#
# Idempotent: runs "apt-get update" only when a package is missing and has no
# install candidate (or the package lists are absent), installs only what is
# missing, and leaves the packages' own system services stopped and disabled,
# because the tests start private instances in a network namespace.  With
# VENV_DIR, also installs the Python test dependencies (the "dev" extra:
# slixmpp, dnspython) into that virtualenv.
set -eu

export DEBIAN_FRONTEND=noninteractive

# Debian package names.  sipp is "sip-tester"; "baresip-core" avoids the
# GUI/codec recommends of "baresip".  lua-unbound is a Recommends of prosody
# (Prosody then resolves through libunbound, as on a default install);
# lua-event is another Recommends and is harmless.  systemd (for
# systemd-analyze) and logrotate check the packaging samples.
PACKAGES="prosody lua-unbound lua-event lua-sec \
ejabberd erlang-base \
kamailio kamailio-tls-modules \
sip-tester baresip-core \
iproute2 util-linux openssl ca-certificates \
systemd logrotate"

# System services the packages would start; tests run private instances.
# Not epmd: other Erlang services on the machine (e.g. RabbitMQ) share it.
SERVICES="prosody ejabberd kamailio"

if [ "$(id -u)" -ne 0 ]; then
    echo "install-interop-deps: must run as root" >&2
    exit 1
fi

missing() {
    for pkg in $PACKAGES; do
        if ! dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
            printf '%s ' "$pkg"
        fi
    done
}

todo="$(missing)"
if [ -n "$todo" ]; then
    # Refresh the lists only when some missing package has no candidate.
    need_update=0
    if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
        need_update=1
    else
        for pkg in $todo; do
            candidate="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')"
            if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
                need_update=1
                break
            fi
        done
    fi
    if [ "$need_update" -eq 1 ]; then
        apt-get update -q
    fi

    # Keep maintainer scripts from starting services while installing; only
    # install our own policy-rc.d if none exists (containers often ship one).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    status=0
    # shellcheck disable=SC2086
    if ! apt-get install -y -q --no-install-recommends $todo; then
        # Stale lists point at superseded versions: refresh once and retry.
        if [ "$need_update" -eq 0 ]; then
            apt-get update -q && apt-get install -y -q --no-install-recommends $todo || status=$?
        else
            status=1
        fi
    fi
    [ "$status" -eq 0 ] || exit "$status"
fi

# Whatever happened before (e.g. an install without policy-rc.d), make sure
# the system instances are stopped and will not start at boot.
for svc in $SERVICES; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$svc" ]; then
        "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
        update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
done

if [ "$#" -ge 1 ]; then
    venv="$1"
    here="$(cd "$(dirname "$0")/.." && pwd)"
    # Same editable mode as the Makefile's venv target.
    "$venv/bin/pip" install -q -e "$here[dev]" --config-settings editable_mode=compat
    "$venv/bin/python" -c 'import slixmpp, dns.resolver'
fi

for tool in prosody prosodyctl ejabberdctl erl kamailio sipp baresip unshare ip; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install-interop-deps: $tool not found after install" >&2
        exit 1
    fi
done
echo "install-interop-deps: ok"
