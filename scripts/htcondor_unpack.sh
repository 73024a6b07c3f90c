#!/usr/bin/env bash
# Unpacks the HTCondor release kept for tests (../shared/htcondor/*.tar.gz beside the checkout)
# into the virtual environment, after checking it against SHA256SUMS. Idempotent: a marker holds
# the checksum of what was unpacked. Without the shared folder it does nothing (users bring their
# own HTCondor: condor_master on PATH, or GLIDEIN_HTCONDOR_RELEASE).
set -euo pipefail
shared=${1:?shared htcondor dir} target=${2:?target dir}
[ -d "$shared" ] || { echo "htcondor_unpack.sh: no $shared; tests needing HTCondor will look on PATH"; exit 0; }
sums="$shared/SHA256SUMS"
tarball=$(ls "$shared"/htcondor-*.tar.gz 2>/dev/null | head -n 1)
[ -n "$tarball" ] && [ -f "$sums" ] || { echo "htcondor_unpack.sh: no tarball or SHA256SUMS in $shared" >&2; exit 1; }
name=$(basename "$tarball")
want=$(awk -v n="$name" '$2 == n || $2 == "*" n {print $1}' "$sums")
[ -n "$want" ] || { echo "htcondor_unpack.sh: $name is not listed in $sums" >&2; exit 1; }
if [ -f "$target/.unpacked" ] && [ "$(cat "$target/.unpacked")" = "$want" ]; then exit 0; fi
got=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
    echo "htcondor_unpack.sh: $tarball: checksum $got does not match SHA256SUMS ($want)" >&2
    exit 1
fi
rm -rf "$target.new" && mkdir -p "$target.new"
tar -xzf "$tarball" -C "$target.new" --no-same-owner
[ -x "$target.new/sbin/condor_master" ] || { echo "htcondor_unpack.sh: $name has no sbin/condor_master" >&2; exit 1; }
echo "$want" > "$target.new/.unpacked"
rm -rf "$target" && mv "$target.new" "$target"
chmod 755 "$target"
echo "htcondor_unpack.sh: unpacked $name into $target"
