#!/bin/sh
# The two rpmbuild runs `invoke build-site` makes for one site (sitepolicy/rpm.py), run bare: the
# floor benchmarks/build_scale.py compares the tool with. Usage: floor-build.sh SOURCES_DIR OUT_DIR
# (DIST in the environment). The compile (make -f .../devel/Makefile) runs inside %build.
set -eu
src=$1
out=$2
top=$out/top
mkdir -p "$top/tmp" "$out/srpms" "$out/rpms"
for spec in "$src"/*.spec; do :; done
HOME=$top rpmbuild --define "_topdir $top" --define "_tmppath $top/tmp" --define "dist $DIST" \
    --define "_sourcedir $src" --define "_srcrpmdir $out/srpms" -bs "$spec" >/dev/null
for srpm in "$out"/srpms/*.src.rpm; do :; done
HOME=$top rpmbuild --define "_topdir $top" --define "_tmppath $top/tmp" --define "dist $DIST" \
    --define "_rpmdir $out/rpms" --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --nodeps --rebuild "$srpm" >/dev/null 2>&1
