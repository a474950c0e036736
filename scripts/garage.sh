#!/usr/bin/env bash
# A local S3 for development and tests: one Garage node on 127.0.0.1 with its data under .local/.
#   scripts/garage.sh up     install if missing, start, create key and buckets (idempotent)
#   scripts/garage.sh down   stop the node
# `up` writes .local/garage/dev.env (bucket s3drop) and .local/garage/test.env (bucket s3drop-test).
source "$(dirname "$0")/lib.sh"

# GARAGE_DIR and the ports let the fault suite run a second, private node it may stop at will.
DIR="${GARAGE_DIR:-$LOCAL/garage}"
CFG="$DIR/garage.toml"
S3_PORT="${GARAGE_S3_PORT:-3900}"
RPC_PORT="${GARAGE_RPC_PORT:-3901}"
ADMIN_PORT="${GARAGE_ADMIN_PORT:-3903}"
REGION=garage
KEY_NAME=s3drop-local
BUCKETS="s3drop s3drop-test"

g() { garage -c "$CFG" "$@"; }

write_config() {
  [ -f "$CFG" ] && return
  mkdir -p "$DIR/meta" "$DIR/data"
  cat > "$CFG" <<TOML
metadata_dir = "$DIR/meta"
data_dir = "$DIR/data"
db_engine = "sqlite"
replication_factor = 1

rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$ADMIN_PORT"
TOML
  chmod 600 "$CFG"
}

running() { [ -f "$DIR/pid" ] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; }

start() {
  if running; then skip "garage: running (pid $(cat "$DIR/pid"))"; return; fi
  say "starting garage on 127.0.0.1:$S3_PORT"
  nohup garage -c "$CFG" server >> "$DIR/garage.log" 2>&1 &
  echo $! > "$DIR/pid"
  for _ in $(seq 1 100); do
    if g status >/dev/null 2>&1; then return; fi
    running || die "garage exited; see $DIR/garage.log"
    sleep 0.2
  done
  die "garage did not answer within 20 s; see $DIR/garage.log"
}

ensure_layout() {
  if g status 2>/dev/null | grep -q "NO ROLE ASSIGNED"; then
    say "assigning the single-node layout"
    local id; id="$(g node id -q 2>/dev/null | cut -d@ -f1)"
    g layout assign -z dc1 -c 1G "$id" >/dev/null
    local v; v="$(g layout show 2>/dev/null | sed -n 's/.*[Cc]urrent cluster layout version: *\([0-9]*\).*/\1/p' | head -n1)"
    g layout apply --version "$(( ${v:-0} + 1 ))" >/dev/null
  else
    skip "garage layout: applied"
  fi
}

ensure_key() {
  if ! g key info "$KEY_NAME" >/dev/null 2>&1; then
    say "creating access key $KEY_NAME"
    g key create "$KEY_NAME" >/dev/null
  else
    skip "garage key $KEY_NAME: present"
  fi
  local info; info="$(g key info --show-secret "$KEY_NAME")"
  KEY_ID="$(printf '%s\n' "$info" | sed -n 's/^ *Key ID: *//p' | head -n1)"
  SECRET="$(printf '%s\n' "$info" | sed -n 's/^ *Secret key: *//p' | head -n1)"
  [ -n "$KEY_ID" ] && [ -n "$SECRET" ] || die "could not read the key from 'garage key info'"
}

ensure_buckets() {
  for b in $BUCKETS; do
    if g bucket info "$b" >/dev/null 2>&1; then skip "bucket $b: present"
    else say "creating bucket $b"; g bucket create "$b" >/dev/null; fi
    g bucket allow --read --write --owner "$b" --key "$KEY_NAME" >/dev/null
  done
}

write_env() {
  local bucket="$1" file="$2"
  umask 077
  cat > "$file" <<ENV
S3_ENDPOINT=http://127.0.0.1:$S3_PORT
S3_REGION=$REGION
S3_BUCKET=$bucket
S3_FORCE_PATH_STYLE=true
S3_APPLY_CORS_ON_START=true
AWS_ACCESS_KEY_ID=$KEY_ID
AWS_SECRET_ACCESS_KEY=$SECRET
ENV
}

case "${1:-up}" in
  up)
    ensure_garage
    write_config
    start
    ensure_layout
    ensure_key
    ensure_buckets
    write_env s3drop "$DIR/dev.env"
    write_env s3drop-test "$DIR/test.env"
    skip "local S3 ready: http://127.0.0.1:$S3_PORT (buckets: $BUCKETS)"
    ;;
  down)
    if running; then kill "$(cat "$DIR/pid")"; rm -f "$DIR/pid"; say "garage stopped"; else skip "garage: not running"; fi
    ;;
  *) die "usage: scripts/garage.sh up|down" ;;
esac
