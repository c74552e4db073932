#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The cost of zero-on-rebind against memory size (bench/zero-cost.c), and
# migrd's fd and RSS stability over thousands of handoffs (bench/churn.c).
#
#   bench/rebind-cost.sh [SIZES_GIB] [HANDOFFS]    default "1 2 4 8" 5000
set -eu
. "$(dirname "$0")/common.sh"
sizes=${1:-1 2 4 8}
handoffs=${2:-5000}

header "zero-on-rebind cost" | tee "$out/rebind-cost.header"
"$build/bench/zero-cost" $sizes | tee "$out/zero-cost.csv" | column -t -s,
echo
echo "zero_ms p50 by size (GiB): $(for s in $sizes; do printf '%s=%s ' "$s" "$(awk -F, -v s="$s" '$1 == s { print $3 }' "$out/zero-cost.csv" | percentiles | cut -d' ' -f1)"; done)"
echo
header "churn: $handoffs handoffs through one migrd"
start_migrd
"$build/bench/churn" "$sock" "$migrd_pid" "$handoffs" | tee "$out/churn.csv" | column -t -s,
