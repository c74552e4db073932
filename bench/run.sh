#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every benchmark, in order; what `make bench` and `./dev bench` run.
#   bench/run.sh [SIZES] [N]
set -eu
dir=$(dirname "$0")
"$dir/upgrades.sh" "${1:-1G 2G 4G 8G}" "${2:-20}"
echo
"$dir/load.sh"
echo
"$dir/rebind-cost.sh"
