#!/usr/bin/env bash
# Installs the system packages that tests need, when missing:
#   nginx   examples/ checks generated nginx configs with a real nginx
#           (nginx -t, and a master/proxy pair on 127.0.0.1).
#   busybox examples/ runs the example scripts under busybox sh too (the
#           shell of Alpine-based images such as hashicorp/consul).
#   dash, bash  examples/ runs them under dash (Debian-based images) and
#           bash --posix as well; a missing shell fails those tests.
#   zookeeper  test/e2e/examples runs the ZooKeeper example's scripts with
#           real ZooKeeper servers (Debian's package, with a Java runtime).
#   containerd, runc, containernetworking-plugins, iptables
#           test/e2e/realnode runs a real node (kubelet, containerd, bridge
#           CNI, kube-proxy) beside the local plane.
# Idempotent and quiet when everything is present. Runs `apt-get update` only
# when a package has to be installed. Needs root (or sudo) and apt-get; on
# other systems it says what is missing and exits 0, and the tests that need
# the package skip (unless KENNEL_E2E_REQUIRED=1, which makes them fail).
set -euo pipefail

# command-or-absolute-path package
deps=(
  "nginx nginx-light"
  "busybox busybox"
  "dash dash"
  "bash bash"
  "/usr/share/java/zookeeper.jar zookeeper"
  "containerd containerd"
  "runc runc"
  "/usr/lib/cni/bridge containernetworking-plugins"
  "iptables iptables"
)

missing=()
for d in "${deps[@]}"; do
  cmd=${d%% *} pkg=${d#* }
  case $cmd in
    /*) [ -e "$cmd" ] || missing+=("$pkg") ;;
    *) command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg") ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-test-deps: missing ${missing[*]} and no apt-get; install them by hand" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
    echo "ensure-test-deps: missing ${missing[*]}; not root and no sudo" >&2
    exit 0
  fi
fi

echo "ensure-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Update the package lists only when the package is unknown to apt.
need_update=0
for p in "${missing[@]}"; do
  if ! apt-cache show "$p" >/dev/null 2>&1; then need_update=1; fi
done
if [ $need_update -eq 1 ]; then
  $sudo apt-get update -qq >/dev/null
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages start system services on some systems (nginx on :80,
# zookeeper on :2181); tests run their own instances and need none.
if command -v systemctl >/dev/null 2>&1; then
  $sudo systemctl disable --now nginx zookeeper containerd >/dev/null 2>&1 || true
fi
