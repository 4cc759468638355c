#!/bin/sh
# shellcheck shell=dash
# Run by `nc -ll -p 22 -e` for every connection to the production OS's port 22: an SSH
# identification string (RFC 4253 §4.2: "SSH-protoversion-softwareversion" CR LF), then the
# connection is held briefly for the client's own line and closed. Enough for a reachability
# check that expects SSH; no key exchange follows.
printf 'SSH-2.0-ironbay-lab\r\n'
timeout 5 head -n 1 >/dev/null 2>&1
exit 0
