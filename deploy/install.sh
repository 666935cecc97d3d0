#!/bin/sh
# Installs zuora-athena into the virtual environment $1, as the image does (deploy/Dockerfile) and as the
# image test does (zuora_assets_tests/test_deploy_image.py):
#   deploy/install.sh dependencies VENV   the pinned dependencies (deploy/requirements.txt), no project code
#   deploy/install.sh project VENV        the project itself, from this checkout, nothing else
# Run it from the repository's root.
set -eu
step=$1
venv=$2
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check uv==0.13.9
fi
case "$step" in
    dependencies) "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" --require-hashes -r deploy/requirements.txt ;;
    project) "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" --no-deps . ;;
    *) echo "deploy/install.sh: unknown step '$step' (use dependencies or project)" >&2; exit 2 ;;
esac
