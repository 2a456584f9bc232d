"""Shared by every test folder.

The helper modules that hold shared assertions (the transport and adapter contracts, the ONNX and regress
fixtures) are not test files, so pytest would not rewrite their asserts: a failure there printed a bare
AssertionError, without the values compared. Register them before anything imports them.
"""

import pytest

pytest.register_assert_rewrite("tests.adapter_contract", "tests.onnx_models", "tests.regress_documents")
