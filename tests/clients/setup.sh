#!/usr/bin/env bash
# Creates, once, the Python 3.10 virtualenv of the client compatibility tests and prints
# its path (the last line of stdout). Idempotent: a no-op when the venv exists.
#
#   - pymesos 0.3.15 and the rest of requirements.txt, pinned;
#   - http-parser's C extension switched off (HTTP_PARSER=python, the default): its
#     setup.py builds the extension unconditionally except on PyPy (`run_setup(not
#     IS_PYPY)`), with no option or environment variable to skip it, and
#     http_parser/http.py falls back to the pure-Python http_parser.pyparser when
#     http_parser.parser does not import. So the built module is removed after the
#     install, and the fallback is checked. HTTP_PARSER=c keeps the extension (it
#     compiles on CPython 3.10; it does not on 3.11 and later);
#   - Python protobuf classes generated from crates/proto/proto (the same vendored
#     Mesos .proto files as the Rust types) by grpcio-tools' bundled protoc, into
#     $VENV/mesos_pb: put that on PYTHONPATH and `import mesos.v1.scheduler.scheduler_pb2`.
#
# The venv lives under ${MESOS_OPERATOR_CACHE:-~/.cache/mesos-operator}/venv/, named by
# a hash of everything that goes into it. Python 3.10 is found as $PYTHON310, then
# python3.10 on PATH, then pyenv's; without it this fails (exit 2).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
proto_dir="$repo/crates/proto/proto"
http_parser=${HTTP_PARSER:-python}
case "$http_parser" in python | c) ;; *) echo "HTTP_PARSER must be 'python' or 'c', not '$http_parser'" >&2; exit 2 ;; esac

find_python310() {
  local candidate
  for candidate in "${PYTHON310:-}" "$(command -v python3.10 || true)" \
    $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V | tac); do
    if [ -n "$candidate" ] && [ -x "$candidate" ] &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if ! python=$(find_python310); then
  cat >&2 <<'MSG'
error: Python 3.10 is missing, and the client compatibility tests need it: pymesos 0.3.15
depends on http-parser 0.9.0, which does not build on Python 3.11 or later.
Install it (e.g. `pyenv install 3.10.13`) or point PYTHON310 at a python3.10.
MSG
  exit 2
fi

hash=$(
  {
    "$python" -c 'import sys; print(sys.version)'
    echo "http_parser=$http_parser"
    cat "$here/requirements.txt" "$here/setup.sh"
    (cd "$proto_dir" && find . -name '*.proto' | sort | xargs cat)
  } | sha256sum | cut -c1-16
)
cache=${MESOS_OPERATOR_CACHE:-$HOME/.cache/mesos-operator}
venv="$cache/venv/py310-$hash"

if [ -f "$venv/.complete" ]; then
  echo "$venv"
  exit 0
fi

mkdir -p "$cache/venv"
exec 9>"$venv.lock"
flock 9
if [ -f "$venv/.complete" ]; then
  echo "$venv"
  exit 0
fi
rm -rf "$venv"

echo "creating $venv with $python" >&2
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input --quiet)
"${pip[@]}" install -r "$here/requirements.txt" >&2

site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ "$http_parser" = python ]; then
  rm -f "$site"/http_parser/parser*.so
fi
"$venv/bin/python" - "$http_parser" <<'PY'
import sys
from http_parser.http import HttpParser
expected = {"python": "http_parser.pyparser", "c": "http_parser.parser"}[sys.argv[1]]
assert HttpParser.__module__ == expected, f"http_parser uses {HttpParser.__module__}, not {expected}"
PY

# The generated classes, from the vendored .proto files (google/protobuf imports from
# grpcio-tools' bundled copies).
out="$venv/mesos_pb"
mkdir -p "$out"
wkt=$("$venv/bin/python" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
mapfile -t protos < <(cd "$proto_dir" && find mesos -name '*.proto' | sort)
(cd "$proto_dir" && "$venv/bin/python" -m grpc_tools.protoc -I . -I "$wkt" --python_out="$out" "${protos[@]}")

PYTHONPATH="$out" "$venv/bin/python" -c '
import pymesos
from pymesos import MesosSchedulerDriver
from mesos.v1.scheduler import scheduler_pb2
from mesos.v1.master import master_pb2
'
touch "$venv/.complete"
echo "created $venv" >&2
echo "$venv"
