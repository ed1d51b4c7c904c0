#!/usr/bin/env bash
# Re-downloads the third-party browser files the web explorer and GraphiQL use (web/vendor/)
# from the npm registry at pinned versions and checks each against its pinned SHA-256.
# They are committed, so `cargo build` needs no network; run this only to verify them or,
# after changing a version and its hashes below, to upgrade.
#
#   scripts/vendor-web.sh            # download, verify, write web/vendor/
#   scripts/vendor-web.sh --check    # verify the committed files only (no network)
#
# Needs curl, tar and sha256sum. Exit status 1 when a hash differs.
set -euo pipefail
cd "$(dirname "$0")/.."
REGISTRY="${NPM_REGISTRY:-https://registry.npmjs.org}"
VENDOR=web/vendor

# package version file-in-package destination sha256
FILES=(
  "@dagrejs/dagre 3.1.3 dist/dagre.min.js dagre/dagre.min.js 54a503e346f93ca0bb10abe7999587e037262935687aca45eb4e4b0f64bbb578"
  "@dagrejs/dagre 3.1.3 LICENSE dagre/LICENSE 6a349742a6cb219d5a2fc8d0844f6d89a6efc62e20c664450d884fc7ff2d6015"
  "@dagrejs/graphlib 4.0.6 LICENSE dagre/LICENSE.graphlib 6a349742a6cb219d5a2fc8d0844f6d89a6efc62e20c664450d884fc7ff2d6015"
  "graphiql 4.0.3 graphiql.min.js graphiql/graphiql.min.js 5d3b0bb879d104c22b4ca6a59d1c27cbf52e4a43ff3e8e2203c4d2e9fe535d42"
  "graphiql 4.0.3 graphiql.min.css graphiql/graphiql.min.css 187c466b65a18d20cd510acee40d16311d7f11da2877bb484449f2530acf11a7"
  "graphiql 4.0.3 LICENSE graphiql/LICENSE 4b18fbe55c4e8f9169cb702be138f4d858a2dad920c39857204ffdc9c1c9fdc4"
  "react 18.3.1 umd/react.production.min.js graphiql/react.production.min.js d949f1c3687aedadcedac85261865f29b17cd273997e7f6b2bfc53b2f9d4c4dd"
  "react 18.3.1 LICENSE graphiql/LICENSE.react 52412d7bc7ce4157ea628bbaacb8829e0a9cb3c58f57f99176126bc8cf2bfc85"
  "react-dom 18.3.1 umd/react-dom.production.min.js graphiql/react-dom.production.min.js 35f4f974f4b2bcd44da73963347f8952e341f83909e4498227d4e26b98f66f0d"
)

check_only=false
[[ "${1:-}" == "--check" ]] && check_only=true

for tool in curl tar sha256sum; do
  command -v "$tool" >/dev/null || { echo "vendor-web.sh: $tool is not installed" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for line in "${FILES[@]}"; do
  read -r package version inner dest expected <<<"$line"
  target="$VENDOR/$dest"
  if ! $check_only; then
    unpacked="$work/${package//\//_}-$version"
    if [[ ! -d "$unpacked" ]]; then
      tarball="$REGISTRY/$package/-/${package##*/}-$version.tgz"
      mkdir -p "$unpacked"
      curl -fsSL --retry 3 "$tarball" | tar xz -C "$unpacked"
    fi
    mkdir -p "$(dirname "$target")"
    cp "$unpacked/package/$inner" "$target"
  fi
  actual=$(sha256sum "$target" | cut -d' ' -f1)
  if [[ "$actual" == "$expected" ]]; then
    echo "ok      $target ($package@$version $inner)"
  else
    echo "MISMATCH $target ($package@$version $inner): expected $expected, got $actual" >&2
    failed=1
  fi
done
exit $failed
