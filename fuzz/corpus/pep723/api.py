# /// script
# requires-python = ">=3.11"
# dependencies = [
#   "flask>=3.0,<4",
# ]
# ///
"""A small HTTP API with a real dependency, declared inline (PEP 723).

    prisn run examples/api.py -e PORT=8080      # then: curl localhost:8080/hello/Ada
    prisn deploy examples/api.py --port 8080    # as a service (local or Kubernetes)
"""

import os
from importlib.metadata import version

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(app="api", flask=version("flask"))


@app.get("/healthz")
def healthz():
    return "ok\n"


@app.get("/hello/<name>")
def hello(name: str):
    return jsonify(greeting=f"hello, {name}")


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print(f"listening on :{port}", flush=True)
    app.run(host=os.environ.get("HOST", "0.0.0.0"), port=port)
