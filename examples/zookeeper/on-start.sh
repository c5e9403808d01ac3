#!/bin/sh
# on-start script of kennel's ZooKeeper example, run by peer-finder in an init
# container before ZooKeeper starts:
#
#   peer-finder --on-start=/kennel/scripts/on-start.sh --service=zk
#
# stdin: one peer FQDN per line (this pet included).
# env:   ORDINAL (this pet's ordinal), SELF (its FQDN), set by peer-finder.
#
# Writes:
#   $ZK_DATA_DIR/myid             ORDINAL + 1 (from this pet's own name, never
#                                 from its position in the peer list)
#   $ZK_CONF_DIR/zoo.cfg          static settings, dynamic reconfiguration on
#   $ZK_CONF_DIR/zoo.cfg.dynamic  server.<ordinal+1>=<fqdn>:2888:3888:participant;0.0.0.0:2181
#                                 for every peer, ids from each peer's own ordinal
#
# A pet that starts while an ensemble already runs finds that ensemble plus
# itself here; ZooKeeper admits it as a non-voting follower until the
# on-change script (in the sidecar of the lowest pet) runs `reconfig -add`.
#
# Settings (env), production defaults first:
#   ZK_CONF_DIR      /conf       (the official image's ZOO_CONF_DIR)
#   ZK_DATA_DIR      /data
#   ZK_DATA_LOG_DIR  $ZK_DATA_DIR/log (transaction logs on the volume)
#   CLIENT_PORT      2181
#   QUORUM_PORT      2888
#   ELECTION_PORT    3888
#   QUORUM_LISTEN_ALL  quorumListenOnAllIPs: true (pods), false (each server
#                    binds its own name's address, as in the tests)
#   CLIENT_LISTEN    all: servers take clients on 0.0.0.0:CLIENT_PORT; peer: each
#                    server on its own name's address (several servers on one
#                    machine, as in the tests)
set -eu

ZK_CONF_DIR=${ZK_CONF_DIR:-/conf}
ZK_DATA_DIR=${ZK_DATA_DIR:-/data}
ZK_DATA_LOG_DIR=${ZK_DATA_LOG_DIR:-$ZK_DATA_DIR/log}
CLIENT_PORT=${CLIENT_PORT:-2181}
QUORUM_PORT=${QUORUM_PORT:-2888}
ELECTION_PORT=${ELECTION_PORT:-3888}
CLIENT_LISTEN=${CLIENT_LISTEN:-all}
QUORUM_LISTEN_ALL=${QUORUM_LISTEN_ALL:-true}

# client_address PEER: where the server of PEER takes clients.
client_address() {
  case $CLIENT_LISTEN in
    all) echo "0.0.0.0:$CLIENT_PORT" ;;
    peer) echo "$1:$CLIENT_PORT" ;;
    *) die "CLIENT_LISTEN=$CLIENT_LISTEN: want all or peer" ;;
  esac
}

die() { echo "on-start: $*" >&2; exit 1; }

# ordinal_of NAME prints the ordinal suffix of the first DNS label of NAME.
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
case $ord in
  '' | *[!0-9]*) die "ORDINAL=$ord is not a number" ;;
esac
myid=$((ord + 1))

servers="" count=0
while IFS= read -r peer || [ -n "$peer" ]; do
  peer=${peer%.}
  [ -n "$peer" ] || continue
  o=$(ordinal_of "$peer") || die "peer $peer has no ordinal suffix"
  servers="${servers}server.$((o + 1))=$peer:$QUORUM_PORT:$ELECTION_PORT:participant;$(client_address "$peer")
"
  count=$((count + 1))
done
[ "$count" -gt 0 ] || die "no peers on stdin"
case $servers in
  *"server.$myid="*) ;;
  *) die "this pet (server.$myid) is not among the peers" ;;
esac

mkdir -p "$ZK_CONF_DIR" "$ZK_DATA_DIR" "$ZK_DATA_LOG_DIR"

write() { # write FILE: stdin to FILE, atomically
  cat >"$1.tmp.$$" && mv "$1.tmp.$$" "$1"
}

echo "$myid" | write "$ZK_DATA_DIR/myid"

printf '%s' "$servers" | write "$ZK_CONF_DIR/zoo.cfg.dynamic"

write "$ZK_CONF_DIR/zoo.cfg" <<CFG
# Written by the on-start script of kennel's ZooKeeper example.
# The ensemble is in dynamicConfigFile; ZooKeeper rewrites both files when
# the ensemble is reconfigured.
dataDir=$ZK_DATA_DIR
dataLogDir=$ZK_DATA_LOG_DIR
tickTime=2000
initLimit=10
syncLimit=5
autopurge.snapRetainCount=3
autopurge.purgeInterval=24
standaloneEnabled=false
reconfigEnabled=true
skipACL=yes
quorumListenOnAllIPs=$QUORUM_LISTEN_ALL
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,mntr,conf
dynamicConfigFile=$ZK_CONF_DIR/zoo.cfg.dynamic
CFG

echo "on-start: myid $myid, $count server(s) in $ZK_CONF_DIR/zoo.cfg.dynamic" >&2
