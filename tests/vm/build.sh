#!/usr/bin/env bash
# Build (or reuse) the IPVS test VM: Debian's stock kernel, downloaded with apt-get (never
# installed), and a busybox initramfs with ipvsadm, iproute2 and the IPVS modules.
#
#   tests/vm/build.sh CACHE_ROOT      # prints the directory holding vmlinux + initrd.gz
#
# The kernel is cached in CACHE_ROOT/<package>_<version>/ (keyed on the kernel package
# version); the initramfs there is keyed on a hash of tests/vm/init and this script. Missing
# host tools are an error (exit 2), never a skip.
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
ROOT=${1:?usage: build.sh CACHE_ROOT}
log() { printf '[vm-build] %s\n' "$*" >&2; }
die() { printf '[vm-build] ERROR: %s\n' "$*" >&2; exit 2; }

for t in qemu-system-x86_64 busybox ipvsadm cpio xz gzip apt-get apt-cache dpkg-deb ldd; do
  command -v "$t" >/dev/null || die "missing host tool '$t' (apt-get install qemu-system-x86 busybox-static ipvsadm iproute2 cpio xz-utils)"
done
BUSYBOX=$(command -v busybox)
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || [[ -x /bin/busybox ]] || die "busybox-static is needed"
[[ -x /bin/busybox ]] && BUSYBOX=/bin/busybox

PKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[[ -n $PKG ]] || die "apt-cache does not know linux-image-amd64 (run apt-get update)"
VER=$(apt-cache policy "$PKG" | awk '/Candidate:/{print $2; exit}')
K=$ROOT/${PKG}_${VER//:/_}
mkdir -p "$K"

# 1. kernel: vmlinux (ELF, booted through PVH: no in-guest decompression) + modules
if [[ ! -f $K/vmlinux || ! -d $K/modules ]]; then
  log "fetching $PKG $VER"
  tmp=$(mktemp -d "$K/dl.XXXXXX")
  (cd "$tmp" && apt-get download -q "$PKG" 2>&1 | grep -v unsandboxed >&2) || true
  deb=$(ls "$tmp"/*.deb 2>/dev/null | head -1)
  [[ -n $deb ]] || die "apt-get download $PKG failed"
  dpkg-deb -x "$deb" "$tmp/root"
  img=$(ls "$tmp"/root/boot/vmlinuz-* | head -1)
  KVER=${img##*/vmlinuz-}
  # The bzImage carries an xz stream; the ELF kernel is inside it.
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$img" | head -1 | cut -d: -f1)
  [[ -n $off ]] || die "no xz payload in $img"
  tail -c +$((off + 1)) "$img" | xz -dc > "$K/vmlinux.tmp" 2>/dev/null || true
  head -c 4 "$K/vmlinux.tmp" | grep -q 'ELF' || die "could not extract vmlinux from $img"
  mv "$K/vmlinux.tmp" "$K/vmlinux"
  rm -rf "$K/modules"
  mv "$tmp/root/lib/modules/$KVER" "$K/modules"
  echo "$KVER" > "$K/kver"
  rm -rf "$tmp"
fi
KVER=$(cat "$K/kver")

# 2. initramfs
SUM=$(cat "$HERE/init" "$0" | sha256sum | cut -c1-12)
INITRD=$K/initrd-$SUM.gz
if [[ ! -f $INITRD ]]; then
  log "building initramfs for $KVER"
  R=$(mktemp -d "$K/ird.XXXXXX")
  chmod 0755 "$R"   # the guest's / (mktemp makes it 0700: no other user could reach a file)
  mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,host,var,srv}
  ln -s ../run "$R/var/run"
  install -m 0755 "$BUSYBOX" "$R/bin/busybox"
  for a in $("$BUSYBOX" --list); do [[ -e $R/bin/$a ]] || ln -s busybox "$R/bin/$a"; done
  copy_elf() { # binary + the libraries ldd lists (loader included)
    install -D -m 0755 "$1" "$R$2"
    for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
      [[ -e $R$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$R$lib"
    done
  }
  copy_elf "$(command -v ipvsadm)" /usr/sbin/ipvsadm
  if command -v ip >/dev/null; then copy_elf "$(readlink -f "$(command -v ip)")" /usr/sbin/ip; fi
  ln -sf ../bin/busybox "$R/sbin/modprobe"
  M=$K/modules
  declare -A PATHS SEEN; ORDER=()
  while IFS= read -r p; do n=${p##*/}; n=${n%.ko*}; PATHS[${n//-/_}]=$p; done \
    < <(cd "$M" && find kernel -name '*.ko*')
  modcat() { case $1 in *.xz) xz -dc "$1";; *.zst) zstd -dcq "$1";; *) cat "$1";; esac; }
  want() { # depth-first over each module's own depends= list (no depmod on the host)
    local n=${1//-/_} p d; [[ -n ${SEEN[$n]:-} ]] && return 0; SEEN[$n]=1
    p=${PATHS[$n]:-}; [[ -n $p ]] || { log "module $n not in this kernel"; return 0; }
    for d in $(modcat "$M/$p" | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '); do want "$d"; done
    ORDER+=("$p")
  }
  # crc32c_generic first: libcrc32c only soft-depends on it.
  for m in crc32c_generic ip_vs veth dummy bridge virtio_pci 9pnet_virtio 9p nf_conntrack ip_vs_ftp; do want "$m"; done
  PRE=("${ORDER[@]}")
  # schedulers are autoloaded by the kernel through /sbin/modprobe, as in production; so is
  # ipip ("rtnl-link-ipip", through modules.alias) when `meridian realserver` asks for tunl0
  for m in rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos; do want "ip_vs_$m"; done
  want ipip
  for p in "${ORDER[@]}"; do
    mkdir -p "$(dirname "$R/lib/modules/$KVER/$p")"
    modcat "$M/$p" > "$R/lib/modules/$KVER/${p%.ko*}.ko"
  done
  cp "$M"/modules.{builtin,order} "$R/lib/modules/$KVER/" 2>/dev/null || true
  "$BUSYBOX" depmod -b "$R" "$KVER"
  printf '%s\n' "${PRE[@]}" | sed 's/\.ko.*$/.ko/' > "$R/etc/modules.preload"
  install -m 0755 "$HERE/init" "$R/init"
  echo "root:x:0:0:root:/root:/bin/sh" > "$R/etc/passwd"
  (cd "$R" && find . -print0 | cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 > "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$R"
fi
ln -sf "$(basename "$INITRD")" "$K/initrd.gz"
echo "$K"
