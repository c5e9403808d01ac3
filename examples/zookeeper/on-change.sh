#!/bin/sh
# on-change script of kennel's ZooKeeper example, run by peer-finder in a
# sidecar each time the set of pets changes:
#
#   peer-finder --on-change=/kennel/scripts/on-change.sh --service=zk --settle=20s
#
# stdin: one peer FQDN per line (this pet included).
# env:   ORDINAL (this pet's ordinal), set by peer-finder.
#
# Only the pet with the lowest ordinal among the peers acts, so that one
# reconfiguration runs at a time. It reads the ensemble from its own server
# (`zkCli.sh config`) and makes it match the peers with one incremental
# `reconfig`: `-add` for pets not yet in the ensemble (scale up), `-remove` for
# servers whose pet is gone (scale down). A reconfiguration needs a quorum of
# the current ensemble; when it fails, the script exits 1 and peer-finder
# retries.
#
# Settings (env), production defaults first:
#   ZKCLI            zkCli.sh
#   ZK_SERVER        127.0.0.1:2181 (this pet's own server)
#   CLIENT_PORT      2181
#   QUORUM_PORT      2888
#   ELECTION_PORT    3888
#   CLIENT_LISTEN    all: servers take clients on 0.0.0.0:CLIENT_PORT; peer: each
#                    server on its own name's address (several servers on one
#                    machine, as in the tests)
set -eu

ZKCLI=${ZKCLI:-zkCli.sh}
ZK_SERVER=${ZK_SERVER:-127.0.0.1:2181}
CLIENT_PORT=${CLIENT_PORT:-2181}
QUORUM_PORT=${QUORUM_PORT:-2888}
ELECTION_PORT=${ELECTION_PORT:-3888}
CLIENT_LISTEN=${CLIENT_LISTEN:-all}

# client_address PEER: where the server of PEER takes clients.
client_address() {
  case $CLIENT_LISTEN in
    all) echo "0.0.0.0:$CLIENT_PORT" ;;
    peer) echo "$1:$CLIENT_PORT" ;;
    *) die "CLIENT_LISTEN=$CLIENT_LISTEN: want all or peer" ;;
  esac
}

die() { echo "on-change: $*" >&2; exit 1; }
log() { echo "on-change: $*" >&2; }

ordinal_of() {
  label=${1%%.*}
  o=${label##*-}
  case $o in
    '' | *[!0-9]*) return 1 ;;
  esac
  [ "$label" != "$o" ] || return 1
  echo "$o"
}

ord=${ORDINAL:-}
if [ -z "$ord" ]; then
  ord=$(ordinal_of "$(hostname)") || die "ORDINAL is not set and the hostname has no ordinal"
fi

# Desired ensemble: "<id> <server spec>" per peer.
desired="" lowest=""
while IFS= read -r peer || [ -n "$peer" ]; do
  peer=${peer%.}
  [ -n "$peer" ] || continue
  o=$(ordinal_of "$peer") || die "peer $peer has no ordinal suffix"
  if [ -z "$lowest" ] || [ "$o" -lt "$lowest" ]; then lowest=$o; fi
  desired="${desired}$((o + 1)) server.$((o + 1))=$peer:$QUORUM_PORT:$ELECTION_PORT:participant;$(client_address "$peer")
"
done
[ -n "$desired" ] || die "no peers on stdin"

if [ "$ord" != "$lowest" ]; then
  log "pet $ord is not the lowest of the peers ($lowest); nothing to do"
  exit 0
fi

# ensemble prints the server ids of the ensemble, as this pet's server knows
# it (lines server.<id>=... of `zkCli.sh config`).
ensemble() {
  "$ZKCLI" -server "$ZK_SERVER" config 2>/dev/null | sed -n 's/^server\.\([0-9][0-9]*\)=.*/\1/p' || true
}

current=$(ensemble)
[ -n "$current" ] || die "could not read the ensemble from $ZK_SERVER"

has() { # has ID LIST
  for x in $2; do [ "$x" = "$1" ] && return 0; done
  return 1
}

add="" want=""
while read -r id spec; do
  [ -n "$id" ] || continue
  want="$want $id"
  if ! has "$id" "$current"; then add="${add:+$add,}$spec"; fi
done <<EOD
$desired
EOD

remove=""
for id in $current; do
  if ! has "$id" "$want"; then remove="${remove:+$remove,}$id"; fi
done

if [ -z "$add" ] && [ -z "$remove" ]; then
  log "the ensemble already is servers$want"
  exit 0
fi

set -- -server "$ZK_SERVER" reconfig
[ -z "$add" ] || set -- "$@" -add "$add"
[ -z "$remove" ] || set -- "$@" -remove "$remove"
log "reconfig${add:+ -add $add}${remove:+ -remove $remove}"
"$ZKCLI" "$@" >&2 || die "reconfig failed"

# zkCli.sh does not always exit non-zero when a command fails: check.
now=$(ensemble)
for id in $want; do has "$id" "$now" || die "after reconfig, server.$id is still not in the ensemble"; done
for id in $now; do has "$id" "$want" || die "after reconfig, server.$id is still in the ensemble"; done
log "the ensemble now is servers$want"
