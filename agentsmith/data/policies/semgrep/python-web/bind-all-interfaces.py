import os
import socket

import uvicorn
from flask import Flask

app = Flask(__name__)
sock = socket.socket()
# ruleid: python-web-bind-all-interfaces
sock.bind(("0.0.0.0", 8080))
# ok: python-web-bind-all-interfaces
sock.bind(("127.0.0.1", 8080))

if __name__ == "__main__":
    # ruleid: python-web-bind-all-interfaces
    app.run(host="0.0.0.0", port=5000)
    # ruleid: python-web-bind-all-interfaces
    uvicorn.run("main:app", host="0.0.0.0")
    # ok: python-web-bind-all-interfaces
    uvicorn.run("main:app", host=os.environ.get("HOST", "127.0.0.1"))
