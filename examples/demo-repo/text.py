"""Small text helpers."""


def slugify(title: str) -> str:
    """Turn a title into a URL slug.

    The slug is the title's words in lowercase, joined by single hyphens. Only letters and digits
    are kept: punctuation is dropped, and the slug never starts or ends with a hyphen.
    """
    raise NotImplementedError
