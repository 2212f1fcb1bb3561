#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs, only those missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang clang-format
  libns3-dev libgsl-dev libsqlite3-dev      # ns-3 3.37; its .pc files need gsl and sqlite
  libcjson-dev libyaml-dev libpcap-dev libssl-dev libcriterion-dev zlib1g-dev
  node-llhttp                               # llhttp C sources, compiled by our build
  gnuplot-nox tshark iproute2 curl openssl python3
  libgoogle-perftools-dev                   # tcmalloc for simrun (ns-3 allocates per packet)
  postgresql-15 postgresql-client-15         # L4-3: a real database behind the L4 proxy
  parallel                                  # EXP-4: simrun explore shards run by GNU parallel
  valgrind                                  # PRF-1: counted metrics (instructions) of the perf suite
  ccache                                    # PRF-4: bisect and its demo rebuild simrun per commit
  haproxy nginx wrk iperf3 jq               # bench/run-proxy-vs-haproxy.sh: the rival proxy, backend, load
  libsodium-dev                             # SEC-3: XChaCha20-Poly1305 for WireGuard's cookie reply
  wireguard-go wireguard-tools              # SEC-4: a WireGuard peer that is not ours, configured by wg
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
