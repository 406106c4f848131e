import ssl

import httpx
import requests

# ruleid: python-tls-verification-disabled
requests.get("https://internal.example.com", verify=False)
# ok: python-tls-verification-disabled
requests.get("https://internal.example.com", verify="/etc/ssl/certs/corp-ca.pem")
# ruleid: python-tls-verification-disabled
client = httpx.Client(verify=False)
session = requests.Session()
# ruleid: python-tls-verification-disabled
session.verify = False
ctx = ssl.create_default_context()
# ruleid: python-tls-verification-disabled
ctx.check_hostname = False
# ok: python-tls-verification-disabled
ctx.check_hostname = True
