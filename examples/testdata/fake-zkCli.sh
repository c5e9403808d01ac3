#!/bin/sh
# Stand-in for zkCli.sh in the example and e2e tests: `-server ADDR config`
# prints the ensemble kept in $FAKE_ZK_STATE (with log noise around it, as the
# real one prints); `-server ADDR reconfig [-add SPECS] [-remove IDS]` changes
# it, unless FAKE_ZK_MODE=ignore. FAKE_ZK_MODE=down fails every command. Every
# call is appended to $FAKE_ZK_LOG.
echo "zkCli.sh $*" >>"$FAKE_ZK_LOG"
[ "${FAKE_ZK_MODE:-}" != down ] || { echo "Connection refused" >&2; exit 1; }
[ "$1" = -server ] || exit 2
shift 2
cmd=$1; shift
echo "Connecting to 127.0.0.1:2181"
echo "WATCHER::"
echo "WatchedEvent state:SyncConnected type:None path:null"
case $cmd in
config)
  cat "$FAKE_ZK_STATE"
  echo "version=100000000"
  ;;
reconfig)
  [ "${FAKE_ZK_MODE:-}" != ignore ] || exit 0
  while [ $# -gt 0 ]; do
    case $1 in
    -add) echo "$2" | tr ',' '\n' >>"$FAKE_ZK_STATE" ;;
    -remove)
      for id in $(echo "$2" | tr ',' ' '); do
        grep -v "^server\.$id=" "$FAKE_ZK_STATE" >"$FAKE_ZK_STATE.new" || true
        mv "$FAKE_ZK_STATE.new" "$FAKE_ZK_STATE"
      done ;;
    *) exit 2 ;;
    esac
    shift 2
  done
  echo "Committed new configuration:"
  cat "$FAKE_ZK_STATE"
  ;;
*) exit 2 ;;
esac
