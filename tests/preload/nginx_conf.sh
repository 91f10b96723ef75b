#!/bin/sh
# nginx_conf.sh DIR PORT ROOT [WORKERS]: write DIR/nginx.conf, an nginx
# that runs in the foreground with WORKERS worker processes (default 1),
# keeps every file it writes in DIR, and serves ROOT on 127.0.0.1:PORT
# with sendfile, as Debian's own nginx.conf does (so the interposer's
# sendfile serves the files).
# Used by the interposer's tests and by bench/apps.sh.
set -eu
dir=$1 port=$2 root=$3 workers=${4:-1}
mkdir -p "$dir"
cat >"$dir/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $dir;
  proxy_temp_path $dir;
  fastcgi_temp_path $dir;
  uwsgi_temp_path $dir;
  scgi_temp_path $dir;
  keepalive_requests ${KEEPALIVE_REQUESTS:-1000};
  server { listen 127.0.0.1:$port; root $root; }
}
CONF
