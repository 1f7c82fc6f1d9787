#!/usr/bin/env bash
# Assembles the managed plugin's directory: config.json + rootfs/ with cloudstord,
# cloudstor-shim, the init that runs them as PID 1, the host tools they call
# (mkfs.ext4, blkid, fsfreeze, mount, umount; mount.nfs4 where nfs-common is
# installed) and every shared library these need, at the paths they are found.
# usage: scripts/build-plugin.sh BIN_DIR OUT_DIR   (BIN_DIR: a build of cloudstord and cloudstor-shim)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 out=$2
rootfs=$out/rootfs
rm -rf "$out"
mkdir -p "$rootfs"/{usr/bin,usr/sbin,etc,tmp,run/docker/plugins,var/lib/cloudstor,mnt/volumes,dev,proc,sys}
chmod 1777 "$rootfs/tmp"

# Copies a file and the libraries it loads (ldd's view, the loader too) into rootfs.
copy_with_libraries() {
  local file=$1 dest=$2
  install -D -m 0755 "$file" "$rootfs$dest"
  ldd "$file" 2>/dev/null | grep -oE '/[^ ]+' | while read -r lib; do
    [ -e "$rootfs$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
  done
}

for exe in cloudstord cloudstor-shim; do
  copy_with_libraries "$bin/$exe" "/usr/bin/$exe"
  strip --strip-unneeded "$rootfs/usr/bin/$exe"
done
for tool in mkfs.ext4 blkid fsfreeze mount umount mount.nfs4; do
  path=$(PATH=/usr/sbin:/sbin:/usr/bin:/bin command -v "$tool" || true)
  if [ -z "$path" ]; then
    echo "build-plugin: $tool not found on this machine; the plugin goes without it" >&2
    continue
  fi
  copy_with_libraries "$path" "/usr/sbin/$tool"
done
[ -f /etc/mke2fs.conf ] && install -m 0644 /etc/mke2fs.conf "$rootfs/etc/mke2fs.conf"
gcc -O2 -Wall -Wextra -Werror -static -o "$rootfs/init" plugin/init.c
install -m 0644 plugin/config.json "$out/config.json"
echo "plugin directory: $out ($(du -sm "$rootfs" | cut -f1) MiB rootfs)"
