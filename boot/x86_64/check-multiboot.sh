#!/usr/bin/env bash
# Checks that both boot headers sit where the loaders look for them:
# Multiboot1 within the first 8 KiB, 4-byte aligned (Multiboot spec 3.1.1);
# Multiboot2 within the first 32 KiB, 8-byte aligned (Multiboot2 spec 3.1.1).
# QEMU's -kernel needs the first, GRUB's multiboot2 command the second.
set -euo pipefail
img=$1
find_magic() { # $1: little-endian magic as hex bytes, $2: limit, $3: alignment
	local off
	off=$(head -c "$2" "$img" | od -An -v -tx1 | tr -d ' \n' |
		grep -ob "$1" | awk -F: -v a="$3" '($1 % 2 == 0) && (($1/2) % a == 0) { print $1/2; exit }')
	[ -n "$off" ] && echo "$off"
}
mb1=$(find_magic 02b0ad1b 8192 4) || { echo "$img: no Multiboot1 header in the first 8 KiB" >&2; exit 1; }
mb2=$(find_magic d65052e8 32768 8) || { echo "$img: no Multiboot2 header in the first 32 KiB" >&2; exit 1; }
[ "${V:-0}" = 1 ] && echo "$img: multiboot1 header at $mb1, multiboot2 at $mb2"
exit 0
