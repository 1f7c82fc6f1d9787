#!/usr/bin/env bash
# Assembles the managed plugin's directory: config.json + rootfs/ with cloudstor
# (cloudstord and cloudstor-shim, by the names of its links), the init that runs
# them as PID 1, the host tools they call (mkfs.ext4, e2fsck, resize2fs, fsfreeze, mount,
# umount; mount.nfs4 where nfs-common is installed; blkid is libblkid, in process) and every shared library
# these need, at the paths they are found.
# usage: scripts/build-plugin.sh [--without-nfs] BIN_DIR OUT_DIR
#   BIN_DIR: a build of cloudstor (make plugin: the static release);
#   --without-nfs: build even where mount.nfs4 (nfs-common) is missing: such a
#   plugin cannot mount EFS itself (the Swarm tests mount their "EFS" for it).
set -euo pipefail
cd "$(dirname "$0")/.."
nfs=required
if [ "${1:-}" = "--without-nfs" ]; then nfs=optional; shift; fi
[ $# -eq 2 ] || { echo "usage: $0 [--without-nfs] BIN_DIR OUT_DIR" >&2; exit 64; }
bin=$1 out=$2
rootfs=$out/rootfs
rm -rf "$out"
mkdir -p "$rootfs"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,tmp,run/docker/plugins,host/var/lib,mnt/volumes,dev,proc,sys}
chmod 1777 "$rootfs/tmp"
for d in bin sbin lib lib64; do ln -s usr/$d "$rootfs/$d"; done   # merged /usr: mount(8) looks for /sbin/mount.nfs4

# Copies a file and the libraries it loads (ldd's view, the loader too) into rootfs.
copy_with_libraries() {
  local file=$1 dest=$2
  install -D -m 0755 "$file" "$rootfs$dest"
  ldd "$file" 2>/dev/null | grep -oE '/[^ ]+' | while read -r lib; do
    [ -e "$rootfs$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
  done
}

# One executable for both processes, run by the name of its link.
copy_with_libraries "$bin/cloudstor" /usr/bin/cloudstor
strip --strip-unneeded "$rootfs/usr/bin/cloudstor"
# One String method that resolves to Foundation's NSString layer (visible through
# a dependency) links all of Foundation and ICU's data: 45 MiB more per node.
if grep -q icudt "$rootfs/usr/bin/cloudstor"; then
  echo "build-plugin: cloudstor links Foundation and ICU; find the call (swiftc -Xlinker -Map=FILE: what pulled libFoundation.a in)" >&2
  exit 1
fi
for name in cloudstord cloudstor-shim; do ln -s cloudstor "$rootfs/usr/bin/$name"; done
for tool in mkfs.ext4 e2fsck resize2fs fsfreeze mount umount mount.nfs4; do
  path=$(PATH=/usr/sbin:/sbin:/usr/bin:/bin command -v "$tool" || true)
  if [ -z "$path" ]; then
    if [ "$tool" = mount.nfs4 ] && [ $nfs = optional ]; then
      echo "build-plugin: no mount.nfs4 here: this plugin cannot mount EFS itself" >&2
      continue
    fi
    echo "build-plugin: $tool not found (install ${tool/mount.nfs4/nfs-common})" >&2
    exit 1
  fi
  copy_with_libraries "$path" "/usr/sbin/$tool"
done
for conf in /etc/mke2fs.conf /etc/netconfig; do   # mkfs.ext4's defaults; libtirpc's transports (mount.nfs4)
  if [ -f $conf ]; then install -m 0644 $conf "$rootfs$conf"; fi
done
gcc -O2 -Wall -Wextra -Werror -static -o "$rootfs/init" plugin/init.c
install -m 0644 plugin/config.json "$out/config.json"
echo "plugin directory: $out ($(du -sm "$rootfs" | cut -f1) MiB rootfs)"
