#!/bin/sh
# Runs inside the freshly bootstrapped root (chroot) to make it an enforcing SELinux guest.
set -eu
echo sitepolicy-e2e > /etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 sitepolicy-e2e\n' > /etc/hosts
printf '/dev/vda / ext4 rw,relatime 0 1\n' > /etc/fstab
cat > /etc/selinux/config <<'CONF'
SELINUX=enforcing
SELINUXTYPE=default
CONF
# No logins (the guest's agetty also trips a checkpoint_restore denial in this refpolicy).
# Nothing in the guest may reach the network, and nothing periodic should run during a test.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
        fstrim.timer man-db.timer dpkg-db-backup.timer logrotate.timer systemd-timesyncd.service \
        getty.target apache2.service; do
    systemctl mask "$unit" >/dev/null 2>&1 || :
done
chmod 0755 /usr/local/sbin/sitepolicy-e2e-boot
systemctl enable sitepolicy-e2e.service
systemctl enable auditd.service nginx.service php8.2-fpm.service
# Journal on disk, so a reboot scenario can look at the previous boot too.
mkdir -p /var/log/journal
# No root password: the guest is only reached through its disks.
passwd -d root >/dev/null
