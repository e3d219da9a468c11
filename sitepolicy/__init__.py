"""sitepolicy: per-site SELinux confinement for shared PHP hosting, built as RPMs."""

__version__ = "0.1.0"
