"""sitepolicy: per-site SELinux policy and php-fpm packages from a YAML definition."""
