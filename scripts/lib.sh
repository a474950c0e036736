# Shared helpers for the project's scripts. Every `ensure_*` checks before it installs, so a second
# run skips what is already done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL"
export PATH="$HOME/.cargo/bin:$ROOT/end2end/node_modules/.bin:$PATH"

CARGO_LEPTOS_VERSION=0.3.10
GARAGE_VERSION=2.5.0

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
skip() { printf '    %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The wasm-bindgen version in Cargo.lock: the CLI must match it exactly.
locked_wasm_bindgen() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$ROOT/Cargo.lock"
}

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >&2; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

ensure_wasm_target() {
  if rustup target list --installed | grep -qx wasm32-unknown-unknown; then skip "wasm32 target: present"
  else say "adding the wasm32-unknown-unknown target"; rustup target add wasm32-unknown-unknown; fi
}

# rustfmt and clippy gate every change (scripts/test); rust-toolchain.toml names them too.
ensure_lint_tools() {
  if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then skip "rustfmt and clippy: present"
  else say "adding rustfmt and clippy"; rustup component add rustfmt clippy; fi
}

ensure_cargo_leptos() {
  if cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then skip "cargo-leptos $CARGO_LEPTOS_VERSION: present"
  else
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (a cold build takes about 13 minutes)"
    cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION" --features no_downloads
  fi
}

ensure_wasm_bindgen() {
  local v; v="$(locked_wasm_bindgen)"
  if wasm-bindgen --version 2>/dev/null | grep -q " $v\$\| $v "; then skip "wasm-bindgen-cli $v: present"
  else
    say "installing wasm-bindgen-cli $v (the version in Cargo.lock)"
    # Not --locked: its lockfile names a crate version this registry lacks.
    cargo install wasm-bindgen-cli --version "$v" --force
  fi
}

ensure_garage() {
  if garage --version 2>/dev/null | grep -qE "[:v ]$GARAGE_VERSION( |$)"; then skip "garage $GARAGE_VERSION: present"
  else
    say "installing garage $GARAGE_VERSION (a cold build takes about 13 minutes)"
    cargo install garage --locked --version "$GARAGE_VERSION" --no-default-features --features bundled-libs,sqlite
  fi
}

# Playwright (no browser download) and binaryen's wasm-opt, both from end2end/package.json.
ensure_node_modules() {
  command -v npm >/dev/null || apt_install nodejs npm
  local stamp="$ROOT/end2end/node_modules/.installed-lock"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$ROOT/end2end/package-lock.json"; then skip "end2end node modules: present"
  else
    say "installing end2end node modules (Playwright without browsers, binaryen)"
    (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >&2)
    cp "$ROOT/end2end/package-lock.json" "$stamp"
  fi
}

ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then skip "chromium: present"
  else say "installing Debian's chromium"; apt_install chromium; fi
}

# The build tools: what `cargo leptos build --release` needs.
ensure_build_tools() {
  ensure_wasm_target
  ensure_lint_tools
  ensure_cargo_leptos
  ensure_wasm_bindgen
  ensure_node_modules
}

# Reads one variable from an env file without sourcing it.
env_file_get() {
  [ -f "$1" ] || return 0
  sed -n "s/^$2=//p" "$1" | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/"
}

# What goes into the release build (the server binary and the site bundle); tests and benches do not.
RELEASE_BUILD_INPUTS=(Cargo.toml Cargo.lock app/Cargo.toml app/src frontend server/Cargo.toml server/src style public migrations)

# Prints the first source newer than a release build output (or the missing output); fails when the
# build is current.
stale_release_build() {
  local out newer
  for out in "$ROOT/target/release/server" "$ROOT"/target/site/pkg/*.wasm; do
    if [ ! -e "$out" ]; then echo "$out is missing"; return 0; fi
    newer="$(cd "$ROOT" && find "${RELEASE_BUILD_INPUTS[@]}" -type f -newer "$out" -print -quit 2>/dev/null)"
    if [ -n "$newer" ]; then echo "$newer is newer than $out"; return 0; fi
  done
  return 1
}

# Benchmarks of an old build measure old code: rebuild whenever a source changed since.
ensure_fresh_release_build() {
  local why
  if why="$(stale_release_build)"; then
    say "release build out of date ($why): cargo leptos build --release"
    (cd "$ROOT" && cargo leptos build --release)
  else
    skip "release build: newer than its sources"
  fi
}
