#!/usr/bin/env bash
# mkimage.sh [OUTDIR] - builds the demonstration virtual-node image: a minimal
# root file system around Debian's static busybox (package busybox-static),
# as OUTDIR/busybox.tar (default: out/images under the repository), and
# prints its SHA-256.
#
#   /bin/busybox and a symlink per applet (from `busybox --list`, made here,
#   not by `busybox --install`, which would need to run inside the tree)
#   /sbin -> bin, /usr/bin -> ../bin, /usr/sbin -> ../bin
#   /etc/passwd, /etc/group: root (0) and vpxi (1000, home /tmp); /etc/hostname, /etc/hosts
#   /tmp (1777), /root (0700), /proc /sys /dev /run (empty mount points)
#
# The tarball is reproducible: entries sorted by name, mtime 0, owner and
# group 0, GNU format, nothing from the build host but busybox itself.
# BUSYBOX=/path overrides the binary (it must be statically linked).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
outdir=${1:-$here/out/images}
busybox=${BUSYBOX:-/bin/busybox}

die() { echo "mkimage.sh: $*" >&2; exit 1; }

[ -x "$busybox" ] || die "$busybox missing (apt-get install busybox-static)"
# a dynamically linked busybox would need the host's libc inside the image
if command -v ldd >/dev/null && ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked; install busybox-static"
fi
tar --version 2>/dev/null | grep -q "GNU tar" || die "needs GNU tar (--sort, --mtime)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vpxi-mkimage.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
umask 022

mkdir -p "$root"/{bin,etc,dev,proc,sys,run,tmp,root,usr}
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
install -m 0755 "$busybox" "$root/bin/busybox"
n=0
for applet in $("$busybox" --list); do
    case $applet in
        busybox | */* | "") continue ;;
    esac
    ln -s busybox "$root/bin/$applet"
    n=$((n + 1))
done
[ "$n" -gt 100 ] || die "busybox --list gave only $n applets"
for a in sh ls cat nc awk sha256sum sleep ip ping wc head tr od dd seq ps id hostname; do
    [ -L "$root/bin/$a" ] || die "busybox lacks the $a applet"
done
ln -s bin "$root/sbin"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
vpxi:x:1000:1000:vpxi:/tmp:/bin/sh
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
vpxi:x:1000:
EOF
echo "vpxi-node" >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"

mkdir -p "$outdir"
out=$outdir/busybox.tar
tar --create --file "$out.tmp" --directory "$root" --format=gnu --sort=name --mtime=@0 \
    --owner=0 --group=0 --numeric-owner --no-acls --no-xattrs --no-selinux .
mv "$out.tmp" "$out"
sum=$(sha256sum "$out" | cut -d' ' -f1)
echo "$sum  $out"
