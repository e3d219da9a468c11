"""definition -> RPMs: rpmbuild in a private tree, mock, incremental releases, parallel builds."""
