# scripts/bench-proxies.sh: nginx and HAProxy as reference reverse proxies for benchmarks.
#
# Sourced by local-runtime/bench.sh (gateway throughput). Both proxies forward to one upstream
# (a demo-app task) with the gateway's `/blue` route semantics: plain string prefix `/blue`,
# rewritten to `/` without producing `//` (`/blue` -> `/`, `/blue/x` -> `/x`, `/bluex` -> `/x`),
# query kept. They run in the foreground under the caller's control, bound to 127.0.0.1 on free
# ports, with their configs, pid and logs in a directory the caller owns.
#
# Settings chosen as a user would for a fair comparison on 2 cores:
#   nginx:   2 worker processes, HTTP/1.1 upstream keepalive pool, no access log.
#   HAProxy: 2 threads, `http-reuse always`, no logging.
# Timeouts match the gateway's (15 s upstream, 2 s connect, 75 s client keep-alive).

# Prints a free TCP port on 127.0.0.1 (the OS picks it; a small race until the proxy binds it).
proxies_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The Debian packages the proxy benchmark needs and which of them are missing.
proxies_missing_packages() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  command -v curl >/dev/null || missing+=(curl)
  echo "${missing[@]}"
}

# Installs what is missing with apt-get when root; otherwise says what to install and fails.
# The packages' own services are not started: policy-rc.d answers 101 for the duration.
proxies_install() {
  local missing
  missing=$(proxies_missing_packages)
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing: $missing; install these Debian packages (nginx-light will do for nginx)" \
      "with apt-get install -y $missing, then run again" >&2
    return 1
  fi
  echo "installing $missing (apt-get)" >&2
  local policy=/usr/sbin/policy-rc.d created=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
  fi
  local rc=0
  apt-get update -qq >&2 || rc=$?
  # nginx-light (Debian 12 and older) is nginx without the modules a reverse proxy does not need.
  if [[ " $missing " == *" nginx "* ]] && apt-cache show nginx-light >/dev/null 2>&1; then
    missing=${missing/nginx/nginx-light}
  fi
  # shellcheck disable=SC2086 # one word per package
  [ "$rc" != 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2 || rc=$?
  [ -n "$created" ] && rm -f "$policy"
  return $rc
}

# proxies_write_nginx DIR UPSTREAM(host:port) PORT: DIR/nginx.conf
proxies_write_nginx() {
  local dir=$1 upstream=$2 port=$3
  mkdir -p "$dir/nginx"
  cat >"$dir/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/body;
  proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi;
  uwsgi_temp_path $dir/nginx/uwsgi;
  scgi_temp_path $dir/nginx/scgi;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  upstream task {
    server $upstream;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$port;
    location /blue {
      rewrite ^/blue/?(.*)\$ /\$1 break;
      proxy_pass http://task;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 2s;
      proxy_read_timeout 15s;
    }
    location / { return 404; }
  }
}
EOF
}

# proxies_write_haproxy DIR UPSTREAM(host:port) PORT: DIR/haproxy.cfg
proxies_write_haproxy() {
  local dir=$1 upstream=$2 port=$3
  mkdir -p "$dir/haproxy"
  cat >"$dir/haproxy/haproxy.cfg" <<EOF
global
  nbthread 2
  maxconn 8192
defaults
  mode http
  timeout connect 2s
  timeout client 75s
  timeout server 15s
  timeout http-keep-alive 75s
  http-reuse always
frontend gateway
  bind 127.0.0.1:$port
  use_backend task if { path_beg /blue }
backend task
  http-request replace-path ^/blue/?(.*) /\1
  server task1 $upstream
EOF
}

# Waits until URL answers anything over HTTP (at most 5 s).
proxies_wait_http() {
  local url=$1
  for _ in $(seq 50); do
    curl -s -o /dev/null --max-time 1 "$url" && return 0
    sleep 0.1
  done
  echo "no answer from $url within 5 s" >&2
  return 1
}

# proxies_start DIR UPSTREAM: starts both proxies in the foreground (background jobs of this
# shell), sets NGINX_URL, HAPROXY_URL, NGINX_PID, HAPROXY_PID. Call proxies_stop on exit.
proxies_start() {
  local dir=$1 upstream=$2 nginx_port haproxy_port
  nginx_port=$(proxies_free_port)
  haproxy_port=$(proxies_free_port)
  proxies_write_nginx "$dir" "$upstream" "$nginx_port"
  proxies_write_haproxy "$dir" "$upstream" "$haproxy_port"
  local nginx haproxy
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
  "$nginx" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -g 'daemon off;' 2>>"$dir/nginx/stderr.log" &
  NGINX_PID=$!
  "$haproxy" -db -f "$dir/haproxy/haproxy.cfg" >>"$dir/haproxy/stderr.log" 2>&1 &
  HAPROXY_PID=$!
  NGINX_URL=http://127.0.0.1:$nginx_port
  HAPROXY_URL=http://127.0.0.1:$haproxy_port
  proxies_wait_http "$NGINX_URL/blue" || { cat "$dir/nginx/stderr.log" "$dir/nginx/error.log" >&2; return 1; }
  proxies_wait_http "$HAPROXY_URL/blue" || { cat "$dir/haproxy/stderr.log" >&2; return 1; }
}

# Stops the proxies this shell started (by pid), waiting for them to exit.
proxies_stop() {
  local pid
  for pid in ${NGINX_PID:-} ${HAPROXY_PID:-}; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in ${NGINX_PID:-} ${HAPROXY_PID:-}; do
    wait "$pid" 2>/dev/null || true
  done
  NGINX_PID= HAPROXY_PID=
}
