"""relink._ffi against include/relink/relink.h: a mismatch between a ctypes declaration and the header is silent
memory corruption, so each is checked against the header itself.

- relink_event, relink_status, relink_attribute: the same field names in the same order (a parse of the header),
  and the same offsets and sizes as a C compiler gives them (a tiny C program built here with gcc);
- every RELINK_* number of the header equals the binding's constant;
- every function of the header is declared, with the ctypes types of its C parameter and result types, and no
  function is declared that the header lacks;
- the enums' canonical names are the library's (relink_state_name() ...).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import relink
from relink import _ffi
from relink.types import (
    AttemptFailure,
    ChannelReason,
    ChannelState,
    ConnectionReason,
    ConnectionState,
    ErrorCode,
    MemberLeftCause,
    Profile,
)

from conftest import REPO

HEADER = REPO / "include" / "relink" / "relink.h"


def header_text() -> str:
    text = HEADER.read_text()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)  # comments out
    return text


def struct_fields(name: str) -> List[str]:
    """The field names of `typedef struct name { ... } name;` in the header, in order."""
    match = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), header_text(), flags=re.S)
    assert match, f"struct {name} not found in relink.h"
    fields = []
    for declaration in match.group(1).split(";"):
        declaration = declaration.strip()
        if declaration:
            fields.append(re.findall(r"\w+", declaration)[-1])
    return fields


STRUCTS = {
    "relink_event": _ffi.relink_event,
    "relink_status": _ffi.relink_status,
    "relink_attribute": _ffi.relink_attribute,
}


@pytest.mark.parametrize("name", sorted(STRUCTS))
def test_struct_fields_are_the_headers_in_order(name: str) -> None:
    assert [f[0] for f in STRUCTS[name]._fields_] == struct_fields(name)


def test_struct_offsets_and_sizes_are_the_c_compilers(tmp_path: Path) -> None:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler to compare the layouts with")
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "relink/relink.h"', "int main(void) {"]
    for name in sorted(STRUCTS):
        lines.append(f'    printf("{name} sizeof %zu\\n", sizeof({name}));')
        for field in struct_fields(name):
            lines.append(f'    printf("{name} {field} %zu\\n", offsetof({name}, {field}));')
    lines += ["    return 0;", "}"]
    source = tmp_path / "layout.c"
    source.write_text("\n".join(lines) + "\n")
    program = tmp_path / "layout"
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # the asan tree preloads ASan into Python
    subprocess.run(
        [gcc, "-std=c99", "-Wall", "-Werror", "-I", str(REPO / "include"), str(source), "-o", str(program)],
        check=True,
        timeout=60,
        env=env,
    )
    output = subprocess.run([str(program)], check=True, capture_output=True, text=True, timeout=10, env=env).stdout
    c_layout: Dict[Tuple[str, str], int] = {}
    for line in output.splitlines():
        struct, field, number = line.split()
        c_layout[(struct, field)] = int(number)
    for name, cls in STRUCTS.items():
        assert ctypes.sizeof(cls) == c_layout[(name, "sizeof")], name
        for field, _ in cls._fields_:
            assert getattr(cls, field).offset == c_layout[(name, field)], f"{name}.{field}"


def test_every_number_of_the_header_is_the_bindings() -> None:
    defines = re.findall(r"^#define RELINK_(\w+) (\d+)u?\b", HEADER.read_text(), flags=re.M)
    assert len(defines) > 140
    for name, number in defines:
        assert getattr(_ffi, name) == int(number), name


# C types of the header → the ctypes types the binding may declare for them.
_C_TYPES = {
    "void": [None],
    "int": [ctypes.c_int],
    "double": [ctypes.c_double],
    "unsigned": [ctypes.c_uint],
    "uint16_t": [ctypes.c_uint16],
    "uint64_t": [ctypes.c_uint64],
    "int64_t": [ctypes.c_int64],
    "size_t": [ctypes.c_size_t],
    "char*": [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char)],
    "void*": [ctypes.c_void_p],
    "int*": [ctypes.POINTER(ctypes.c_int)],
    "uint64_t*": [ctypes.POINTER(ctypes.c_uint64)],
    "size_t*": [ctypes.POINTER(ctypes.c_size_t)],
    "relink_config*": [_ffi.relink_config_p],
    "relink_client*": [_ffi.relink_client_p],
    "relink_client**": [ctypes.POINTER(_ffi.relink_client_p)],
    "relink_event*": [ctypes.POINTER(_ffi.relink_event)],
    "relink_event**": [ctypes.POINTER(ctypes.POINTER(_ffi.relink_event))],
    "relink_status*": [ctypes.POINTER(_ffi.relink_status)],
    "relink_status**": [ctypes.POINTER(ctypes.POINTER(_ffi.relink_status))],
    "relink_attribute*": [ctypes.POINTER(_ffi.relink_attribute)],
    "relink_event_callback": [_ffi.relink_event_callback],
    "relink_log_callback": [_ffi.relink_log_callback],
    "relink_token_provider": [_ffi.relink_token_provider],
}


def _c_type(declaration: str, has_name: bool) -> str:
    """'const relink_client* client' → 'relink_client*' (the type without const and without the name)."""
    declaration = declaration.replace("const ", "").replace("*", " * ").split()
    words = declaration[:-1] if has_name else declaration
    return "".join(w for w in words)


def header_functions() -> Dict[str, Tuple[str, List[str]]]:
    functions = {}
    for result, name, parameters in re.findall(
        r"RELINK_API\s+([\w\s\*]+?)\s*\b(relink_\w+)\s*\(([^)]*)\)\s*;", header_text(), flags=re.S
    ):
        parameters = " ".join(parameters.split())
        types = [] if parameters == "void" else [_c_type(p.strip(), True) for p in parameters.split(",")]
        functions[name] = (_c_type(result, False), types)
    return functions


def test_every_function_of_the_header_is_declared_with_its_types() -> None:
    functions = header_functions()
    assert len(functions) > 50
    assert sorted(functions) == sorted(_ffi.FUNCTIONS)
    for name, (result, parameters) in functions.items():
        restype, argtypes = _ffi.FUNCTIONS[name]
        assert restype in _C_TYPES[result], f"{name} returns {result}"
        assert len(argtypes) == len(parameters), name
        for i, (c_type, declared) in enumerate(zip(parameters, argtypes)):
            assert declared in _C_TYPES[c_type], f"{name} parameter {i}: {c_type}"


NAME_FUNCTIONS = [
    (ConnectionState, "relink_state_name"),
    (ConnectionReason, "relink_reason_name"),
    (ChannelState, "relink_channel_state_name"),
    (ChannelReason, "relink_channel_reason_name"),
    (MemberLeftCause, "relink_member_left_cause_name"),
    (AttemptFailure, "relink_attempt_failure_name"),
    (Profile, "relink_profile_name"),
    (ErrorCode, "relink_error_name"),
]


@pytest.mark.parametrize("enum_class,function", NAME_FUNCTIONS, ids=[f for _, f in NAME_FUNCTIONS])
def test_enum_names_are_the_librarys(enum_class: type, function: str) -> None:
    name_of = getattr(_ffi.lib(), function)
    for member in enum_class:
        assert str(member) == name_of(int(member)).decode(), member
        assert enum_class.from_name(str(member)) is member


def test_error_conditions_are_the_librarys() -> None:
    lib = _ffi.lib()
    for code in list(range(0, 100)) + [-1, 1000]:
        assert relink.errors.condition_of(code) == lib.relink_error_condition(code), code
    assert isinstance(relink.error_from_code(1), relink.MisuseError)
    assert isinstance(relink.error_from_code(20), relink.TransientError)
    assert isinstance(relink.error_from_code(40), relink.FatalError)
    assert isinstance(relink.error_from_code(60), relink.CancelledError)
    assert isinstance(relink.error_from_code(99), relink.InternalError)
    error = relink.error_from_code(relink.ErrorCode.PEER_OFFLINE)
    assert error.code is relink.ErrorCode.PEER_OFFLINE and error.name == "PEER_OFFLINE"
    assert relink.error_from_code(1234).name == "UNKNOWN"


def test_library_versions() -> None:
    assert relink.abi_version() == _ffi.ABI_VERSION == 1
    assert re.fullmatch(r"\d+\.\d+\.\d+", relink.version())
    assert relink.is_valid_channel_name("room 1") and not relink.is_valid_channel_name("a/b")
    assert relink.is_valid_user_id("alice") and not relink.is_valid_user_id(" alice")


def test_a_library_that_cannot_be_loaded_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(relink.LibraryError, match="RELINK_LIBRARY"):
        _ffi.load(str(tmp_path / "no-such-librelink.so"))
