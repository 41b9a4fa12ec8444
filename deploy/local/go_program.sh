# Sourced: build a program of a Go module once, from the Go module proxy, at a pinned version.
#   go_program MODULE VERSION PACKAGE OUT LOG [LDFLAGS]
# `go install pkg@version` refuses a module whose go.mod has replace directives (Helm's, Compose's), so the build
# runs inside the downloaded module with its own go.mod and go.sum (-mod=readonly: exactly the versions the release
# pins). OUT gets OUT.version beside it; a second call with the same version does nothing. Callers hold a lock.
# shellcheck shell=bash

go_program_cmd() {
  command -v go 2>/dev/null || { [[ -x /usr/local/go/bin/go ]] && printf '%s' /usr/local/go/bin/go; } || true
}

go_program() {
  local module=$1 version=$2 package=$3 out=$4 log=$5 ldflags=${6:-} go dir t0
  [[ -x $out && -f $out.version && $(<"$out.version") == "$version" ]] && return 0
  go=$(go_program_cmd)
  [[ -n $go ]] || { printf '==> ERROR: Go not found: it builds %s@%s; install Go or put it on PATH\n' "$module" "$version" >&2; return 1; }
  mkdir -p "$(dirname "$out")" "$(dirname "$log")"
  t0=$EPOCHSECONDS
  printf '==> building %s/%s@%s from the Go module proxy (once, minutes on two cores; log %s)\n' \
    "$module" "${package#./}" "$version" "$log"
  local json; json=$("$go" mod download -json "$module@$version" 2>>"$log") || true  # errors come as JSON too
  printf '%s\n' "$json" >>"$log"
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
  if [[ -z $dir || ! -d $dir ]]; then
    printf '==> ERROR: go mod download %s@%s failed; last lines of %s:\n' "$module" "$version" "$log" >&2
    tail -n 20 "$log" >&2; return 1
  fi
  if ! (cd "$dir" && GOFLAGS="-trimpath -mod=readonly" GOTOOLCHAIN=local CGO_ENABLED=0 \
    "$go" build -ldflags "$ldflags" -o "$out.tmp" "$package") >>"$log" 2>&1 </dev/null; then
    printf '==> ERROR: go build of %s@%s failed; last lines of %s:\n' "$module" "$version" "$log" >&2
    tail -n 20 "$log" >&2; return 1
  fi
  mv "$out.tmp" "$out"
  printf '%s\n' "$version" >"$out.version"
  printf '==> built %s in %ss\n' "$out" "$((EPOCHSECONDS - t0))"
}
