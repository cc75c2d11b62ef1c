#!/bin/busybox sh
# PID 1 of the Linux guests (busybox). It mounts the kernel's file systems,
# loads the modules listed in /etc/vhu-modules (dependencies first), then
# unpacks the payload disk named by `vhu.payload=` and runs its runner.sh;
# whatever happens, it ends with a reset, which QEMU (-no-reboot) turns into
# an exit. Kernel command line switches:
#   vhu.probe   print @@VHU-PROBE-OK@@ and stop (the KVM probe)
#   vhu.shell   an interactive shell on the console instead of the runner
#               (the serial-console engine's test drives it)
/bin/busybox mkdir -p /usr/bin /proc /sys /dev /tmp
/bin/busybox --install -s /usr/bin
export PATH=/usr/bin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
# Keep kernel messages off the console, where the runner's frames go
# (a panic is still printed: it is an emergency).
dmesg -n 1
echo "@@VHU-BOOTED $(uname -r)@@"
# Loopback, as on any machine: tests talk to themselves over 127.0.0.1.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up || echo "@@VHU-WARN no loopback@@"
while read -r module; do
    insmod "/lib/modules/vhu/$module" || echo "@@VHU-WARN insmod $module failed@@"
done < /etc/vhu-modules
payload=/dev/vda
for word in $(cat /proc/cmdline); do
    case "$word" in
    vhu.payload=*) payload=${word#vhu.payload=} ;;
    vhu.probe)
        echo "@@VHU-PROBE-OK@@"
        reboot -f
        ;;
    vhu.shell)
        setsid cttyhack sh
        reboot -f
        ;;
    esac
done
# virtio devices are probed asynchronously: give the disk up to ten seconds.
i=0
while [ ! -b "$payload" ] && [ "$i" -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
# Everything but the test executables now; the runner unpacks each one just
# before it runs and removes it after, so the guest's memory holds one at a time.
if mkdir -p /payload && cd /payload && tar -xf "$payload" runner.sh manifest args limit retries env bin; then
    sh /payload/runner.sh "$payload"
else
    echo "@@VHU-ERROR cannot unpack the payload disk $payload@@"
fi
reboot -f
