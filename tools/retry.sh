#!/usr/bin/env bash
# Run a command (a pip install), and run it again when it fails, up to RETRY_TRIES
# times in all, RETRY_WAIT seconds apart: a registry download can break off mid-file
# (a 620 MB TensorFlow wheel did, in a CI run), and a fresh try usually gets through.
#   tools/retry.sh COMMAND [ARGUMENT...]
tries="${RETRY_TRIES:-3}" wait="${RETRY_WAIT:-30}"
for ((attempt = 1; ; attempt++)); do
  "$@" && exit 0
  status=$?
  if ((attempt >= tries)); then
    echo "error: failed $tries times (exit $status): $*" >&2
    echo "If a download broke off, check the network or the package index, then run the same make command again." >&2
    exit "$status"
  fi
  echo "failed (exit $status, try $attempt of $tries): $*; trying again in $wait s" >&2
  sleep "$wait"
done
