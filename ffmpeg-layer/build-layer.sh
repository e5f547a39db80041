#!/usr/bin/env bash
# Builds the Lambda layer with ffprobe (and, with --with-ffmpeg, ffmpeg) for
# the arm64 Lambdas (the pipeline's Probe step, asset completion), from
# Debian 12's ffmpeg package: the binaries, every shared library they load,
# and Debian's own dynamic loader, behind wrapper scripts in bin/ (Lambda puts
# /opt/bin on PATH). Bundling the loader makes the binaries independent of
# the Lambda image's older glibc.
#
#   ffmpeg-layer/build-layer.sh OUT_DIR            # arm64, in Docker
#   ffmpeg-layer/build-layer.sh OUT_DIR --native   # package this host's
#                                                    binaries (an arm64
#                                                    Debian host, or a test)
#   ... --with-ffmpeg                               # also ffmpeg (larger)
#
# Layer size limit: 250 MB unzipped for a function and its layers. Debian's
# ffprobe links every libav* library and their codec libraries: measured
# 236 MB unzipped (102 MB zipped) on bookworm amd64, which leaves ~14 MB for
# the function. The script refuses a layer over 240 MB; --with-ffmpeg is for
# inspection only (it does not fit).
set -euo pipefail

out=${1:?usage: build-layer.sh OUT_DIR [--native] [--with-ffmpeg]}
shift
native=0 bins="ffprobe"
for a in "$@"; do
	case $a in
	--native) native=1 ;;
	--with-ffmpeg) bins="ffprobe ffmpeg" ;;
	--package-here) ;; # internal: inside the build container
	*) echo "build-layer: unknown flag $a" >&2; exit 2 ;;
	esac
done

# package DIR: copy $bins with their libraries and loader into DIR.
package() {
	local dir=$1 b lib loader=""
	rm -rf "$dir" && mkdir -p "$dir/bin" "$dir/lib" "$dir/libexec"
	for b in $bins; do
		local path
		path=$(command -v "$b") || { echo "build-layer: $b not installed" >&2; exit 1; }
		cp -L "$path" "$dir/libexec/$b"
		while read -r lib; do
			[ -n "$lib" ] && cp -Ln "$lib" "$dir/lib/" 2>/dev/null || true
			case $lib in */ld-linux*) loader=$(basename "$lib") ;; esac
		done < <(ldd "$path" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}')
	done
	[ -n "$loader" ] || { echo "build-layer: no dynamic loader found" >&2; exit 1; }
	for b in $bins; do
		cat >"$dir/bin/$b" <<WRAP
#!/bin/sh
# $b from Debian with its own libraries and loader (see ffmpeg-layer/build-layer.sh).
d=\$(dirname "\$0")/..
exec "\$d/lib/$loader" --library-path "\$d/lib" "\$d/libexec/$b" "\$@"
WRAP
		chmod 0755 "$dir/bin/$b"
	done
	local mb
	mb=$(du -sm "$dir" | cut -f1)
	echo "build-layer: $dir is ${mb} MB unzipped" >&2
	if [ "$mb" -gt 240 ] && [ "$bins" = ffprobe ]; then
		echo "build-layer: over 240 MB: it would not fit Lambda's 250 MB limit with a function" >&2
		exit 1
	fi
}

if [ "$native" = 1 ] || printf '%s\n' "$@" | grep -qx -- --package-here; then
	package "$out"
	exit 0
fi

command -v docker >/dev/null 2>&1 || { echo "build-layer: docker is needed (or run with --native on an arm64 Debian host)" >&2; exit 1; }
mkdir -p "$out"
abs=$(cd "$out" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
extra=""
[ "$bins" = "ffprobe ffmpeg" ] && extra="--with-ffmpeg"
docker run --rm --platform linux/arm64 \
	-v "$here/build-layer.sh:/build-layer.sh:ro" -v "$abs:/out" debian:bookworm-slim \
	bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null && /build-layer.sh /out/layer --package-here $extra && cp -a /out/layer/. /out/ && rm -rf /out/layer && chown -R $(id -u):$(id -g) /out"
