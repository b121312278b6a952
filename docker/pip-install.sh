#!/bin/sh
# `pip install ARGS` in an image build, from where the build says packages come from: the
# wheelhouse $WHEELHOUSE alone (a URL or a directory of wheels: --no-index --find-links) when the
# build argument is set, else pip's default index. The one place the Dockerfile's installs get
# their source from.
#
#   uia-pip-install -c /build/constraints.txt -r /build/requirements.txt
#
# A wheelhouse served over plain HTTP from another host than localhost (the docker bridge's
# gateway, where `make test-compose` serves one) is trusted explicitly: pip ignores it otherwise.
set -eu
if [ -n "${WHEELHOUSE:-}" ]; then
    case "$WHEELHOUSE" in
        http://*)
            host="${WHEELHOUSE#http://}"
            host="${host%%/*}"
            set -- --trusted-host "${host%%:*}" "$@"
            ;;
    esac
    set -- --no-index --find-links "$WHEELHOUSE" "$@"
fi
exec pip install "$@"
