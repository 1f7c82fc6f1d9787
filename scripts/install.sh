#!/bin/sh
# Installs Cloudstor without the managed plugin: cloudstor (with its links
# cloudstord and cloudstor-shim) and cloudstorctl into PREFIX/bin, the systemd
# units into PREFIX/lib/systemd/system (which systemd reads for /usr/local), and
# SYSCONFDIR/cloudstor/cloudstor.env unless one is there (it is the operator's).
# usage: scripts/install.sh BIN_DIR PREFIX SYSCONFDIR   (make install; DESTDIR is honoured)
set -eu
[ $# -eq 3 ] || { echo "usage: $0 BIN_DIR PREFIX SYSCONFDIR" >&2; exit 64; }
bin=$1 prefix=$2 sysconfdir=$3
dest=${DESTDIR:-}
here=$(cd "$(dirname "$0")/.." && pwd)
for exe in cloudstor cloudstorctl; do
  [ -x "$bin/$exe" ] || { echo "install: $bin/$exe is not built (make release)" >&2; exit 66; }
done
install -d "$dest$prefix/bin" "$dest$prefix/lib/systemd/system" "$dest$sysconfdir/cloudstor"
install -m 0755 "$bin/cloudstor" "$bin/cloudstorctl" "$dest$prefix/bin/"
for name in cloudstord cloudstor-shim; do ln -sfn cloudstor "$dest$prefix/bin/$name"; done
for unit in cloudstord cloudstor-shim; do
  sed -e "s|@BINDIR@|$prefix/bin|g; s|@SYSCONFDIR@|$sysconfdir|g" "$here/packaging/systemd/$unit.service.in" \
    > "$dest$prefix/lib/systemd/system/$unit.service"
  chmod 0644 "$dest$prefix/lib/systemd/system/$unit.service"
done
if [ ! -e "$dest$sysconfdir/cloudstor/cloudstor.env" ]; then
  install -m 0600 "$here/packaging/cloudstor.env" "$dest$sysconfdir/cloudstor/cloudstor.env"
fi
echo "installed into $dest$prefix; then: systemctl daemon-reload && systemctl enable --now cloudstord cloudstor-shim"
