#!/usr/bin/env bash
# Builds the application images the real node runs, as OCI image layouts,
# without a registry or a container engine, and prints their directory:
#   pause     containerd's sandbox image (test/e2e/realnode/cmd/pause, static)
#   toolbox   the tests' client (test/e2e/realnode/cmd/toolbox, static)
#   nginx     Debian's nginx with its shared libraries and busybox's shell
#             and tools (the nginx-master example runs its script in it)
#   zookeeper Debian's ZooKeeper 3.8 with OpenJDK 17's runtime, bash and
#             busybox; zkServer.sh and zkCli.sh on PATH and the
#             configuration in /conf, as in the official image the
#             ZooKeeper example is written for
#   consul    Consul v1.16.3 built from its Go module (hack/consul-binary.sh)
#             with busybox, laid out as the official image the Consul
#             example is written for: /bin/consul, /consul/data,
#             /consul/config, an entrypoint adding -data-dir and -config-dir
# Each is <dir>/<name>, imported by test/plane as kennel.local/<name>:1.
# Built with the project's image tool (hack/tools/images --rootfs) from the
# files of the installed Debian packages (hack/ensure-test-deps.sh installs
# nginx-light and busybox), cached in $KENNEL_CACHE/realnode-images/<key>,
# where <key> hashes the sources, the package versions and the Go version.
#
#   hack/realnode-images.sh          build what is missing, print the dir
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"

pkgs="nginx-light nginx-common busybox zookeeper openjdk-17-jre-headless bash"
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    { log "package $p is not installed (hack/ensure-test-deps.sh installs it)"; exit 1; }
done

