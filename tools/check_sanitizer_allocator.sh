#!/usr/bin/env bash
# Checks that a sanitizer build of wsgate leaves every allocation to the
# sanitizer: no mimalloc linked, no operator new routed to it. With mimalloc's
# new/delete in the binary, AddressSanitizer would check none of the memory
# the server allocates with new.
#
#   tools/check_sanitizer_allocator.sh BINARY     ends with `N passed, N failed`
set -u
bin=${1:?usage: $0 BINARY}
libs=$(ldd "$bin")
symbols=$(nm -C "$bin")
mimalloc_calls=$(grep -E ' [TtUu] mi_(new|malloc|free)\b' <<<"$symbols" | head -n 3)
failed=0
if grep -q mimalloc <<<"$libs"; then
  echo "FAIL $bin links mimalloc: $(grep mimalloc <<<"$libs")"
  failed=1
elif [ -n "$mimalloc_calls" ]; then
  echo "FAIL $bin calls mimalloc: $mimalloc_calls"
  failed=1
elif ! grep -q __asan_init <<<"$symbols"; then
  echo "FAIL $bin is not built with AddressSanitizer"
  failed=1
else
  echo "ok   $bin: malloc and new go to the sanitizer's allocator"
fi
echo "$((1 - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
