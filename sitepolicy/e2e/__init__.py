"""End-to-end harness: an enforcing SELinux guest that installs and exercises the built RPMs."""
