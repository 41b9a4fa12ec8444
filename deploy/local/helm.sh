#!/usr/bin/env bash
# What the Helm chart's tests need (deploy/helm/, tests/helm/), installed once per version, idempotent, under a lock:
#   var/local/bin/helm            Helm, built from its Go module (the Go module proxy; `go build` inside the module with
#                                 its own go.mod/go.sum, -mod=readonly: exactly the versions the release pins)
#   var/local/helm/crds/<operator>-<version>/*.yaml   the operators' CustomResourceDefinitions, the schemas every
#                                 rendered custom resource is validated against:
#     cloudnative-pg, keda        config/crd/bases/ of their Go module zips (sha256 of each zip checked)
#     strimzi                     generated from Strimzi's published API jar (Maven Central, io.strimzi:api) with its
#                                 CRD generator (io.strimzi:crd-generator) and the arguments of the API module's own
#                                 build (the `api` pom), Maven resolving their dependencies (sha256 of both jars checked)
# Nothing here is fetched from GitHub. Usage: bash deploy/local/helm.sh [--print-paths]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VAR="$ROOT/var/local"
BIN="$VAR/bin"
CRDS="$VAR/helm/crds"
LOGS="$VAR/helm/logs"

HELM_MODULE=helm.sh/helm/v4
HELM_VERSION=v4.3.2  # `helm version` says it (set at link time, as Helm's own release build does)
CNPG_MODULE=github.com/cloudnative-pg/cloudnative-pg
CNPG_VERSION=v1.27.1
CNPG_ZIP_SHA256=845ef3d2d4956967b4726f375c3c5094b0088f3f905bbaf7f6eb0cd32d77e81b
KEDA_MODULE=github.com/kedacore/keda/v2
KEDA_VERSION=v2.21.1
KEDA_ZIP_SHA256=872fa4b9d4282969ece753727ca31a7a31eaf341a52fa0972148297521ca9a75
STRIMZI_VERSION=0.51.0
STRIMZI_API_SHA256=219b54d570c408523f62bffc999041c64ea926afbc784be942290709fbbcde62
# The newest CRD generator that runs on Java 17 (1.x needs Java 21); it reads the 0.51 API classes (Java 11).
STRIMZI_CRD_GENERATOR_VERSION=0.45.0
STRIMZI_CRD_GENERATOR_SHA256=f03aab1b83d29bbd340ce484a4bb651faac7685c685865a30351a636da6008ea

HELM_BIN="$BIN/helm"
# shellcheck source=deploy/local/go_program.sh
source "$ROOT/deploy/local/go_program.sh"
CNPG_DIR="$CRDS/cloudnative-pg-$CNPG_VERSION"
KEDA_DIR="$CRDS/keda-$KEDA_VERSION"
STRIMZI_DIR="$CRDS/strimzi-$STRIMZI_VERSION"

say() { printf '==> %s\n' "$*"; }
die() { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }
die_log() {
  printf '==> ERROR: %s\n' "$1" >&2
  [[ -s ${2:-} ]] && { printf '    --- last lines of %s ---\n' "${2#"$ROOT"/}" >&2; tail -n 20 "$2" | sed 's/^/    | /' >&2; }
  exit 1
}
now_us() { local t=${EPOCHREALTIME/[.,]/}; printf '%s' "$t"; }
since() { local d=$(( $(now_us) - $1 )); printf '%d.%ds' $((d / 1000000)) $(((d % 1000000) / 100000)); }

goproxy() {
  local go proxy; go=$(go_program_cmd)
  proxy=$([[ -n $go ]] && "$go" env GOPROXY || true)
  proxy=${proxy%%,*}
  [[ -n $proxy && $proxy != direct && $proxy != off ]] || proxy=https://proxy.golang.org
  printf '%s' "$proxy"
}
check_sha256() { # check_sha256 FILE SHA256 WHAT
  local got; got=$(sha256sum "$1" | cut -d' ' -f1)
  [[ $got == "$2" ]] || die "$3: sha256 $got, expected $2 (pinned in deploy/local/helm.sh)"
}
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "$1 not found and no apt-get to install it"
  local log="$LOGS/apt-$1.log"
  say "installing $1 (Debian package)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1"; } \
    >"$log" 2>&1 || die_log "apt-get install $1 failed" "$log"
}

install_helm() {
  go_program "$HELM_MODULE" "$HELM_VERSION" ./cmd/helm "$HELM_BIN" "$LOGS/helm-build.log" \
    "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" || exit 1
}

