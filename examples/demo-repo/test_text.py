from text import slugify


def test_spaces_become_hyphens():
    assert slugify("Hello World") == "hello-world"


def test_lowercase():
    assert slugify("Python") == "python"


def test_punctuation_is_dropped():
    assert slugify("Hello, World!") == "hello-world"
