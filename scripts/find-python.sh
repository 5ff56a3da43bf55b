#!/usr/bin/env bash
# Print the path of a Python interpreter of the given minor version (e.g. 3.10), looking at
# $PYTHON<major><minor> (e.g. PYTHON310), python3.X on PATH, pyenv, and /root/.pyenv; fail with a clear message.
set -euo pipefail
want="${1:?usage: find-python.sh 3.10}"
var="PYTHON${want/./}"
candidates=()
[ -n "${!var:-}" ] && candidates+=("${!var}")
command -v "python$want" >/dev/null 2>&1 && candidates+=("$(command -v "python$want")")
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}(\.[0-9]+)?$" | sort -rV); do
    candidates+=("$(pyenv root)/versions/$v/bin/python")
  done
fi
for p in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want".*/bin/python /root/.pyenv/versions/"$want".*/bin/python 2>/dev/null | sort -rV); do
  candidates+=("$p")
done
for p in "${candidates[@]}"; do
  if [ -x "$p" ] && [ "$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$want" ]; then
    echo "$p"
    exit 0
  fi
done
echo "error: Python $want is needed but was not found." >&2
echo "       Install it (e.g. 'pyenv install $want') or set $var=/path/to/python$want." >&2
exit 1