# crds_from_module DIR MODULE VERSION SHA256: config/crd/bases/*.yaml of the module's zip, as the proxy serves it.
crds_from_module() {
  local dest=$1 module=$2 version=$3 sha=$4 zip tmp
  [[ -f $dest/.complete ]] && return 0
  tmp=$(mktemp -d "$CRDS/.tmp.XXXXXX"); zip="$tmp/module.zip"
  say "CRDs: $module@$version (Go module zip)"
  curl -fsSL --retry 3 -o "$zip" "$(goproxy)/$module/@v/$version.zip" || die "CRDs: cannot fetch $module@$version from the Go module proxy"
  check_sha256 "$zip" "$sha" "$module@$version"
  python3 - "$zip" "$tmp/out" <<'PY' || die "CRDs: $module@$version has no config/crd/bases/*.yaml"
import sys, zipfile
from pathlib import Path
out = Path(sys.argv[2]); out.mkdir()
with zipfile.ZipFile(sys.argv[1]) as z:
    names = [n for n in z.namelist() if "/config/crd/bases/" in n and n.endswith(".yaml")]
    for n in names:
        (out / Path(n).name).write_bytes(z.read(n))
sys.exit(0 if names else 1)
PY
  rm -rf "$dest"; mv "$tmp/out" "$dest"; rm -rf "$tmp"
  touch "$dest/.complete"
}

install_strimzi_crds() {
  [[ -f $STRIMZI_DIR/.complete ]] && return 0
  command -v java >/dev/null 2>&1 || apt_install default-jdk-headless
  command -v mvn >/dev/null 2>&1 || apt_install maven
  local build="$VAR/helm/strimzi-build" log="$LOGS/strimzi-crds.log" t0 repo cp; t0=$(now_us)
  say "CRDs: Strimzi $STRIMZI_VERSION (io.strimzi:api from Maven Central, generated by io.strimzi:crd-generator $STRIMZI_CRD_GENERATOR_VERSION; log ${log#"$ROOT"/})"
  rm -rf "$build"; mkdir -p "$build/out"
  cat >"$build/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>bpass.local</groupId><artifactId>strimzi-crds</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$STRIMZI_VERSION</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>$STRIMZI_CRD_GENERATOR_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  (cd "$build" && mvn -q -B dependency:build-classpath -Dmdep.outputFile=classpath.txt) >"$log" 2>&1 </dev/null \
    || die_log "CRDs: Maven could not resolve io.strimzi:api $STRIMZI_VERSION" "$log"
  cp=$(cat "$build/classpath.txt")
  repo=$(tr ':' '\n' <"$build/classpath.txt" | grep "/api-$STRIMZI_VERSION.jar$" || true)
  [[ -n $repo ]] || die "CRDs: io.strimzi:api-$STRIMZI_VERSION.jar not on Maven's classpath"
  check_sha256 "$repo" "$STRIMZI_API_SHA256" "io.strimzi:api:$STRIMZI_VERSION"
  repo=$(tr ':' '\n' <"$build/classpath.txt" | grep "/crd-generator-$STRIMZI_CRD_GENERATOR_VERSION.jar$" || true)
  check_sha256 "$repo" "$STRIMZI_CRD_GENERATOR_SHA256" "io.strimzi:crd-generator:$STRIMZI_CRD_GENERATOR_VERSION"
  # The API module's own arguments (its pom, execution generate-crd-co-install-v1*), with the descriptions kept.
  java -cp "$cp" io.strimzi.crdgenerator.CrdGenerator --label app:strimzi --label strimzi.io/crd-install:true \
    --target-kube 1.16+ --crd-api-version v1 --api-versions v1beta2,v1 --storage-version v1beta2 --yaml \
    "io.strimzi.api.kafka.model.kafka.Kafka=$build/out/kafka.strimzi.io_kafkas.yaml" \
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$build/out/kafka.strimzi.io_kafkanodepools.yaml" \
    "io.strimzi.api.kafka.model.topic.KafkaTopic=$build/out/kafka.strimzi.io_kafkatopics.yaml" \
    "io.strimzi.api.kafka.model.user.KafkaUser=$build/out/kafka.strimzi.io_kafkausers.yaml" \
    >>"$log" 2>&1 </dev/null || die_log "CRDs: Strimzi's CRD generator failed" "$log"
  rm -rf "$STRIMZI_DIR"; mv "$build/out" "$STRIMZI_DIR"; rm -rf "$build"
  touch "$STRIMZI_DIR/.complete"
  say "CRDs: Strimzi $STRIMZI_VERSION generated in $(since "$t0")"
}

main() {
  mkdir -p "$BIN" "$CRDS" "$LOGS"
  exec 9>"$VAR/helm/.install.lock"
  flock 9
  install_helm
  crds_from_module "$CNPG_DIR" "$CNPG_MODULE" "$CNPG_VERSION" "$CNPG_ZIP_SHA256"
  crds_from_module "$KEDA_DIR" "$KEDA_MODULE" "$KEDA_VERSION" "$KEDA_ZIP_SHA256"
  install_strimzi_crds
  exec 9>&-
  if [[ ${1:-} == --print-paths ]]; then
    printf 'helm=%s\ncrds=%s\n' "$HELM_BIN" "$CRDS"
  fi
}
main "$@"