consul=$(hack/consul-binary.sh)
key=$(
  cat "$0" test/e2e/realnode/cmd/*/*.go hack/tools/images/*.go hack/tools/images/go.sum
  printf '%s\n' "$consul"
  dpkg-query -W $pkgs
  go env GOVERSION GOOS GOARCH
)
key=$(printf '%s' "$key" | sha256sum | cut -c1-12)
out=$KENNEL_CACHE/realnode-images/$key
if [ -f "$out/.complete" ]; then
  printf '%s\n' "$out"
  exit 0
fi
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
if [ -f "$out/.complete" ]; then printf '%s\n' "$out"; exit 0; fi

start=$SECONDS
tool=$(build_tool hack/tools/images . images)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
image() { # name entrypoint user [tool args...]
  local name=$1 path=$2 user=$3; shift 3
  "$tool" --name "$name" --path "$path" --user "$user" --version 1 --out "$out/$name" "$@" >&2
}

for cmd in pause toolbox; do
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/$cmd" "./test/e2e/realnode/cmd/$cmd"
done
image pause /pause 65535:65535 --binary "linux/amd64=$work/pause"
image toolbox /usr/local/bin/toolbox 65532:65532 --binary "linux/amd64=$work/toolbox" --arg sleep

# copy FILE...: into the rootfs $root with the shared libraries ldd lists.
root=$work/nginx
copy() {
  local f lib
  for f; do
    cp -L --parents "$f" "$root/"
    for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true); do
      [ -e "$root$lib" ] || cp -L --parents "$lib" "$root/"
    done
  done
}
mkdir -p "$root"/{bin,etc,run,tmp,var/log/nginx,var/lib/nginx,usr/share/nginx/html,etc/nginx}
chmod 1777 "$root/tmp"
copy /usr/sbin/nginx /bin/busybox
cp /etc/nginx/mime.types "$root/etc/nginx/"
mkdir -p "$root/usr/lib/nginx/modules" # nginx-light loads no dynamic module
for applet in $(/bin/busybox --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n' >"$root/etc/group"
rm "$root/usr/sbin/nginx"
# The image's PATH is /usr/local/bin:/usr/bin:/bin; the example runs `nginx`.
mkdir -p "$root/usr/local/bin"
ln -s /usr/sbin/nginx "$root/usr/local/bin/nginx"
image nginx /usr/sbin/nginx 0:0 --binary "linux/amd64=/usr/sbin/nginx" --rootfs "$root" --arg -g --arg "daemon off;"

# ZooKeeper: the server and zkCli.sh as Debian ships them, configured by
# the example's scripts in /conf.
root=$work/zookeeper
jvm=/usr/lib/jvm/java-17-openjdk-amd64
mkdir -p "$root"/{bin,conf,data,tmp,usr/local/bin,usr/share,etc/zookeeper/conf,usr/lib/jvm/java-17-openjdk-amd64}
chmod 1777 "$root/tmp"
# (lib/src.zip is a dangling link without the JDK's sources: skipped)
cp -rL "$jvm/lib" "$jvm/conf" "$root$jvm/" 2>/dev/null || [ -e "$root$jvm/lib/modules" ]
mkdir -p "$root$jvm/bin" && cp -L "$jvm/bin/java" "$root$jvm/bin/"
copy /bin/bash /bin/busybox "$jvm/bin/java" $(find "$jvm/lib" -name '*.so' | sort)
cp -rL /usr/share/java "$root/usr/share/"
cp -rL /usr/share/zookeeper "$root/usr/share/"
cp -L /etc/zookeeper/conf_example/log4j.properties "$root/etc/zookeeper/conf/"
for applet in $(/bin/busybox --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
mkdir -p "$root/usr/bin" && ln -s /bin/busybox "$root/usr/bin/env" # the scripts' #!/usr/bin/env bash
rm -f "$root/usr/share/zookeeper/bin/zkEnv.sh"
cat >"$root/usr/share/zookeeper/bin/zkEnv.sh" <<'ENV'
# zkEnv.sh of kennel's real-node ZooKeeper image: configuration in /conf.
ZOOMAIN=org.apache.zookeeper.server.quorum.QuorumPeerMain
ZOOCFGDIR=${ZOOCFGDIR:-/conf}
ZOOCFG=${ZOOCFG:-/conf/zoo.cfg}
ZOO_LOG_DIR=${ZOO_LOG_DIR:-/tmp}
ZOO_LOG4J_PROP=${ZOO_LOG4J_PROP:-INFO,CONSOLE}
JAVA=/usr/lib/jvm/java-17-openjdk-amd64/bin/java
CLASSPATH="/conf:/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
ENV
for s in zkServer.sh zkCli.sh; do
  printf '#!/bin/bash\nexec /usr/share/zookeeper/bin/%s "$@"\n' "$s" >"$root/usr/local/bin/$s"
  chmod 0755 "$root/usr/local/bin/$s"
done
printf 'root:x:0:0:root:/root:/bin/sh\nzookeeper:x:1000:1000:zookeeper:/data:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nzookeeper:x:1000:\n' >"$root/etc/group"
rm "$root/bin/bash"
image zookeeper /bin/bash 0:0 --binary "linux/amd64=/bin/bash" --rootfs "$root"

# Consul: the static binary, busybox for the example's probe (sh, grep) and
# the entrypoint. As the official image's entrypoint does, `agent ...` (or
# flags alone) runs `consul agent -data-dir=/consul/data
# -config-dir=/consul/config ...`, a consul subcommand runs consul, anything
# else runs as given. It runs as root (the official one switches to its
# consul user after chowning /consul/data; busybox has no su-exec).
root=$work/consul
mkdir -p "$root"/{bin,etc,tmp,consul/data,consul/config,usr/bin}
chmod 1777 "$root/tmp"
copy /bin/busybox
for applet in $(/bin/busybox --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
ln -s /bin/busybox "$root/usr/bin/env"
cp "$consul" "$root/bin/consul"
cat >"$work/consul-entrypoint.sh" <<'ENTRY'
#!/bin/sh
# Entrypoint of kennel's real-node consul image (see hack/realnode-images.sh).
set -e
if [ "${1#-}" != "$1" ]; then
  set -- agent "$@"
fi
if [ "$1" = agent ]; then
  shift
  set -- consul agent -data-dir=/consul/data -config-dir=/consul/config "$@"
elif [ -n "$1" ] && consul "$1" --help >/dev/null 2>&1; then
  set -- consul "$@"
fi
exec "$@"
ENTRY
chmod 0755 "$work/consul-entrypoint.sh"
printf 'root:x:0:0:root:/root:/bin/sh\nconsul:x:100:1000:consul:/consul:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nconsul:x:1000:\n' >"$root/etc/group"
image consul /usr/local/bin/docker-entrypoint.sh 0:0 --binary "linux/amd64=$work/consul-entrypoint.sh" \
  --rootfs "$root" --arg agent --arg -dev --arg -client --arg 0.0.0.0

touch "$out/.complete"
log "real-node images built in $((SECONDS - start))s: $out"
printf '%s\n' "$out"
