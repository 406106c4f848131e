import jwt


def claims(token, key):
    # ruleid: python-jwt-verification-disabled
    unsafe = jwt.decode(token, options={"verify_signature": False})
    # ruleid: python-jwt-verification-disabled
    legacy = jwt.decode(token, key, algorithms=["HS256", "none"])
    # ok: python-jwt-verification-disabled
    checked = jwt.decode(token, key, algorithms=["RS256"])
    return unsafe, legacy, checked
