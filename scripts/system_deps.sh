#!/usr/bin/env bash
# Installs the Debian packages the test suite and the demo need, when missing.
# Idempotent; needs root (as on the project's machines) only when something is missing.
set -euo pipefail
# The HTCondor release in ../shared/htcondor needs libssl3 libkrb5-3 libcurl4 libpcre2-8-0 libsqlite3-0 libuuid1 libexpat1 libgomp1.
# slurmdbd + mariadb-server: Slurm accounting (real sacct exit codes) for the tests, SLURM_ACCOUNTING=1.
# slapd + ldap-utils + glue-schema: a BDII-like LDAP server with the GLUE 1.3/2.0 schemas for the autoconf
# tests (they start their own slapd on loopback; no system slapd is configured or started).
PACKAGES=(python3-venv librrd-dev rrdtool pkg-config slurmctld slurmd slurm-client munge slurmdbd mariadb-server chromium
          libssl3 libkrb5-3 libcurl4 libpcre2-8-0 libsqlite3-0 libuuid1 libexpat1 libgomp1
          slapd ldap-utils glue-schema)
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "system_deps.sh: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
fi
# Keep package post-install scripts from starting system-wide daemons (munge, slurm, mariadb).
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && added_policy=1
fi
trap '[ $added_policy = 1 ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
# slapd's postinst would otherwise create a system database (o=nodomain) and ask for its password.
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system_deps.sh: installed ${missing[*]}"
