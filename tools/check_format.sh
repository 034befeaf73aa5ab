#!/usr/bin/env bash
# Checks every tracked C++ file against the repository's .clang-format and
# reports `N passed, N failed` (one per file).
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
while IFS= read -r file; do
  if clang-format --dry-run -Werror "$file" >/dev/null 2>&1; then
    passed=$((passed + 1))
  else
    echo "not formatted: $file (run clang-format -i $file)"
    failed=$((failed + 1))
  fi
done < <(git ls-files '*.cpp' '*.hpp')
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
