#!/bin/sh
# on-start script of kennel's nginx-master example, run by peer-finder:
#
#   peer-finder --on-start=/kennel/scripts/on-start.sh --service=nginx
#
# stdin: one peer FQDN per line (the pets of the set, this one included).
# env:   SELF (this pet's FQDN), set by peer-finder.
#
# Writes a complete nginx configuration. The master is the pet with the lowest
# ordinal among the peers (pet 0 once it exists): it serves files. Every other
# pet proxies all requests to the master by its stable DNS name, re-resolved
# through RESOLVER, so the proxy follows the master if its IP changes.
#
# Settings (env), production defaults first:
#   NGINX_CONF        file to write                  /etc/nginx/kennel/nginx.conf
#   LISTEN            listen address[:port]          80
#   MASTER_PORT       port the master listens on     80
#   HTML_ROOT         what the master serves         /usr/share/nginx/html
#   RESOLVER          DNS server for the proxies     first nameserver of RESOLV_CONF
#   RESOLV_CONF       resolver configuration         /etc/resolv.conf
#   PID_FILE          nginx pid file                 /var/run/nginx.pid
#   ERROR_LOG         error log                      /dev/stderr
#   ACCESS_LOG        access log                     /dev/stdout
#   WORKER_PROCESSES  worker_processes               auto
#   TEMP_DIR          if set, directory for nginx's temporary files
#   SEED_INDEX        the master writes HTML_ROOT/index.html   1
#                     when missing (0: never)
#   NGINX_USER        if set, the user directive
set -eu

NGINX_CONF=${NGINX_CONF:-/etc/nginx/kennel/nginx.conf}
LISTEN=${LISTEN:-80}
MASTER_PORT=${MASTER_PORT:-80}
HTML_ROOT=${HTML_ROOT:-/usr/share/nginx/html}
PID_FILE=${PID_FILE:-/var/run/nginx.pid}
ERROR_LOG=${ERROR_LOG:-/dev/stderr}
ACCESS_LOG=${ACCESS_LOG:-/dev/stdout}
WORKER_PROCESSES=${WORKER_PROCESSES:-auto}
TEMP_DIR=${TEMP_DIR:-}
NGINX_USER=${NGINX_USER:-}
RESOLV_CONF=${RESOLV_CONF:-/etc/resolv.conf}
SEED_INDEX=${SEED_INDEX:-1}

die() { echo "on-start: $*" >&2; exit 1; }

self=${SELF:-}
[ -n "$self" ] || self=$(hostname -f) || die "SELF is not set and hostname -f failed"
self=${self%.}

# The master: the peer whose first label has the lowest ordinal suffix.
master="" master_ord="" count=0
while IFS= read -r peer || [ -n "$peer" ]; do
  peer=${peer%.}
  [ -n "$peer" ] || continue
  count=$((count + 1))
  label=${peer%%.*}
  ord=${label##*-}
  case $ord in
    '' | *[!0-9]*) die "peer $peer has no ordinal suffix" ;;
  esac
  if [ -z "$master_ord" ] || [ "$ord" -lt "$master_ord" ]; then
    master=$peer master_ord=$ord
  fi
done
[ "$count" -gt 0 ] || die "no peers on stdin"

if [ "$master" = "$self" ]; then role=master; else role=proxy; fi

if [ "$role" = proxy ] && [ -z "${RESOLVER:-}" ]; then
  RESOLVER=""
  if [ -r "$RESOLV_CONF" ]; then
    while read -r key value _; do
      if [ "$key" = nameserver ] && [ -n "$value" ]; then RESOLVER=$value; break; fi
    done <"$RESOLV_CONF"
  fi
  [ -n "$RESOLVER" ] || die "no nameserver in $RESOLV_CONF; set RESOLVER"
  case $RESOLVER in
    *:*) RESOLVER="[$RESOLVER]" ;; # IPv6
  esac
fi

mkdir -p "$(dirname "$NGINX_CONF")"
tmp=$NGINX_CONF.tmp.$$
trap 'rm -f "$tmp"' EXIT
{
  echo "# Written by the on-start script of kennel's nginx-master example."
  echo "# self: $self"
  echo "# peers: $count"
  echo "# role: $role (master: $master)"
  [ -z "$NGINX_USER" ] || echo "user $NGINX_USER;"
  echo "worker_processes $WORKER_PROCESSES;"
  echo "pid $PID_FILE;"
  echo "error_log $ERROR_LOG notice;"
  echo ""
  echo "events {"
  echo "    worker_connections 1024;"
  echo "}"
  echo ""
  echo "http {"
  echo "    access_log $ACCESS_LOG;"
  if [ -n "$TEMP_DIR" ]; then
    for t in client_body proxy fastcgi uwsgi scgi; do
      echo "    ${t}_temp_path $TEMP_DIR/$t;"
    done
  fi
  echo "    types {"
  echo "        text/html html htm;"
  echo "        text/css css;"
  echo "        text/plain txt;"
  echo "        application/javascript js;"
  echo "        application/json json;"
  echo "        image/png png;"
  echo "        image/svg+xml svg;"
  echo "    }"
  echo "    default_type application/octet-stream;"
  if [ "$role" = proxy ]; then
    echo "    resolver $RESOLVER valid=10s;"
  fi
  echo ""
  echo "    server {"
  echo "        listen $LISTEN;"
  if [ "$role" = master ]; then
    echo "        add_header X-Kennel-Served-By $self always;"
    echo "        location / {"
    echo "            root $HTML_ROOT;"
    echo "            index index.html;"
    echo "        }"
  else
    echo "        add_header X-Kennel-Proxied-By $self always;"
    echo "        location / {"
    echo "            # A variable makes nginx resolve the name at request time."
    echo "            set \$kennel_master http://$master:$MASTER_PORT;"
    echo "            proxy_pass \$kennel_master;"
    echo "            proxy_set_header Host \$host;"
    echo "            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;"
    echo "        }"
  fi
  echo "    }"
  echo "}"
} >"$tmp"
mv "$tmp" "$NGINX_CONF"
trap - EXIT

# A fresh master volume has nothing to serve: give it a page naming the master.
if [ "$role" = master ] && [ "$SEED_INDEX" = 1 ] && [ ! -e "$HTML_ROOT/index.html" ]; then
  mkdir -p "$HTML_ROOT"
  printf '<!doctype html>\n<title>kennel nginx-master</title>\n<p>Served by the master, %s.</p>\n' "$self" >"$HTML_ROOT/index.html"
fi
# nginx's workers run unprivileged (nobody, or the image's nginx user) and
# must enter the directory the master serves; volumes are often created
# 0750 root (the hostpath provisioner's are), which answers every request
# with 403. Open the directory itself, not the files in it.
if [ "$role" = master ] && [ -d "$HTML_ROOT" ] && [ "$(id -u)" = 0 ]; then
  chmod a+rx "$HTML_ROOT" || echo "on-start: cannot open $HTML_ROOT to nginx's workers" >&2
fi
echo "on-start: $self is the $role of $count pet(s); wrote $NGINX_CONF" >&2
