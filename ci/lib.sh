# ci/lib.sh — shared by ci/demo and ci/test: make sure the Debian packages the
# build needs are there, then configure and build into build/.
set -euo pipefail

IS_ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IS_BUILD_DIR="${IS_BUILD_DIR:-$IS_ROOT_DIR/build}"
IS_PACKAGES=(gcc make cmake pkg-config libcriterion-dev libcjson-dev libopenblas-dev libpcre2-dev libutf8proc-dev
    unicode-data bzip2)

is_ensure_packages() {
    local missing=()
    for p in "${IS_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    # node and npm run the tokenizer's reference implementation in the tests; the
    # machine may have them from outside Debian, so look for the commands
    command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "installing: ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing Debian packages; install them with:" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
}

# is_build [cmake -D options...]
is_build() {
    is_ensure_packages
    cmake -S "$IS_ROOT_DIR" -B "$IS_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
    cmake --build "$IS_BUILD_DIR" -j "$(nproc)"
}

# The fuzz targets of tests/fuzz, one per line.
is_fuzz_targets() {
    local f
    for f in "$IS_ROOT_DIR"/tests/fuzz/fuzz_*.c; do
        f="${f##*/fuzz_}"
        [ "$f" = "util.c" ] || echo "${f%.c}"
    done
}

# is_sanitize_build: configures and builds $IS_SANITIZE_DIR with clang, ASan +
# UBSan and libFuzzer's coverage (ci/sanitize, ci/fuzz).
is_sanitize_build() {
    CC=clang CXX=clang++ cmake -S "$IS_ROOT_DIR" -B "$IS_SANITIZE_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DINFERSCOPE_CUDA=OFF -DINFERSCOPE_SANITIZE=address,undefined -DINFERSCOPE_FUZZ=ON \
        -DINFERSCOPE_WERROR=ON >/dev/null
    cmake --build "$IS_SANITIZE_DIR" -j "$(nproc)"
}
