import pytest

# The shared factories and helpers assert too: rewrite their asserts, as pytest does the tests',
# before the root conftest imports them.
pytest.register_assert_rewrite("tests.factories", "tests.helpers")
