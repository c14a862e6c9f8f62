# The cffi-generated extension: its objects are dynamic, typed as Any.
from typing import Any

ffi: Any
lib: Any
