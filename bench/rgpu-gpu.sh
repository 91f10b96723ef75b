#!/bin/sh
# The remote-GPU copy figures on a machine with an NVIDIA GPU, in one run
# (issue 15's table): rgpu-bench with the CUDA backend over v4v (one
# connection and four lanes), tcp, and in-process with pageable and with
# pinned host memory; and v4v without zero-copy, for the difference.
#
#   sh bench/rgpu-gpu.sh [BUILD_DIR] [OUT_DIR]
#
# BUILD_DIR (default build) holds binaries built elsewhere (the GPU
# machine needs no compiler: carry the folder there); OUT_DIR (default
# $OUT, else out/rgpu-gpu) gets one text file per run and the JSON
# records.  Starts its own v4vd on a private socket.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-${OUT:-out/rgpu-gpu}}
sizes=${RGPU_GPU_SIZES:-1024,4096,8192}
mkdir -p "$out"
sock=$(mktemp -u /tmp/v4vd-gpu.XXXXXX)
"$build/src/hv/v4vd" --foreground --socket "$sock" 2>"$out/v4vd.log" &
hv=$!
trap 'kill $hv 2>/dev/null; wait $hv 2>/dev/null || true' EXIT
export V4V_SOCKET="$sock"
for _ in $(seq 100); do
	"$build/src/tools/v4v" status >/dev/null 2>&1 && break
	sleep 0.05
done
nvidia-smi --query-gpu=name,pcie.link.gen.current,pcie.link.width.current \
	--format=csv > "$out/gpu.txt" 2>&1 || true
nproc >> "$out/gpu.txt"
run() {
	name=$1
	shift
	echo "== $name: rgpu-bench $*" | tee "$out/$name.txt"
	"$build/src/rgpu/rgpu-bench" --backend cuda --sizes "$sizes" \
		--kernels stencil --reps 5 --json "$out/$name.json" "$@" \
		>>"$out/$name.txt" 2>"$out/$name.err" || echo "$name: FAILED" |
		tee -a "$out/$name.txt"
	sed -n '/^copies of one/,$p' "$out/$name.txt"
}
run all --transports v4v,tcp,local,local-pinned
run lanes4 --transports v4v,tcp --lanes 4
run nozc --transports v4v --no-zero-copy
run nozc-lanes4 --transports v4v --no-zero-copy --lanes 4
