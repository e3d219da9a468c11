#!/bin/sh
# Runs in the guest tree (chroot) after configure.sh when the guest boots a target's policy
# (e.g. RHEL 9's) instead of Debian's: give the Debian userspace what that target's packages expect.
# PHP_FPM and WEB_GROUP come from the target's profile (sitepolicy/targets.py).
set -eu
# The target's php-fpm path (el9: /usr/sbin/php-fpm, labelled httpd_exec_t by its file_contexts):
# a copy of Debian's binary, not a link, so that the label is the file's own.
if [ "$PHP_FPM" != /usr/sbin/php-fpm8.2 ]; then
    cp -p /usr/sbin/php-fpm8.2 "$PHP_FPM"
fi
# The socket group of the target's web server; Debian's nginx (www-data) joins it.
getent group "$WEB_GROUP" >/dev/null || groupadd --system "$WEB_GROUP"
usermod -a -G "$WEB_GROUP" www-data
# Debian's own php-fpm pool is not part of the scenarios and its paths are Debian's.
systemctl disable php8.2-fpm.service >/dev/null 2>&1 || :
