# Shared by the HTTP load scripts (sourced, never run): the work directory and its clean-up, the
# load target (`http_target`: the development authorization server and the rmcp example,
# unprotected and protected) and nginx as a plain reverse proxy of the unprotected one.

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts `http_target` and waits for its line of URLs and tokens; `get NAME` reads one.
start_target() {
  ./target/release/http_target > "$work/target.json" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/target.json" ] && break; sleep 0.1; done
  target_line=$(head -n1 "$work/target.json")
  upstream=$(get unprotected)                    # http://127.0.0.1:PORT/mcp
  upstream_authority=${upstream#http://}; upstream_authority=${upstream_authority%%/*}
}
get() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$target_line" "$1"; }

# Starts nginx with WORKERS worker processes as a plain reverse proxy in front of the unprotected
# upstream: the configuration MCP servers are given behind nginx (HTTP/1.1 and keepalive to the
# upstream, no buffering for SSE, no access log, no auth). Sets nginx_url and nginx_pid_file.
start_nginx() {
  local workers=$1 nginx_bin port
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  port=$(free_port)
  mkdir -p "$work/nginx/logs"
  cat > "$work/nginx/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $work/nginx/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  upstream mcp { server $upstream_authority; keepalive 128; }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://mcp;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $upstream_authority;
      proxy_buffering off;
    }
  }
}
CONF
  "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
  pids+=($!)
  nginx_url="http://127.0.0.1:$port/mcp"
  nginx_pid_file="$work/nginx/nginx.pid"
  for _ in $(seq 100); do [ -s "$nginx_pid_file" ] && break; sleep 0.1; done
}
