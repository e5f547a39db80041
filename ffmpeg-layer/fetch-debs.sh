#!/usr/bin/env bash
# Downloads Debian 12 (bookworm) arm64 packages for the worker image (also
# the probe function's): ffmpeg and ca-certificates with their whole Depends
# closure, into OUT/debs, without Docker and without touching this host's
# dpkg configuration (a private apt state under OUT/apt, architecture arm64
# only, the host's own sources). ffmpeg-layer/artifacts then assembles the
# image from these files (keeping only the libraries the binaries load).
#
#   ffmpeg-layer/fetch-debs.sh OUT      # e.g. .local/debian-arm64
#
# Idempotent: re-running downloads only what is missing; the versions are
# whatever bookworm (with its security and updates suites) has today, and
# the assembled artifacts record them (packages.json).
set -euo pipefail

out=${1:?usage: fetch-debs.sh OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)
apt_root="$out/apt"
mkdir -p "$apt_root/state/lists/partial" "$apt_root/cache/archives/partial" "$apt_root/etc/apt.conf.d" \
	"$apt_root/etc/preferences.d" "$out/debs"
[ -f "$apt_root/status" ] || : >"$apt_root/status"
cat >"$apt_root/apt.conf" <<CONF
Dir::State "$apt_root/state";
Dir::State::status "$apt_root/status";
Dir::Cache "$apt_root/cache";
Dir::Etc::Parts "$apt_root/etc/apt.conf.d";
Dir::Etc::Preferences "$apt_root/etc/preferences.d";
Dir::Etc::PreferencesParts "$apt_root/etc/preferences.d";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Acquire::Languages "none";
CONF
# As root, apt would hand downloads to the _apt user, who cannot write here.
[ "$(id -u)" -ne 0 ] || echo 'APT::Sandbox::User "root";' >>"$apt_root/apt.conf"
export APT_CONFIG="$apt_root/apt.conf"

# Package lists at most a day old.
if [ -z "$(find "$apt_root/state/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
	echo "fetch-debs: updating the arm64 package lists" >&2
	apt-get update -qq
fi

mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
	--no-replaces --no-enhances ffmpeg ca-certificates | grep -v '^[ <]' | sort -u)
[ ${#pkgs[@]} -gt 0 ] || { echo "fetch-debs: empty package closure" >&2; exit 1; }

cd "$out/debs"
missing=()
for p in "${pkgs[@]}"; do
	v=$(apt-cache policy "$p" | awk '/Candidate:/ {print $2}')
	[ -n "$v" ] && [ "$v" != "(none)" ] || continue
	# apt-get download names files NAME_VERSION_ARCH.deb with ':' escaped.
	ls "${p}_${v//:/%3a}_"*.deb >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "fetch-debs: downloading ${#missing[@]} of ${#pkgs[@]} packages" >&2
	apt-get download -qq "${missing[@]}"
	echo "fetch-debs: $(ls "$out/debs" | wc -l) packages in $out/debs" >&2
fi
