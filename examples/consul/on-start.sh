#!/bin/sh
# on-start script of kennel's Consul example, run by peer-finder in an init
# container before the Consul server starts:
#
#   peer-finder --on-start=/kennel/scripts/on-start.sh --service=consul --min-peers=3
#
# stdin: one peer FQDN per line (this pet included).
#
# Writes a Consul configuration file (JSON) with
#   bootstrap_expect  the number of peers (with --min-peers equal to the
#                     replicas, that is the replicas of the set)
#   retry_join        one entry per peer, by stable DNS name
# The official image's entrypoint passes -config-dir=/consul/config, so the
# server reads it along with the flags of the container's args.
#
# Settings (env), production defaults first:
#   CONSUL_PEERS_CONFIG  /consul/config/kennel-peers.json
set -eu

CONSUL_PEERS_CONFIG=${CONSUL_PEERS_CONFIG:-/consul/config/kennel-peers.json}

die() { echo "on-start: $*" >&2; exit 1; }

joins="" count=0
while IFS= read -r peer || [ -n "$peer" ]; do
  peer=${peer%.}
  [ -n "$peer" ] || continue
  case $peer in
    *[!A-Za-z0-9.-]*) die "peer $peer is not a DNS name" ;;
  esac
  joins="${joins:+$joins,
}    \"$peer\""
  count=$((count + 1))
done
[ "$count" -gt 0 ] || die "no peers on stdin"

mkdir -p "$(dirname "$CONSUL_PEERS_CONFIG")"
tmp=$CONSUL_PEERS_CONFIG.tmp.$$
cat >"$tmp" <<JSON
{
  "bootstrap_expect": $count,
  "retry_join": [
$joins
  ]
}
JSON
mv "$tmp" "$CONSUL_PEERS_CONFIG"
echo "on-start: bootstrap_expect $count, $count retry_join address(es) in $CONSUL_PEERS_CONFIG" >&2
