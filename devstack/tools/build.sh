#!/usr/bin/env bash
# `make build`: sam validate --lint, then sam build, with what SAM needs to build for the
# python3.13 Lambda runtime: a python3.13 on the PATH, or Docker (sam build --use-container).
# Without either it says what to install and stops. Ends with the built layer's size and a
# check that the layer ships no boto3/botocore (the Lambda runtime provides them).
set -euo pipefail
cd "$(dirname "$0")/../.."

SAM_VENV=.venv-sam
if command -v sam >/dev/null 2>&1; then
  SAM=sam
else
  if [ ! -x "$SAM_VENV/bin/sam" ] || [ requirements-sam.txt -nt "$SAM_VENV/bin/sam" ]; then
    echo "installing the SAM CLI into $SAM_VENV (requirements-sam.txt)"
    test -d "$SAM_VENV" || "${PYTHON:-python3}" -m venv "$SAM_VENV"
    "$SAM_VENV/bin/python" -m pip install --quiet -r requirements-sam.txt
    touch "$SAM_VENV/bin/sam"
  fi
  SAM="$SAM_VENV/bin/sam"
fi
export SAM_CLI_TELEMETRY=0

echo "== sam validate --lint"
"$SAM" validate --lint --region "${AWS_REGION:-eu-central-1}"

# A python3.13 SAM can use: on the PATH, or a pyenv-installed 3.13 not selected in this shell.
have_python313() {
  python3.13 --version >/dev/null 2>&1 && return 0
  if command -v pyenv >/dev/null 2>&1; then
    local version
    version=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.|$)' | tail -1 || true)
    if [ -n "$version" ]; then
      export PATH="$(pyenv root)/versions/$version/bin:$PATH"
      python3.13 --version >/dev/null 2>&1 && return 0
    fi
  fi
  return 1
}

if have_python313; then
  echo "== sam build (with $(python3.13 --version))"
  "$SAM" build
elif docker info >/dev/null 2>&1; then
  echo "== sam build --use-container (no python3.13 here; Docker builds in the Lambda image)"
  "$SAM" build --use-container
else
  cat >&2 <<'MSG'
sam build needs Python 3.13, the functions' runtime (template.yaml: Runtime python3.13), and
there is no python3.13 on the PATH and no running Docker. Install one of:
  - Python 3.13 as python3.13 on the PATH (Debian 13: apt-get install python3.13;
    elsewhere: pyenv install 3.13, or python.org's installer), then `make build` again; or
  - Docker (a running daemon), then `make build` again: it runs `sam build --use-container`,
    which builds inside the Lambda build image and needs no local Python 3.13.
`sam validate --lint` above has passed.
MSG
  exit 2
fi

LAYER_DIR=$(find .aws-sam/build -maxdepth 1 -type d -name 'RingbackLayer*' | head -1)
if [ -z "$LAYER_DIR" ]; then
  echo "the built layer was not found under .aws-sam/build" >&2
  exit 1
fi
if find "$LAYER_DIR" -maxdepth 3 -type d \( -name boto3 -o -name botocore \) | grep -q .; then
  echo "the built layer ships boto3/botocore (the runtime has them): check layers/ringback/requirements.txt" >&2
  exit 1
fi
"${PYTHON:-python3}" - "$LAYER_DIR" <<'PY'
import io, os, sys, zipfile
root = sys.argv[1]
files = [os.path.join(d, f) for d, _, names in os.walk(root) for f in names]
size = sum(os.path.getsize(f) for f in files)
parts = {}
for f in files:
    top = os.path.relpath(f, os.path.join(root, "python")).split(os.sep)[0]
    parts[top] = parts.get(top, 0) + os.path.getsize(f)
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
    for f in files:
        archive.write(f, os.path.relpath(f, root))
largest = ", ".join(f"{n} {b / 1e6:.1f} MB" for n, b in sorted(parts.items(), key=lambda p: -p[1])[:3])
print(f"== built layer {root}: {size / 1e6:.1f} MB unpacked, {len(buffer.getvalue()) / 1e6:.1f} MB zipped, no boto3/botocore")
print(f"   largest parts: {largest}")
PY
