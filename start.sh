#!/usr/bin/env bash
# Starts a Doppel appliance in this terminal, building it first if needed.
# The first start creates volume vol0 (1 GiB), exported at nbd://127.0.0.1:10809/vol0.
#
#   ./start.sh            build if sources changed, then start (data kept between runs)
#   ./start.sh --fresh    forget the appliance's data and start from scratch
set -euo pipefail
cd "$(dirname "$0")"
top=$PWD
run=$top/run
fresh=0
for a in "$@"; do
  case "$a" in
    --fresh) fresh=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown option: $a (try --help)" >&2; exit 2 ;;
  esac
done

tarball() { ls -t "$top"/karaf-distribution/target/doppel-distribution-*.tar.gz 2>/dev/null | head -n 1; }

# Build when there is no distribution yet or a source is newer than it.
tgz=$(tarball || true)
if [ -z "$tgz" ] || [ -n "$(find "$top/pom.xml" "$top/bundles" "$top/features" "$top/karaf-distribution/src" \
      "$top/karaf-distribution/pom.xml" -newer "$tgz" -type f -not -path '*/target/*' -print -quit)" ]; then
  echo "Building Doppel (mvn install -DskipTests) ..."
  mvn -B -q install -DskipTests -pl karaf-distribution -am
  tgz=$(tarball)
fi

mkdir -p "$run"
[ "$fresh" = 1 ] && rm -rf "$run/appliance"
# Unpack a newer distribution over the old one, keeping the data home (doppel/) and etc/ edits.
if [ ! -d "$run/appliance" ] || [ "$tgz" -nt "$run/appliance/.unpacked" ]; then
  tmp=$(mktemp -d "$run/unpack.XXXX")
  tar xzf "$tgz" -C "$tmp"
  new=$(echo "$tmp"/*/)
  if [ -d "$run/appliance/doppel" ]; then mv "$run/appliance/doppel" "$new/doppel"; fi
  rm -rf "$run/appliance"
  mv "$new" "$run/appliance"
  rmdir "$tmp"
  touch "$run/appliance/.unpacked"
fi

echo "Doppel starting from $run/appliance; data in $run/appliance/doppel"
echo "Once started: doppel:status, doppel:volume-list, doppel:export-list; nbd://127.0.0.1:10809/vol0"
cd "$run/appliance"
if [ -t 0 ]; then
  exec bin/karaf
else
  exec bin/karaf server
fi
