"""Small text helpers."""


def slugify(title: str) -> str:
    """Turn a title into a URL slug: lowercase words joined by single hyphens."""
    raise NotImplementedError
