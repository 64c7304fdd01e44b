#!/usr/bin/env bash
# A local MLflow tracking server for concurrent writers (sweeps from several machines through a tunnel).
# Binds to 127.0.0.1 unless HOST is set; store under outputs/ by default.
#   deploy/mlflow-server.sh           -> http://127.0.0.1:5000 ; jobs: tracking.uri=http://127.0.0.1:5000
set -euo pipefail
cd "$(dirname "$0")/.."
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-5000}"
STORE="${STORE:-$PWD/outputs/mlflow-server}"
mkdir -p "$STORE/artifacts"
exec .venv/bin/mlflow server --host "$HOST" --port "$PORT" \
  --backend-store-uri "sqlite:///$STORE/mlflow.db" --artifacts-destination "$STORE/artifacts"
