import os

import uvicorn
from fastapi import FastAPI
from flask import Flask

app = Flask(__name__)
ALLOWED_HOSTS = ["example.com"]
# ruleid: python-web-debug-enabled
DEBUG = True

# ruleid: python-web-debug-enabled
api = FastAPI(debug=True)
# ok: python-web-debug-enabled
quiet_api = FastAPI(title="quiet")

if __name__ == "__main__":
    # ruleid: python-web-debug-enabled
    app.run(debug=True)
    # ok: python-web-debug-enabled
    app.run(debug=os.environ.get("APP_DEBUG") == "1")
    # ruleid: python-web-debug-enabled
    app.config["DEBUG"] = True
