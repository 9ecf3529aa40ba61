#!/bin/sh
# Entry point of the TinyMLaaS images: `tinymlaas ARGS`. Before `serve`, the database schema is
# brought up to date on its own (`tinymlaas db upgrade`), so a failing migration stops the
# container with its error instead of a half-started server.
set -e
if [ "$1" = "serve" ]; then
  tinymlaas db upgrade
fi
exec tinymlaas "$@"
