#!/usr/bin/env bash
# Boot the IPVS test VM once with SHARE_DIR shared over virtio-9p (mounted on /host in the
# guest, which runs SHARE_DIR/run.sh). Prints the guest's output; exits with run.sh's status,
# or 125 when the VM crashed or timed out.
#
#   tests/vm/boot.sh VM_DIR SHARE_DIR        (VM_DIR as printed by build.sh)
# Env: VM_TIMEOUT (seconds, default 600), VM_MEM (default 512M).
set -euo pipefail
VM=${1:?usage: boot.sh VM_DIR SHARE_DIR}
SHARE=$(readlink -f "${2:?usage: boot.sh VM_DIR SHARE_DIR}")
rm -f "$SHARE/rc" "$SHARE/out.log"
accel="-accel tcg,thread=multi -cpu max"
# /dev/kvm alone is not enough (a paravirtual kvm_pvm cannot run a stock kernel)
if [[ -r /dev/kvm && -w /dev/kvm && ! -d /sys/module/kvm_pvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
  accel="-enable-kvm -cpu host"
fi
timeout "${VM_TIMEOUT:-600}" qemu-system-x86_64 $accel -m "${VM_MEM:-512M}" -smp 1 \
  -nographic -no-reboot -nic none \
  -kernel "$VM/vmlinux" -initrd "$VM/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1" \
  -virtfs "local,path=$SHARE,mount_tag=hostshare,security_model=none,id=hostshare" \
  </dev/null > "$SHARE/console.log" 2>&1 || true
if [[ ! -f $SHARE/rc ]]; then
  tr -d '\r' < "$SHARE/console.log" | tail -40 >&2
  echo "[vm-boot] the VM wrote no exit status (crash or timeout)" >&2
  exit 125
fi
cat "$SHARE/out.log"
exit "$(cat "$SHARE/rc")"
