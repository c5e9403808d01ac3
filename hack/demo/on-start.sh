#!/bin/sh
# The demo's on-start script: peer-finder runs it once the pet finds itself
# in DNS, with the peer FQDNs on stdin, one per line. A real set would write
# its cluster configuration here; the demo records and prints the list.
peers=$(cat)
[ -n "${DEMO_PEERS_OUT:-}" ] && printf '%s\n' "$peers" > "$DEMO_PEERS_OUT"
n=$(printf '%s\n' "$peers" | grep -c .)
echo "on-start: $n peer(s):"
printf '%s\n' "$peers" | sed 's/^/    /'
